"""`python -m kustodian`."""

from kustodian.cli import main

if __name__ == "__main__":
    main()
