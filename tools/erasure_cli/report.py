"""`report --from --to`: a period's requests as an auditor asks about them. How many, how many
final within their statutory deadline, the time to final per vendor, what is still present,
refused or ambiguous and why. Written as a CSV (one row a request) and a self-contained HTML page
with charts (tools/erasure_cli/report_html.py). Identifiers appear only as keyed hashes."""

from __future__ import annotations

import csv
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tools.erasure_cli.client import ApiClient
from tools.erasure_cli.listing import listed
from tools.erasure_cli.receipts import fetch_receipt

PROBLEMS = ("refused", "ambiguous", "cancelled")  # outcomes a vendor may still hold the person after
CSV_COLUMNS = (
    "request_id",
    "created_at",
    "due_by",
    "status",
    "verification",
    "final",
    "final_at",
    "within_deadline",
    "days_to_final",
    "vendors",
)


@dataclass
class Period:
    start: str
    end: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    days_by_vendor: dict[str, list[float]] = field(default_factory=dict)
    outcomes_by_vendor: dict[str, Counter] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        return {
            "requests": len(self.rows),
            "final": sum(r["final"] for r in self.rows),
            "within_deadline": sum(r["within_deadline"] is True for r in self.rows),
            "still_present": sum(p["finding"] == "still_present" for p in self.problems),
            "refused_or_ambiguous": sum(p["finding"] in ("refused", "ambiguous") for p in self.problems),
        }

    def vendor_days(self) -> dict[str, tuple[float, float, float]]:
        """(median, p90, slowest) days to final per vendor."""
        return {
            vendor: (statistics.median(days), _p90(days), max(days))
            for vendor, days in sorted(self.days_by_vendor.items())
            if days
        }


def collect(client: ApiClient, start: str, end: str) -> Period:
    period = Period(start, end)
    for summary in listed(client, {"created_after": start, "created_before": end}):
        receipt = fetch_receipt(client, summary["request_id"])
        _add(period, receipt)
    period.rows.sort(key=lambda r: r["created_at"] or "")
    return period


def _add(period: Period, receipt: dict[str, Any]) -> None:
    created = _moment(receipt.get("created_at"))
    finished: list[datetime] = []
    for vendor, outcomes in (receipt.get("vendors") or {}).items():
        counts = period.outcomes_by_vendor.setdefault(vendor, Counter())
        ends = []
        for o in outcomes:
            counts[o["outcome"]] += 1
            end = _moment(o.get("checked_at") or o.get("completed_at"))
            ends.append(end)
            finding = "still_present" if o.get("verification") == "still_present" else o["outcome"]
            if finding in (*PROBLEMS, "still_present"):
                period.problems.append(_problem(receipt, vendor, o, finding))
        done = [e for e in ends if e]
        if created and done and receipt.get("final"):
            finished.append(max(done))
            period.days_by_vendor.setdefault(vendor, []).append(_days(created, max(done)))
    final_at = max(finished) if finished and receipt.get("final") else None
    due = _moment(receipt.get("due_by"))
    period.rows.append(
        {
            "request_id": receipt["request_id"],
            "created_at": receipt.get("created_at"),
            "due_by": receipt.get("due_by"),
            "status": receipt.get("status"),
            "verification": receipt.get("verification"),
            "final": bool(receipt.get("final")),
            "final_at": final_at.isoformat() if final_at else "",
            "within_deadline": final_at <= due if final_at and due else "",
            "days_to_final": round(_days(created, final_at), 2) if created and final_at else "",
            "vendors": ";".join(receipt.get("vendors") or {}),
        }
    )


def _problem(receipt: dict[str, Any], vendor: str, outcome: dict[str, Any], finding: str) -> dict[str, str]:
    reason = outcome.get("verification_reason") if finding == "still_present" else outcome.get("reason")
    return {
        "request_id": receipt["request_id"],
        "vendor": vendor,
        "identifier": str(outcome.get("identifier")),
        "id_hash": str(outcome.get("id_hash") or "")[:12],
        "finding": finding,
        "reason": str(reason or ""),
    }


def write_csv(period: Period, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(period.rows)


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _days(start: datetime | None, end: datetime | None) -> float:
    return (end - start).total_seconds() / 86400 if start and end else 0.0


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
