"""The whole relay on this machine: no AWS account, no Docker.

Starts the vendor sandbox (all four vendors), moto with the template's queues, table and secrets,
the template's API routes and SQS mappings (tools.sam_local), and tells one story: Jane asks to
be forgotten by her email alone, and is erased at all four vendors, which hold her each in its own
way (Dfinery through the external id Braze and CleverTap know: enrichment).

First a dry run of it: each vendor's lookup finds what it would erase, and nothing is deleted.
Then the requests of events/requests/deletion.json through the signed API (Jane by email with enrichment,
Ana's old identifiers); it waits until every vendor has answered and verified (checks a few
seconds apart, not the vendors' minutes and days), prints the receipts as tables, what the
vendors' lookups learned, each vendor's verification, and the sandbox's people before and after.
Then an address two people share (Braze: ambiguous, nothing erased), and a vendor that says
"success" and keeps the person (the sandbox's `keep` fault at Insider): it ends still_present, and
the metric behind StillPresentAlarm counts it. Then it stops everything.

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
DELETION = ROOT / "events" / "requests" / "deletion.json"
REGION = "us-east-1"
JANE_EMAIL = "jane@example.com"
# Jane as the vendors really hold her, and she asks by her email alone (events/requests/deletion.json).
# Braze: her identified profile and an anonymous lead with her email; CleverTap: her profile by
# identity, with her email; Insider: email, phone and uuid; Dfinery: only her external id.
JANE_SEED: dict[str, Any] = {
    "braze": {
        "users": [
            {"primary": "jane-2024", "braze_id": "bz-jane", "email": JANE_EMAIL, "phone": "+6591234567"},
            {"braze_id": "bz-jane-lead", "email": JANE_EMAIL},
        ]
    },
    "clevertap": {"profiles": [{"identity": "jane-2024", "guid": "ct-guid-jane", "email": JANE_EMAIL}]},
    "insider": {"users": [{"email": JANE_EMAIL, "phone_number": "+6591234567", "uuid": "jane-uuid-1"}]},
    "dfinery": {"profiles": ["jane-2024"]},
}
JANE_DRY_RUN = {
    "request_id": "demo-jane-dry-run",
    "dry_run": True,
    "enrich": True,
    "identity": {"email": JANE_EMAIL},
}
# The Parks share a family address at Braze: two identified profiles, two people.
PARKS_SEED = {
    "braze": {
        "users": [
            {"primary": "park-1", "braze_id": "bz-park-1", "email": "parks@example.com"},
            {"primary": "park-2", "braze_id": "bz-park-2", "email": "parks@example.com"},
        ]
    }
}
PARKS_REQUEST = {
    "request_id": "demo-parks-shared-address",
    "vendors": ["braze"],
    "identity": {"email": "parks@example.com"},
}
# Kim, whom Insider keeps after answering her erasure with its "success".
KIM = {"external_id": "kim-77", "email": "kim@example.com"}
KIM_REQUEST = {"request_id": "demo-kim-profile", "identity": {"email": "kim@example.com"}}
LOCAL_ENV_VARS = ROOT / "events" / "env.local.json"


def values_in(seed: Any) -> set[str]:
    """Every identifier value in a seed (or any part of one)."""
    if isinstance(seed, str):
        return {seed}
    children = seed.values() if isinstance(seed, dict) else seed if isinstance(seed, list) else []
    return set().union(*(values_in(child) for child in children))


JANE_VALUES = frozenset(values_in(JANE_SEED))


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


def submit(api: str, body: dict[str, Any], named: str, timeout: float) -> dict[str, dict[str, Any]]:
    """POST one request or a bulk ({"requests": [...]}), and its receipts once final (or the last
    ones at the timeout), printed as the operator CLI's tables."""
    status, answer = signed("POST", f"{api}/v1/deletions", body)
    print(f"POST /v1/deletions ({named}) -> {status}")
    results = answer.get("results", [answer]) if isinstance(answer, dict) else []
    for result in results:
        vendors = ", ".join(result.get("vendors") or []) or "no vendor"
        print(f"  {result.get('request_id')}: sent to {vendors}")
    request_ids = [r["request_id"] for r in body.get("requests", [body])]
    started = time.monotonic()
    receipts = wait_for_receipts(api, request_ids, timeout)
    print(f"\nreceipts (GET /v1/deletions/<id>) after {time.monotonic() - started:.1f} s:\n")
    console = receipt_console()
    for receipt in receipts.values():  # one column per meaning; then what lookups learned
        console.print(receipt_view(receipt), "")
    return receipts


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


def holding(sandbox: VendorSandbox, values: frozenset[str]) -> list[str]:
    """The vendors that still hold any of these values."""
    return [vendor for vendor in sandbox.state() if sandbox.held(vendor) & values]


def curl_examples(api: str) -> str:
    json_header = "-H 'Content-Type: application/json'"
    keys = f"{LOCAL_CALLER.access_key}:{LOCAL_CALLER.secret_key}"
    sign = f'--aws-sigv4 "aws:amz:{REGION}:execute-api" --user "{keys}"'
    body = json.dumps({"action": "delete_profile", "identity": {"external_id": "u1"}})
    return "\n".join(
        [
            f"  curl -s {sign} {json_header} -d '{body}' {api}/v1/deletions",
            f"  curl -s {sign} {api}/v1/deletions/<request_id>",
            f"  curl -s {sign} {json_header} -d @events/requests/deletion.json {api}/v1/deletions",
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
        for seed in (seed_of(DEFAULT_PEOPLE), JANE_SEED, PARKS_SEED, seed_of([KIM])):
            sandbox.seed(seed)
        env_vars = local_env_vars(sandbox.url)
        template = ROOT / "template.yaml"
        with LocalRuntime(template, env_vars=env_vars, secrets=sandbox_secrets, logs=logs) as runtime:
            api = runtime.serve_api(api_port)
            runtime.start_event_sources()
            print(f"vendor sandbox {sandbox.url} · local AWS (moto) {runtime.endpoint_url} · API {api}")
            print(f"function logs: {args.logs}\n")
            rehearsed = dry_run(api, sandbox, args.timeout)
            erased = erasure(api, sandbox, args.timeout)
            spared = shared_address(api, sandbox, args.timeout)
            kept = kept_by_insider(api, sandbox, Path(args.logs), args.timeout)
            if args.serve:
                serve(api)
    return 0 if rehearsed and erased and spared and kept else 1


def dry_run(api: str, sandbox: VendorSandbox, timeout: float) -> bool:
    """Jane's erasure by email, rehearsed: each vendor's lookup says what it would erase (Dfinery,
    which has none, what it would be sent), and nothing is deleted."""
    print("a dry run first: what would Jane's erasure by her email alone erase, with enrichment?")
    receipts = submit(api, JANE_DRY_RUN, "Jane by her email, dry_run and enrich", timeout)
    calls = sandbox.calls()  # the dry run's own: nothing else has been asked yet
    deletions = len([c for c in calls if not c["lookup"]])
    print(f"the sandbox's calls in the dry run: {len(calls) - deletions} lookups, {deletions} deletions")
    held = holding(sandbox, JANE_VALUES)
    print(f"Jane held after the dry run by: {', '.join(held) or 'no vendor'}\n")
    receipt = receipts.get(JANE_DRY_RUN["request_id"], {})
    return receipt.get("final") is True and deletions == 0 and set(held) == set(JANE_SEED)


def erasure(api: str, sandbox: VendorSandbox, timeout: float) -> bool:
    """events/requests/deletion.json: Jane by her email alone, with enrichment, and Ana's old identifiers."""
    print("then the erasure itself, with Ana's old identifiers")
    before = sandbox.state()
    deletion = json.loads(DELETION.read_text())
    receipts = submit(api, deletion, "events/requests/deletion.json", timeout)
    print("verification: what each vendor's read API showed after its deletion\n" + checked(receipts))
    print("\nthe vendors' people before:\n" + people(before))
    print("\nand after:\n" + people(sandbox.state()))
    held = holding(sandbox, JANE_VALUES)
    print(f"\nJane (any of her {len(JANE_VALUES)} values) held after by: {', '.join(held) or 'no vendor'}")
    final = all(r["final"] and r["verification"] != "still_present" for r in receipts.values())
    erased = final and len(receipts) == len(deletion["requests"]) and not held
    verdict = "every deletion final, and verified where a vendor can tell"
    print(verdict if erased else "NOT every deletion final and verified")
    return erased


def shared_address(api: str, sandbox: VendorSandbox, timeout: float) -> bool:
    """An email two people share at Braze: no one is erased by it, and the receipt says why."""
    print("\nan address two people share: the Parks' at Braze, asked by the address alone")
    receipts = submit(api, PARKS_REQUEST, "the Parks' address, at Braze", timeout)
    receipt = receipts.get(PARKS_REQUEST["request_id"], {})
    outcomes = [o["outcome"] for items in receipt.get("vendors", {}).values() for o in items]
    spared = values_in(PARKS_SEED) <= sandbox.held("braze")
    print(f"the Parks still held at Braze: {'both' if spared else 'NOT both'}")
    return receipt.get("final") is True and outcomes == ["ambiguous"] and spared


def kept_by_insider(api: str, sandbox: VendorSandbox, logs: Path, timeout: float) -> bool:
    """Insider answers Kim's erasure with its "success" and keeps her: still_present, alarmed."""
    print('\na vendor that answers "success" and keeps the person: Insider, for Kim (fault `keep`)')
    sandbox.inject_fault("insider", "keep", count=None, route="delete")
    signed("POST", f"{api}/v1/deletions", KIM_REQUEST)
    kim = wait_for_receipts(api, [KIM_REQUEST["request_id"]], timeout)
    print(checked(kim))
    alarmed = logs.read_text().count('"verification_still_present":[1.0]')
    print(f"the metric StillPresentAlarm watches (verification_still_present) logged: {alarmed}")
    return all(r["verification"] == "still_present" for r in kim.values()) and alarmed == 1


def serve(api: str) -> None:
    print(f"\nthe stack keeps running; try (curl 7.75+ signs requests):\n{curl_examples(api)}")
    print("Ctrl-C stops it.")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()


if __name__ == "__main__":
    sys.exit(main())
