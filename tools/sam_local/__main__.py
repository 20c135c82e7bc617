"""`python -m tools.sam_local invoke|start ...` (see tools/sam_local/cli.py)."""

import sys

from tools.sam_local.cli import main

if __name__ == "__main__":
    sys.exit(main())
