"""The deletion ledger (DynamoDB): what was asked, where it went, and per vendor and identifier
what happened and when. Identifiers are stored only as keyed hashes; items expire by TTL.

One table, partition key `request_id`, sort key `item`:
- `REQUEST`: the request (action, created time, vendors targeted and skipped, the first answer,
  the vendors whose queue has accepted it) or its rejection;
- `OUTCOME#<vendor>#<id_hash>`: one vendor's latest outcome for one identifier.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from erasure.observability import IdentifierHasher
from erasure.outcomes import RETRYABLE, IdentifierResult, Outcome, PriorOutcome, Verdict
from erasure.request import DeletionRequest, FieldError, Identifier, utc_timestamp

REQUEST_ITEM = "REQUEST"
OUTCOME_PREFIX = "OUTCOME#"


BATCH_GET_MAX = 100  # BatchGetItem's most keys a call
# Named through placeholders: `item` is one of DynamoDB's reserved words.
_PRIOR_FIELDS = ("request_id", "item", "outcome", "reason", "last_http_status", "attempts")


class ConflictingRequest(Exception):
    """A request_id already names a different request."""


@dataclass(frozen=True)
class StoredRequest:
    answer: dict[str, Any]
    fanned_out: frozenset[str]


class Ledger:
    def __init__(self, table: Any, hasher: IdentifierHasher | None, ttl_days: int):
        """`table` is a boto3 Table; `hasher` may be None for a reader (the status function)."""
        # The Table's client keeps its conversion of Python types and, unlike the resource, is
        # thread-safe: intake writes a bulk's items in parallel.
        self.db = table.meta.client
        self.name = table.name
        self.hasher = hasher
        self.ttl_seconds = ttl_days * 86400

    # -- intake -----------------------------------------------------------------------------------

    def open_request(
        self, request: DeletionRequest, answer: dict[str, Any], fingerprint: str
    ) -> StoredRequest:
        """Record the request once; a second submission gets the first one's stored state."""
        item = {
            "request_id": request.request_id,
            "item": REQUEST_ITEM,
            "action": str(request.action),
            "created_at": utc_timestamp(),
            "requested_at": request.requested_at,
            "identifiers": [{"identifier": i.label, "id_hash": self.hasher(i)} for i in request.identifiers],
            "vendors_targeted": answer["vendors"],
            "vendors_skipped": answer["skipped"],
            "answer": answer,
            "fingerprint": fingerprint,
            "expires_at": self._expiry(),
        }
        try:
            # A rejected submission may be corrected and sent again under the same request_id.
            self.db.put_item(
                TableName=self.name,
                Item=item,
                ConditionExpression="attribute_not_exists(request_id) OR #status = :rejected",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":rejected": "rejected"},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            stored = self.db.get_item(
                TableName=self.name,
                Key={"request_id": request.request_id, "item": REQUEST_ITEM},
                ConsistentRead=True,
            )["Item"]
            if stored.get("fingerprint") != fingerprint:
                raise ConflictingRequest(request.request_id) from None
            return StoredRequest(stored["answer"], frozenset(stored.get("fanned_out", ())))
        return StoredRequest(answer, frozenset())

    def mark_fanned_out(self, request_id: str, vendors: set[str]) -> None:
        self.db.update_item(
            TableName=self.name,
            Key={"request_id": request_id, "item": REQUEST_ITEM},
            UpdateExpression="ADD fanned_out :vendors",
            ExpressionAttributeValues={":vendors": vendors},
        )

    def reject(self, request_id: str, errors: list[FieldError]) -> None:
        """An intake message that is not a request: kept with its reasons, never its content."""
        try:
            self.db.put_item(
                TableName=self.name,
                Item={
                    "request_id": request_id,
                    "item": REQUEST_ITEM,
                    "created_at": utc_timestamp(),
                    "status": "rejected",
                    "errors": [e.as_dict() for e in errors],
                    "expires_at": self._expiry(),
                },
                ConditionExpression="attribute_not_exists(request_id)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    # -- vendor functions -------------------------------------------------------------------------

    def record(self, result: IdentifierResult, attempt_id: str) -> None:
        """Write one outcome. Idempotent: the same attempt is counted once, and a final outcome
        is never replaced (a redelivered message cannot move it backwards)."""
        verdict = result.verdict
        now = utc_timestamp()
        attempted = result.attempted_at is not None
        updates = [
            "vendor = :vendor",
            "identifier = :identifier",
            "id_hash = :id_hash",
            "outcome = :outcome",
            "reason = :reason",
            "last_http_status = :http_status",
            "retry_after = :retry_after",
            "updated_at = :now",
            "expires_at = :expires_at",
        ]
        values: dict[str, Any] = {
            ":vendor": result.vendor,
            ":identifier": result.identifier.label,
            ":id_hash": self.hasher(result.identifier),
            ":outcome": str(verdict.outcome),
            ":reason": verdict.reason,
            ":http_status": verdict.http_status,
            ":retry_after": None if verdict.retry_after is None else str(verdict.retry_after),
            ":now": now,
            ":expires_at": self._expiry(),
            ":attempt": {attempt_id},
            **{f":retryable{n}": str(o) for n, o in enumerate(sorted(RETRYABLE))},
        }
        if attempted:
            updates += [
                "first_attempt_at = if_not_exists(first_attempt_at, :attempted_at)",
                "last_attempt_at = :attempted_at",
            ]
            values[":attempted_at"] = result.attempted_at
        if verdict.outcome.is_final:
            updates.append("completed_at = :now")
        expression = "SET " + ", ".join(updates) + " ADD attempt_ids :attempt"
        if attempted:
            expression += ", attempts :one"
            values[":one"] = 1
        retryable = ", ".join(f":retryable{n}" for n in range(len(RETRYABLE)))
        try:
            self.db.update_item(
                TableName=self.name,
                Key={
                    "request_id": result.request_id,
                    "item": f"{OUTCOME_PREFIX}{result.vendor}#{values[':id_hash']}",
                },
                UpdateExpression=expression,
                ConditionExpression=(
                    f"(attribute_not_exists(outcome) OR outcome IN ({retryable}))"
                    " AND NOT contains(attempt_ids, :attempt_id)"
                ),
                ExpressionAttributeValues={**values, ":attempt_id": attempt_id},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise  # the record is retried, so nothing is lost

    def prior_outcomes(
        self, vendor: str, pairs: list[tuple[str, Identifier]]
    ) -> dict[tuple[str, Identifier], PriorOutcome]:
        """What this vendor's outcome items already say for (request_id, identifier) pairs: a
        redelivered request must not send what is final, and must know what was tried before."""
        keys = {
            (request_id, f"{OUTCOME_PREFIX}{vendor}#{self.hasher(identifier)}"): (request_id, identifier)
            for request_id, identifier in pairs
        }
        found: dict[tuple[str, Identifier], PriorOutcome] = {}
        pending = [{"request_id": r, "item": i} for r, i in keys]
        while pending:
            chunk, pending = pending[:BATCH_GET_MAX], pending[BATCH_GET_MAX:]
            request = {
                "Keys": chunk,
                "ConsistentRead": True,
                "ProjectionExpression": ", ".join(f"#f{n}" for n in range(len(_PRIOR_FIELDS))),
                "ExpressionAttributeNames": {f"#f{n}": name for n, name in enumerate(_PRIOR_FIELDS)},
            }
            answer = self.db.batch_get_item(RequestItems={self.name: request})
            for item in answer.get("Responses", {}).get(self.name, []):
                if item.get("outcome"):
                    found[keys[(item["request_id"], item["item"])]] = PriorOutcome(
                        Verdict(
                            Outcome(item["outcome"]),
                            item.get("reason") or "",
                            None if item.get("last_http_status") is None else int(item["last_http_status"]),
                        ),
                        int(item.get("attempts", 0)),
                    )
            # DynamoDB may leave keys unprocessed under load: ask for them again.
            pending += answer.get("UnprocessedKeys", {}).get(self.name, {}).get("Keys", [])
        return found

    # -- status -----------------------------------------------------------------------------------

    def receipt(self, request_id: str) -> dict[str, Any] | None:
        """The auditor's receipt: overall status and every vendor's outcome per identifier."""
        items, start = [], {}
        while True:
            page = self.db.query(
                TableName=self.name,
                KeyConditionExpression=Key("request_id").eq(request_id),
                ConsistentRead=True,
                **start,
            )
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
        if not items:
            return None
        request = next((i for i in items if i["item"] == REQUEST_ITEM), {})
        # An item without an outcome yet (seen mid-write by a store that is not atomic per item,
        # as moto is) is not an answer: its pair stays awaiting.
        outcomes = [
            _outcome_view(i) for i in items if i["item"].startswith(OUTCOME_PREFIX) and i.get("outcome")
        ]
        targeted = list(request.get("vendors_targeted", ())) or sorted({o["vendor"] for o in outcomes})
        # Every targeted vendor writes an outcome for every identifier of the request (skipped
        # included), so a pair without one is still on its way, even if its vendor has begun.
        answered = {(o["vendor"], o["id_hash"]) for o in outcomes}
        awaiting = [
            {"vendor": vendor, **identifier}
            for vendor in targeted
            for identifier in request.get("identifiers", [])
            if (vendor, identifier["id_hash"]) not in answered
        ]
        receipt = {
            "request_id": request_id,
            "status": request.get("status") or overall_status(outcomes, len(awaiting)),
            "action": request.get("action"),
            "created_at": request.get("created_at"),
            "requested_at": request.get("requested_at"),
            "identifiers": request.get("identifiers", []),
            "vendors": {
                vendor: sorted((o for o in outcomes if o["vendor"] == vendor), key=lambda o: o["identifier"])
                for vendor in targeted
            },
            "awaiting": awaiting,
            "skipped": request.get("vendors_skipped", {}),
        }
        if request.get("errors"):
            receipt["errors"] = request["errors"]
        return receipt

    def _expiry(self) -> int:
        return int(time.time()) + self.ttl_seconds


def overall_status(outcomes: list[dict[str, Any]], awaiting: int) -> str:
    """pending → in_progress → completed | partially_completed | failed, from the outcomes and
    the number of (vendor, identifier) pairs with none yet."""
    states = [Outcome(o["outcome"]) for o in outcomes]
    successes = [s for s in states if s.is_success]
    unsuccessful = [s for s in states if not s.is_success]
    if not states:
        return "completed" if not awaiting else "pending"  # no pair at all: every vendor skipped
    if not unsuccessful and not awaiting:
        return "completed"
    if successes and unsuccessful:
        return "partially_completed"
    if not successes and not awaiting and all(s.is_final for s in unsuccessful):
        return "failed"
    return "in_progress"


def _outcome_view(item: dict[str, Any]) -> dict[str, Any]:
    view = {
        key: item.get(key)
        for key in (
            "vendor",
            "identifier",
            "id_hash",
            "outcome",
            "reason",
            "last_http_status",
            "first_attempt_at",
            "last_attempt_at",
            "completed_at",
            "updated_at",
        )
    }
    view["attempts"] = int(item.get("attempts", 0))
    if view["last_http_status"] is not None:
        view["last_http_status"] = int(view["last_http_status"])
    return view
