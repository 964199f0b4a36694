"""`python -m massager.cli`."""

from massager.cli import main

main()
