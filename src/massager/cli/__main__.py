"""`python -m massager.cli`."""

from massager._main import main

main()
