"""``python -m skelnb train|evaluate|fuse ...`` (see :mod:`skelnb.cli`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
