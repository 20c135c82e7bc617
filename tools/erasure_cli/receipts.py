"""status and watch: a request's receipt (GET /v1/deletions/{id}) as a table, or as its JSON.

A receipt (erasure/receipt.py) has the overall status and verification, whether it is
final, its statutory due_by, and per targeted vendor one outcome per identifier (its type and
keyed hash, never its value) with its verification, the pairs still awaited, the vendors skipped
with why, and the field errors of a rejected request.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from erasure.outcomes import RETRYABLE, SUCCESSES, Outcome, Verification
from tools.erasure_cli.client import ApiClient, unexpected

ID_HASH_SHOWN = 12  # characters of the keyed hash: enough to tell identifiers apart on screen


def receipt_console() -> Console:
    """A terminal's own width; piped or in CI (rich would assume 80), wide enough that a receipt's
    rows stay one line each."""
    return Console() if sys.stdout.isatty() else Console(width=200)


def fetch_receipt(client: ApiClient, request_id: str) -> dict[str, Any]:
    answer = client.receipt(request_id)
    if answer.status != 200 or not isinstance(answer.body, dict):
        raise unexpected(answer)
    return answer.body


def is_final(receipt: dict[str, Any]) -> bool:
    """Nothing more will happen: every outcome final and every verification made (the relay says so)."""
    return receipt.get("final") is True


def print_receipt(console: Console, receipt: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(receipt, indent=2))
    else:
        console.print(receipt_view(receipt))


def watch(
    client: ApiClient, console: Console, request_id: str, interval_s: float, timeout_s: float
) -> dict[str, Any]:
    """The receipt once final, or the last one at the timeout. A terminal sees its table redrawn at
    every poll (then cleared: the caller prints what it returns); anything else, nothing meanwhile."""
    deadline = time.monotonic() + timeout_s
    receipt = fetch_receipt(client, request_id)
    with Live(receipt_view(receipt), console=console, auto_refresh=False, transient=True) as live:
        while not is_final(receipt) and time.monotonic() + interval_s <= deadline:
            time.sleep(interval_s)
            receipt = fetch_receipt(client, request_id)
            live.update(receipt_view(receipt), refresh=True)
    return receipt


def receipt_view(receipt: dict[str, Any]) -> Group:
    title = Text.assemble(
        (str(receipt.get("request_id")), "bold"),
        "  ",
        (str(receipt.get("status")), _status_style(receipt)),
        "  verification ",
        (str(receipt.get("verification")), _verification_style(receipt.get("verification"))),
        f"  {receipt.get('action') or ''}, created {receipt.get('created_at') or '-'},"
        f" due by {receipt.get('due_by') or '-'}",
        ("  DRY RUN: nothing deleted" if receipt.get("dry_run") else "", "bold cyan"),
        ("  enriched" if receipt.get("enrich") else "", "cyan"),
        (f"  cancelled at {receipt['cancelled_at']}" if receipt.get("cancelled_at") else "", "bold yellow"),
    )
    table = Table(
        "vendor",
        "identifier",
        "id hash",
        "outcome",
        "reason",
        "HTTP",
        "tries",
        "completed",
        "verification",
        "checked",
        box=None,
    )
    for vendor, outcomes in receipt.get("vendors", {}).items():
        for o in outcomes:
            verification = o.get("verification")
            found_by = f" via {o['resolved_from'][:ID_HASH_SHOWN]}" if o.get("resolved_from") else ""
            table.add_row(
                vendor,
                Text.assemble(str(o.get("identifier")), (found_by, "dim")),
                str(o.get("id_hash") or "")[:ID_HASH_SHOWN],
                Text(str(o.get("outcome")), _outcome_style(o.get("outcome"))),
                Text(o.get("reason") or ""),
                str(o.get("http_status") or "-"),
                str(o.get("attempts", 0)),
                o.get("completed_at") or "-",
                Text.assemble(
                    (verification or "-", _verification_style(verification)),
                    f": {o['verification_reason']}" if o.get("verification_reason") else "",
                ),
                o.get("checked_at") or "-",
            )
    for pair in receipt.get("awaiting", []):
        identifier, id_hash = str(pair.get("identifier")), str(pair.get("id_hash"))[:ID_HASH_SHOWN]
        table.add_row(
            pair.get("vendor"),
            Text(identifier),
            id_hash,
            Text("awaiting", "yellow"),
            "",
            "-",
            "0",
            "-",
            "-",
            "-",
        )
    for vendor, reason in receipt.get("skipped", {}).items():
        table.add_row(vendor, "-", "-", Text("skipped", "dim"), Text(str(reason)), "-", "0", "-", "-", "-")
    parts: list[Any] = [title, table]
    for entry in receipt.get("learned", []):
        parts.append(Text(_learned_line(entry), "cyan"))
    for error in receipt.get("errors", []):
        parts.append(Text(f"rejected: {error.get('field')}: {error.get('reason')}", "red"))
    return Group(*parts)


def _learned_line(entry: dict[str, Any]) -> str:
    """One identifier a vendor's lookup tied to the person: where from, and where it went."""
    sent = ", ".join(entry.get("sent_to") or []) or "no other vendor (its own id)"
    return (
        f"learned: {entry.get('identifier')} {str(entry.get('id_hash'))[:ID_HASH_SHOWN]} from "
        f"{entry.get('learned_from')} (via {entry.get('via')} {str(entry.get('via_hash'))[:ID_HASH_SHOWN]}),"
        f" sent to {sent}"
    )


def _outcome_style(outcome: Any) -> str:
    if outcome == Outcome.SKIPPED:
        return "dim"
    if outcome in SUCCESSES:
        return "green"
    return "yellow" if outcome in RETRYABLE else "red"


def _verification_style(verification: Any) -> str:
    if verification in (Verification.VERIFIED_ABSENT, "verified"):
        return "green"
    if verification in (Verification.STILL_PRESENT,):
        return "bold red"
    return "yellow" if verification in (Verification.PENDING,) else "dim"


def _status_style(receipt: dict[str, Any]) -> str:
    status = receipt.get("status")
    return {"completed": "green", "failed": "red", "rejected": "red"}.get(status, "yellow")
