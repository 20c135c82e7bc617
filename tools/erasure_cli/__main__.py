"""`python -m tools.erasure_cli submit|status|watch ...` (see tools/erasure_cli/cli.py)."""

import sys

from tools.erasure_cli.cli import main

if __name__ == "__main__":
    sys.exit(main())
