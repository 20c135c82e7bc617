"""The whole relay on this machine: no AWS account, no Docker.

Starts the vendor sandbox (all four vendors), moto with the template's queues, table and secrets,
the template's API routes and SQS mappings (tools.sam_local); submits the sample deletion from
events/deletion.json through the signed API, waits for every vendor, prints the receipt as a table
and the sandbox's people before and after, then stops everything.

    python -m tools.demo            # run once (exit 1 unless every deletion completed)
    python -m tools.demo --serve    # then keep the stack running for curl, until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from erasure.config import SANDBOX_URL_VARIABLE
from tools.erasure_cli.receipts import receipt_console, receipt_view
from tools.local_secrets import sandbox_secrets
from tools.ports import PortInUse
from tools.sam_local import LocalRuntime
from tools.sam_local.sigv4 import LOCAL_CALLER
from tools.vendor_sandbox import DEFAULT_PEOPLE, VendorSandbox, seed_of

ROOT = Path(__file__).resolve().parent.parent
DELETION = ROOT / "events" / "deletion.json"
REGION = "us-east-1"
# Jane, the person events/deletion.json erases; every vendor holds her in its own way.
JANE = {
    "external_id": "jane-2024",
    "deprecated_external_ids": ["jane-legacy-7"],
    "guid": "ct-guid-jane",
    "email": "jane@example.com",
    "phone_number": "+6591234567",
    "uuid": "jane-uuid-1",
}
FINAL_STATUSES = {"completed", "failed", "rejected"}


def signed(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """A SigV4-signed call to the relay API, as an AWS_IAM caller makes it."""
    data = json.dumps(body) if body is not None else None
    request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(LOCAL_CALLER, "execute-api", REGION).add_auth(request)
    response = urllib3.request(method, url, body=data, headers=dict(request.headers), timeout=30)
    return response.status, json.loads(response.data or b"null")


def settled(receipt: dict[str, Any]) -> bool:
    """Every targeted vendor has answered for every identifier, and nothing waits for a retry."""
    if receipt["status"] in FINAL_STATUSES:
        return True
    outcomes = [o for items in receipt["vendors"].values() for o in items]
    retrying = any(o["outcome"] in ("throttled", "transient", "unauthorized") for o in outcomes)
    return not receipt["awaiting"] and not retrying


def wait_for_receipts(api: str, request_ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    receipts: dict[str, dict[str, Any]] = {}
    while True:
        for request_id in request_ids:
            status, receipt = signed("GET", f"{api}/v1/deletions/{request_id}")
            if status == 200:  # anything else: keep the last receipt and ask again
                receipts[request_id] = receipt
        done = len(receipts) == len(request_ids) and all(settled(r) for r in receipts.values())
        if done or time.monotonic() > deadline:
            return receipts
        time.sleep(0.5)


def people(state: dict[str, Any]) -> str:
    lines = []
    for vendor, holdings in state.items():
        for kind, entries in holdings.items():
            for entry in entries:
                lines.append(f"  {vendor:<10} {kind:<9} {json.dumps(entry, sort_keys=True)}")
    return "\n".join(lines)


def curl_examples(api: str) -> str:
    json_header = "-H 'Content-Type: application/json'"
    keys = f"{LOCAL_CALLER.access_key}:{LOCAL_CALLER.secret_key}"
    sign = f'--aws-sigv4 "aws:amz:{REGION}:execute-api" --user "{keys}"'
    body = json.dumps({"action": "delete_profile", "identity": {"external_id": "u1"}})
    return "\n".join(
        [
            f"  curl -s {sign} {json_header} -d '{body}' {api}/v1/deletions",
            f"  curl -s {sign} {api}/v1/deletions/<request_id>",
            f"  curl -s {sign} {json_header} -d @events/deletion.json {api}/v1/deletions",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action="store_true", help="keep the stack running after the demo")
    parser.add_argument("--api-port", type=int, default=None, help="default: 3000 with --serve, else any")
    parser.add_argument("--sandbox-port", type=int, default=None, help="default: 8700 with --serve, else any")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for every vendor")
    parser.add_argument("--logs", default=".demo/functions.log", help="where the functions' logs go")
    args = parser.parse_args(argv)
    api_port = args.api_port if args.api_port is not None else (3000 if args.serve else 0)
    sandbox_port = args.sandbox_port if args.sandbox_port is not None else (8700 if args.serve else 0)
    Path(args.logs).parent.mkdir(parents=True, exist_ok=True)
    try:
        return demo(args, api_port, sandbox_port)
    except PortInUse as error:
        option = "--sandbox-port" if error.port == sandbox_port else "--api-port"
        print(f"demo: {error}: stop what holds it, or choose another with {option}", file=sys.stderr)
        return 2


def demo(args: argparse.Namespace, api_port: int, sandbox_port: int) -> int:
    with open(args.logs, "w") as logs, VendorSandbox(port=sandbox_port) as sandbox:
        sandbox.seed(seed_of([*DEFAULT_PEOPLE, JANE]))
        # moto, which plays DynamoDB here, is not thread-safe: one ledger transaction at a time.
        env_vars = {"Parameters": {SANDBOX_URL_VARIABLE: sandbox.url, "LEDGER_WRITERS": "1"}}
        template = ROOT / "template.yaml"
        with LocalRuntime(template, env_vars=env_vars, secrets=sandbox_secrets, logs=logs) as runtime:
            api = runtime.serve_api(api_port)
            runtime.start_event_sources()
            print(f"vendor sandbox {sandbox.url} · local AWS (moto) {runtime.endpoint_url} · API {api}")
            print(f"function logs: {args.logs}\n")
            before = sandbox.state()

            deletion = json.loads(DELETION.read_text())
            status, answer = signed("POST", f"{api}/v1/deletions", deletion)
            print(f"POST /v1/deletions (events/deletion.json) -> {status}")
            for result in answer["results"]:
                print(f"  {result['request_id']}: sent to {', '.join(result['vendors']) or 'no vendor'}")
            started = time.monotonic()
            receipts = wait_for_receipts(api, [r["request_id"] for r in answer["results"]], args.timeout)
            print(f"\nreceipts (GET /v1/deletions/<id>) after {time.monotonic() - started:.1f} s:\n")
            console = receipt_console()
            for receipt in receipts.values():  # the operator CLI's table: one column per meaning
                console.print(receipt_view(receipt), "")
            print("\nthe vendors' people before:\n" + people(before))
            print("\nand after:\n" + people(sandbox.state()))
            completed = all(r["status"] == "completed" for r in receipts.values())
            print(f"\n{'every deletion completed' if completed else 'NOT every deletion completed'}")

            if args.serve:
                print(f"\nthe stack keeps running; try (curl 7.75+ signs requests):\n{curl_examples(api)}")
                print("Ctrl-C stops it.")
                stop = threading.Event()
                signal.signal(signal.SIGTERM, lambda *_: stop.set())
                with contextlib.suppress(KeyboardInterrupt):
                    stop.wait()
    return 0 if completed else 1


if __name__ == "__main__":
    sys.exit(main())
