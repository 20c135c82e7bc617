"""The list of requests (GET /v1/deletions): read from the RequestsByCreation index, newest
first, a page at a time behind an opaque token; what it shows of each request holds no
identifier, not even a hash. A filter on a vendor's outcome reads that request's outcome items
(a query by its key), never a scan."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from erasure.errors import FieldError, InvalidRequest
from erasure.ledger.table import (
    LIST_INDEX,
    LISTED,
    LISTED_REQUEST,
    OUTCOME_PREFIX,
    LedgerTable,
    decode,
    encode,
)

MAX_LIMIT, DEFAULT_LIMIT = 100, 50
MAX_PAGES_READ = 10  # index pages one call reads at most; then it answers with a token to go on


@dataclass(frozen=True)
class ListFilter:
    status: str | None = None
    verification: str | None = None
    final: bool | None = None
    due_before: str | None = None  # ISO UTC: due at or before
    created_after: str | None = None
    created_before: str | None = None
    vendor: str | None = None
    outcome: str | None = None  # with `vendor`: that vendor answered some identifier so


@dataclass(frozen=True)
class RequestPage:
    requests: list[dict[str, Any]]
    next_token: str | None


class RequestList:
    def __init__(self, table: LedgerTable):
        self.table = table

    def page(self, wanted: ListFilter, limit: int = DEFAULT_LIMIT, token: str | None = None) -> RequestPage:
        """Up to `limit` summaries matching `wanted`, and a token for the rest (None: no more)."""
        query = self._query(wanted)
        start: dict[str, Any] | None = _key_of_token(token) if token else None
        found: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES_READ):
            answer = self.table.db.query(**query, **({"ExclusiveStartKey": start} if start else {}))
            for item in (decode(i) for i in answer.get("Items", [])):
                if _outcome_matches(self, item, wanted):
                    found.append(item)
                if len(found) == limit:
                    return RequestPage([_summary(i) for i in found], _token_of(item))
            start = answer.get("LastEvaluatedKey")
            if not start:
                return RequestPage([_summary(i) for i in found], None)
        # Read as much as one call may: the rest from where it stopped.
        return RequestPage([_summary(i) for i in found], _token_of(decode(start)) if start else None)

    def outcomes_of(self, request_id: str, vendor: str) -> set[str]:
        items = self.table.query(
            KeyConditionExpression="request_id = :r AND begins_with(#item, :prefix)",
            ExpressionAttributeNames={"#item": "item"},
            ExpressionAttributeValues=encode({":r": request_id, ":prefix": f"{OUTCOME_PREFIX}{vendor}#"}),
            ProjectionExpression="outcome",
        )
        return {str(i.get("outcome")) for i in items}

    def _query(self, wanted: ListFilter) -> dict[str, Any]:
        key = "#listed = :listed"
        values: dict[str, Any] = {":listed": LISTED_REQUEST}
        if wanted.created_after:
            key += (
                " AND #created >= :after"
                if not wanted.created_before
                else " AND #created BETWEEN :after AND :before"
            )
            values[":after"] = wanted.created_after
        if wanted.created_before:
            key += "" if wanted.created_after else " AND #created <= :before"
            values[":before"] = wanted.created_before
        filters = []
        for name, value in (("state_status", wanted.status), ("state_verification", wanted.verification)):
            if value is not None:
                # Not published yet: pending, as the receipt would say.
                unpublished = f" OR attribute_not_exists({name})" if value == "pending" else ""
                filters.append(f"({name} = :{name}{unpublished})")
                values[f":{name}"] = value
        if wanted.final is not None:
            filters.append(
                "state_final = :final"
                if wanted.final
                else "(state_final = :final OR attribute_not_exists(state_final))"
            )
            values[":final"] = wanted.final
        if wanted.due_before is not None:
            filters.append("due_by <= :due_before")
            values[":due_before"] = wanted.due_before
        query: dict[str, Any] = {
            "TableName": self.table.name,
            "IndexName": LIST_INDEX,
            "KeyConditionExpression": key,
            "ExpressionAttributeNames": {
                "#listed": LISTED,
                **({"#created": "created_at"} if "#created" in key else {}),
            },
            "ExpressionAttributeValues": encode(values),
            "ScanIndexForward": False,  # newest first
            "Limit": MAX_LIMIT,
        }
        if filters:
            query["FilterExpression"] = " AND ".join(filters)
        return query


def _outcome_matches(listing: RequestList, item: dict[str, Any], wanted: ListFilter) -> bool:
    if wanted.vendor is None:
        return True
    outcomes = listing.outcomes_of(item["request_id"], wanted.vendor)
    return bool(outcomes) and (wanted.outcome is None or wanted.outcome in outcomes)


def _summary(item: dict[str, Any]) -> dict[str, Any]:
    """What a list shows of a request: its state as last published, never an identifier."""
    rejected = item.get("status") == "rejected"
    return {
        "request_id": item["request_id"],
        "created_at": item.get("created_at"),
        "action": item.get("action"),
        "due_by": item.get("due_by"),
        "status": "rejected" if rejected else item.get("state_status") or "pending",
        "verification": item.get("state_verification") or "pending",
        "final": bool(item.get("state_final")) or rejected,
        "vendors": list(item.get("vendors_targeted") or []),
        "dry_run": bool(item.get("dry_run")),
        "cancelled_at": item.get("cancelled_at"),
    }


def _token_of(item: dict[str, Any]) -> str:
    key = {name: item[name] for name in ("request_id", "item", LISTED, "created_at")}
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def _key_of_token(token: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(key, dict) or set(key) != {"request_id", "item", LISTED, "created_at"}:
            raise ValueError
        if not all(isinstance(v, str) for v in key.values()):
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest([FieldError("next_token", "is not a token this list gave")]) from None
    return encode(key)
