"""`python -m massager`."""

from massager.cli import main

main()
