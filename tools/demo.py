"""The whole relay on this machine: no AWS account, no Docker.

Starts the vendor sandbox (all four vendors), moto with the template's queues, table and secrets,
the template's API routes and SQS mappings (tools.sam_local); submits the sample deletion from
events/deletion.json through the signed API, waits until every vendor has answered and verified
(checks a few seconds apart, not the vendors' minutes and days), prints the receipts as tables,
each vendor's verification, and the sandbox's people before and after. Then a vendor that says
"success" and keeps the person (the sandbox's `keep` fault at Insider): it ends still_present,
and the metric behind StillPresentAlarm counts it. Then it stops everything.

    python -m tools.demo            # run once (exit 1 unless every request ends as it should)
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
from tools.erasure_cli.receipts import is_final, receipt_console, receipt_view
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
# Kim, whom Insider keeps after answering her erasure with its "success".
KIM = {"external_id": "kim-77", "email": "kim@example.com"}
KIM_REQUEST = {"request_id": "demo-kim-profile", "identity": {"email": "kim@example.com"}}
LOCAL_ENV_VARS = ROOT / "events" / "env.local.json"


def local_env_vars(sandbox_url: str) -> dict[str, Any]:
    """events/env.local.json (one ledger writer, verification seconds after each deletion instead
    of the vendors' minutes and days), pointed at this sandbox."""
    env_vars = json.loads(LOCAL_ENV_VARS.read_text())
    env_vars["Parameters"][SANDBOX_URL_VARIABLE] = sandbox_url
    return env_vars


def signed(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """A SigV4-signed call to the relay API, as an AWS_IAM caller makes it."""
    data = json.dumps(body) if body is not None else None
    request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(LOCAL_CALLER, "execute-api", REGION).add_auth(request)
    response = urllib3.request(method, url, body=data, headers=dict(request.headers), timeout=30)
    return response.status, json.loads(response.data or b"null")


def wait_for_receipts(api: str, request_ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    receipts: dict[str, dict[str, Any]] = {}
    while True:
        for request_id in request_ids:
            status, receipt = signed("GET", f"{api}/v1/deletions/{request_id}")
            if status == 200:  # anything else: keep the last receipt and ask again
                receipts[request_id] = receipt
        done = len(receipts) == len(request_ids) and all(is_final(r) for r in receipts.values())
        if done or time.monotonic() > deadline:
            return receipts
        time.sleep(0.5)


def checked(receipts: dict[str, dict[str, Any]]) -> str:
    """One line per vendor and identifier a vendor acted on: its outcome and its verification."""
    lines = []
    for request_id, receipt in receipts.items():
        for vendor, outcomes in receipt["vendors"].items():
            for o in outcomes:
                if o["verification"]:
                    reason = f"  ({o['verification_reason']})" if o["verification_reason"] else ""
                    row = f"{request_id:<26} {vendor:<10} {o['identifier']:<12} {o['outcome']:<15}"
                    lines.append(f"  {row} {o['verification']}{reason}")
    return "\n".join(lines)


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
        sandbox.seed(seed_of([*DEFAULT_PEOPLE, JANE, KIM]))
        env_vars = local_env_vars(sandbox.url)
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
            print("verification: what each vendor's read API showed after its deletion\n" + checked(receipts))
            print("\nthe vendors' people before:\n" + people(before))
            print("\nand after:\n" + people(sandbox.state()))
            erased = all(r["final"] and r["verification"] != "still_present" for r in receipts.values())
            verdict = "every deletion final, and verified where a vendor can tell"
            print(f"\n{verdict if erased else 'NOT every deletion final and verified'}")

            print('\na vendor that answers "success" and keeps the person: Insider, for Kim (fault `keep`)')
            sandbox.inject_fault("insider", "keep", count=None, route="delete")
            signed("POST", f"{api}/v1/deletions", KIM_REQUEST)
            kim = wait_for_receipts(api, [KIM_REQUEST["request_id"]], args.timeout)
            print(checked(kim))
            alarmed = Path(args.logs).read_text().count('"verification_still_present":[1.0]')
            print(f"the metric StillPresentAlarm watches (verification_still_present) logged: {alarmed}")
            kept = all(r["verification"] == "still_present" for r in kim.values()) and alarmed == 1

            if args.serve:
                print(f"\nthe stack keeps running; try (curl 7.75+ signs requests):\n{curl_examples(api)}")
                print("Ctrl-C stops it.")
                stop = threading.Event()
                signal.signal(signal.SIGTERM, lambda *_: stop.set())
                with contextlib.suppress(KeyboardInterrupt):
                    stop.wait()
    return 0 if erased and kept else 1


if __name__ == "__main__":
    sys.exit(main())
