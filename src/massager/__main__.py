"""`python -m massager`."""

from massager._main import main

main()
