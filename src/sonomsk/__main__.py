"""``python -m sonomsk``: the command line without relying on the console script being on PATH."""

from sonomsk.cli.main import console_main

if __name__ == "__main__":
    console_main()
