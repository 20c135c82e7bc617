"""Command line: ``python -m tools.vendor_sandbox --port 8700 [--seed FILE.json]``.

Prints its URL on the first line and serves (seeded with DEFAULT_SEED unless --seed is given)
until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from tools.ports import PortInUse
from tools.vendor_sandbox.server import DEFAULT_SEED, VendorSandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tools.vendor_sandbox",
        description="Local fake of the relay's vendors' deletion APIs (one module each in vendors/).",
    )
    parser.add_argument("--port", type=int, default=8700, help="0 picks a free port")
    parser.add_argument("--seed", type=Path, help="JSON seed file (default: DEFAULT_SEED)")
    args = parser.parse_args(argv)
    population = json.loads(args.seed.read_text()) if args.seed else DEFAULT_SEED

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        sandbox = VendorSandbox(port=args.port)
    except PortInUse as error:
        sys.exit(f"vendor sandbox: {error}: stop what holds it, or choose another with --port")
    with sandbox:
        sandbox.seed(population)
        print(sandbox.url, flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
