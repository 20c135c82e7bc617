"""`list`: the requests the API lists (GET /v1/deletions), newest first, as a table; and the
pages behind it, for `report`."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tools.erasure_cli.client import ApiClient, unexpected

FILTERS = ("status", "verification", "vendor", "outcome", "due_before", "created_after", "created_before")


def add_list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--status", help="pending, in_progress, completed, partially_completed, failed, cancelled, ..."
    )
    parser.add_argument("--verification", help="pending, verified, partially_verified, still_present, ...")
    parser.add_argument("--vendor", help="requests this vendor answered (with --outcome: answered so)")
    parser.add_argument("--outcome", help="with --vendor: deleted, accepted, refused, ambiguous, ...")
    parser.add_argument("--due-before", dest="due_before", metavar="DATE", help="due by this date or time")
    parser.add_argument("--from", dest="created_after", metavar="DATE", help="created from this date")
    parser.add_argument(
        "--to", dest="created_before", metavar="DATE", help="created up to this date (its end)"
    )
    state = parser.add_mutually_exclusive_group()
    state.add_argument(
        "--open", dest="final", action="store_false", default=None, help="only requests not final"
    )
    state.add_argument("--final", dest="final", action="store_true", help="only final requests")


def list_params(args: argparse.Namespace) -> dict[str, str]:
    params = {name: str(getattr(args, name)) for name in FILTERS if getattr(args, name, None)}
    if getattr(args, "final", None) is not None:
        params["final"] = "true" if args.final else "false"
    return params


def listed(client: ApiClient, params: dict[str, str], most: int | None = None) -> Iterator[dict[str, Any]]:
    """Every request the list answers (up to `most`), page after page."""
    token, count = None, 0
    while True:
        answer = client.list_requests({**params, "limit": "100", **({"next_token": token} if token else {})})
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise unexpected(answer)
        for summary in answer.body.get("requests", []):
            yield summary
            count += 1
            if most is not None and count >= most:
                return
        token = answer.body.get("next_token")
        if not token:
            return


def print_list(console: Console, summaries: list[dict[str, Any]]) -> None:
    table = Table("request_id", "created", "status", "verification", "final", "due by", "vendors", box=None)
    for s in summaries:
        final = Text("yes", "green") if s.get("final") else Text("no", "yellow")
        notes = " (dry run)" if s.get("dry_run") else ""
        notes += " (cancelled)" if s.get("cancelled_at") else ""
        table.add_row(
            Text(str(s["request_id"]) + notes),
            s.get("created_at") or "-",
            str(s.get("status")),
            str(s.get("verification")),
            final,
            s.get("due_by") or "-",
            ", ".join(s.get("vendors") or []),
        )
    console.print(table)
    console.print(Text(f"{len(summaries)} request(s)"))
