"""`python app.py`: serve the mgqa web chat, JSON API and widget (same as `mgqa serve`)."""

import sys

from mgqa.cli import main

if __name__ == "__main__":
    main(["serve", *sys.argv[1:]])
