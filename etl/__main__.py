"""Entry point for python -m etl."""

import sys

from etl.cli import main

# Guarded: a worker process the build spawns imports the main module again.
if __name__ == "__main__":
    sys.exit(main())
