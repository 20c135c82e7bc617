"""submit: people sent to POST /v1/deletions in bulks, with a progress bar and a summary.

The API answers a bulk per request, in order: 202 accepted (its vendors and skips), 400 refused
(every bad field named), 409 (its request_id already names a different request); the whole bulk
gets 503 when a vendor queue did not take some of it, which the same bulk, sent again, completes.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from erasure.request import MAX_BULK_REQUESTS
from tools.erasure_cli.client import Answer, ApiClient, OperatorError, unexpected
from tools.erasure_cli.people import Person

# Small enough for a steady progress bar and for each bulk to finish well within API Gateway's
# 29-second integration timeout.
DEFAULT_BULK_SIZE = 100
BUSY_STATUSES = (429, 503)  # the bulk may be sent again as it is: every request keeps its id
BUSY_TRIES = 3
DEFAULT_BUSY_WAIT_S = 5  # when the API names no wait
MAX_BUSY_WAIT_S = 60
# A summary lists every row up to this many, else only those not accepted.
LISTED_ROWS = 20
VERDICTS = {202: "accepted", 400: "refused", 409: "request_id taken", 503: "not yet sent"}


@dataclass(frozen=True)
class RowResult:
    person: Person
    status: int  # 202, 400, 409, or 503 when its bulk was not taken whole
    answer: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.person.line,
            "request_id": self.person.request_id,
            **self.answer,
            "status": self.status,
        }


class SubmitStopped(OperatorError):
    """An error after some bulks were answered: their answers are still the operator's to see."""

    def __init__(self, message: str, results: list[RowResult]) -> None:
        super().__init__(message)
        self.results = results


def submit_people(
    client: ApiClient, people: list[Person], bulk_size: int, progress_console: Console
) -> list[RowResult]:
    """Every person's answer, bulk after bulk; SubmitStopped, with the answers so far, on an error."""
    if not 1 <= bulk_size <= MAX_BULK_REQUESTS:
        raise OperatorError(f"--bulk-size must be 1 to {MAX_BULK_REQUESTS}")
    results: list[RowResult] = []
    columns = (TextColumn("submitting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # Drawn on a terminal only: a log or a pipe gets no bar, nor the blank line rich leaves there.
    bar_shown = progress_console.is_terminal
    with Progress(*columns, console=progress_console, transient=True, disable=not bar_shown) as progress:
        task = progress.add_task("submit", total=len(people))
        for start in range(0, len(people), bulk_size):
            bulk = people[start : start + bulk_size]
            try:
                results += _submit_bulk(client, bulk)
            except OperatorError as error:
                message = f"{error} (stopped after {len(results)} of {len(people)})"
                raise SubmitStopped(message, results) from None
            progress.advance(task, len(bulk))
    return results


def _submit_bulk(client: ApiClient, bulk: list[Person]) -> list[RowResult]:
    for attempt in range(1, BUSY_TRIES + 1):
        answer = client.submit([person.request for person in bulk])
        if answer.status not in BUSY_STATUSES or attempt == BUSY_TRIES:
            break
        wait = DEFAULT_BUSY_WAIT_S if answer.retry_after is None else answer.retry_after
        time.sleep(min(wait, MAX_BUSY_WAIT_S))
    if answer.status in (202, 207) and _is_bulk_answer(answer, len(bulk)):
        return [
            RowResult(p, item["status"], item) for p, item in zip(bulk, answer.body["results"], strict=True)
        ]
    if answer.status == 503:
        # Recorded, not all sent: each row is answered by sending it again under its request_id.
        message = answer.body.get("message", "") if isinstance(answer.body, dict) else ""
        return [RowResult(person, 503, {"message": message}) for person in bulk]
    raise unexpected(answer)


def _is_bulk_answer(answer: Answer, size: int) -> bool:
    results = answer.body.get("results") if isinstance(answer.body, dict) else None
    return isinstance(results, list) and len(results) == size


def print_results(console: Console, api_url: str, results: list[RowResult], as_json: bool) -> None:
    if as_json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        _print_summary(console, api_url, results)


def _print_summary(console: Console, api_url: str, results: list[RowResult]) -> None:
    counts = Counter(VERDICTS.get(r.status, str(r.status)) for r in results)
    tally = ", ".join(f"{count} {verdict}" for verdict, count in counts.most_common())
    console.print(Text(f"{len(results)} sent to {api_url}: {tally}"))
    listed = results if len(results) <= LISTED_ROWS else [r for r in results if r.status != 202]
    if listed:
        console.print(_results_table(listed))
    if len(listed) < len(results):
        console.print(Text(f"({len(results) - len(listed)} accepted not listed; --json lists every row)"))
    if counts["not yet sent"]:
        console.print(Text("Submit those again under the same request_ids: only what is missing is sent."))


def _results_table(results: list[RowResult]) -> Table:
    table = Table("line", "request_id", "answer", "detail", box=None, header_style="bold")
    for result in results:
        verdict = VERDICTS.get(result.status, str(result.status))
        style = "green" if result.status == 202 else "red"
        line = "-" if result.person.line is None else str(result.person.line)
        table.add_row(line, Text(str(result.person.request_id)), Text(verdict, style), Text(_detail(result)))
    return table


def _detail(result: RowResult) -> str:
    """What the API said about the row, with field names and reasons, never values."""
    answer = result.answer
    if result.status == 202:
        skipped = "; ".join(f"{vendor} skipped: {why}" for vendor, why in answer.get("skipped", {}).items())
        return (
            "to "
            + (", ".join(answer.get("vendors", [])) or "no vendor")
            + (f"; {skipped}" if skipped else "")
        )
    errors = answer.get("errors")
    if errors:
        return "; ".join(f"{e.get('field')}: {e.get('reason')}" for e in errors)
    return str(answer.get("message", ""))
