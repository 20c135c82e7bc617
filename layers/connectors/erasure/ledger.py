"""The deletion ledger (DynamoDB): what was asked, where it went, and per vendor and identifier
what happened and when. Identifiers are stored only as keyed hashes; items expire by TTL.

One table, partition key `request_id`, sort key `item`:
- `REQUEST`: the request (action, created time, vendors targeted and skipped, and per targeted
  vendor the identifiers it does not serve; the vendors whose queue has accepted it) or its
  rejection;
- `CLAIM`: what a request_id asks for (a keyed hash of its content), when a vendor route or a
  message sent straight to a vendor queue used it without intake: one id names one request,
  whichever entry point saw it first;
- `OUTCOME#<vendor>#<id_hash>`: one vendor's latest outcome for one identifier.

All items of a request expire together, at its first item's `expires_at`; an item past it is
treated as gone by every reader (TTL deletes it within days, not at once).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from erasure.aws_clients import dynamodb_client
from erasure.config import ledger_table_name, ledger_ttl_days, ledger_writers
from erasure.observability import IdentifierHasher
from erasure.outcomes import (
    RETRYABLE,
    CheckFinding,
    IdentifierResult,
    Outcome,
    PriorOutcome,
    Verdict,
    Verification,
)
from erasure.request import DeletionRequest, FieldError, Identifier, epoch_timestamp, utc_timestamp

REQUEST_ITEM = "REQUEST"
CLAIM_ITEM = "CLAIM"
HEADS = (REQUEST_ITEM, CLAIM_ITEM)
OUTCOME_PREFIX = "OUTCOME#"
# The deadline index (template.yaml: OpenRequestsByDueBy): REQUEST items carry DEADLINE_WATCH =
# OPEN and `due_by` until they are final (every outcome and every verification).
DEADLINE_INDEX = "OpenRequestsByDueBy"
DEADLINE_WATCH = "deadline_watch"
OPEN = "open"


BATCH_GET_MAX = 100  # BatchGetItem's most keys a call
TRANSACTION_MAX = 100  # TransactWriteItems' most items a call
TRANSACTION_ATTEMPTS = 5  # a transaction cancelled by a concurrent one on the same item is retried
# Named through placeholders: `item` is one of DynamoDB's reserved words.
_PRIOR_FIELDS = (
    "request_id",
    "item",
    "outcome",
    "reason",
    "last_http_status",
    "attempts",
    "verification",
    "verification_checks",
    "expires_at",
)
_from_dynamodb = TypeDeserializer().deserialize


class ConflictingRequest(Exception):
    """A request_id already names a different request."""


class OutcomeNotRecorded(RuntimeError):
    """A final outcome was refused by the ledger while the stored one is not final: the record
    must be retried, or a vendor-confirmed deletion would be lost."""


@dataclass(frozen=True)
class Head:
    """A request's first item (REQUEST or CLAIM), as a vendor function reads it: what the
    request_id asks for and when all its items expire."""

    content: str | None  # None: written before contents were kept; taken as the same request
    expires_at: int


@dataclass(frozen=True)
class Admission:
    """What the ledger says of a batch of requests before they are sent: the ids that name a
    different request (refused), each request's expiry, and the ids already claimed before this
    batch (an earlier call may have sent them)."""

    conflicting: frozenset[str]
    expiries: Mapping[str, int]
    seen_before: frozenset[str]


def content_fingerprint(
    hasher: IdentifierHasher, request: DeletionRequest, with_vendors: bool = False
) -> str:
    """What a request asks, keyed so that it reveals no identifier; without its id and time.
    Without its choice of vendors, it is what a request asks of any one vendor, whatever entry
    point it came by; with it, what makes two submissions to intake the same request."""
    message = request.to_message()
    for key in ("request_id", "requested_at", *(() if with_vendors else ("vendors",))):
        message.pop(key, None)
    return hasher.digest(json.dumps(message, sort_keys=True))


@dataclass(frozen=True)
class StoredRequest:
    answer: dict[str, Any]
    fanned_out: frozenset[str]


class Ledger:
    def __init__(
        self, client: Any, table_name: str, hasher: IdentifierHasher | None, ttl_days: int, writers: int = 8
    ):
        """`client` is a boto3 DynamoDB client (thread-safe, and cheaper to make at cold start
        than a resource); `hasher` may be None for a reader (the status function); `writers`:
        transactions in flight at once (independent items: latency, not order, matters)."""
        self.db = client
        self.name = table_name
        self.hasher = hasher
        self.ttl_seconds = ttl_days * 86400
        self.writers = writers

    @classmethod
    def from_env(cls, env: Mapping[str, str], hasher: IdentifierHasher | None) -> Ledger:
        """The ledger table the function's settings name (LEDGER_TABLE, ...)."""
        return cls(
            dynamodb_client(), ledger_table_name(env), hasher, ledger_ttl_days(env), ledger_writers(env)
        )

    # -- intake -----------------------------------------------------------------------------------

    def open_requests(
        self, entries: list[tuple[DeletionRequest, dict[str, Any], str, dict[str, list]]]
    ) -> list[StoredRequest | ConflictingRequest]:
        """Record each (request, first answer, fingerprint, skipped identifiers per vendor) once,
        100 a call; a request_id already recorded gets its stored state, or ConflictingRequest
        if it asked for something else."""
        writes = []
        for request, answer, fingerprint, identifiers_skipped in entries:
            item = {
                "request_id": request.request_id,
                "item": REQUEST_ITEM,
                "action": str(request.action),
                "created_at": utc_timestamp(),
                "requested_at": request.requested_at,
                "identifiers": [
                    {"identifier": i.label, "id_hash": self.hasher(i)} for i in request.identifiers
                ],
                "vendors_targeted": answer["vendors"],
                "vendors_skipped": answer["skipped"],
                "identifiers_skipped": identifiers_skipped,
                "fingerprint": fingerprint,
                "content": content_fingerprint(self.hasher, request),
                "regulation": None if request.regulation is None else str(request.regulation),
                "due_by": request.deadline,
                # In the deadline index (a sparse GSI) until the request is final.
                DEADLINE_WATCH: OPEN,
                "expires_at": self._expiry(),
            }
            # A rejected submission may be corrected and sent again under the same request_id, and
            # an expired one is gone.
            put = {
                "TableName": self.name,
                "Item": _item(item),
                "ConditionExpression": "attribute_not_exists(request_id) OR #status = :rejected"
                " OR expires_at < :now",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": _item({":rejected": "rejected", ":now": int(time.time())}),
            }
            # Atomically: no vendor route nor direct message used this id for something else.
            writes.append((self._unclaimed_or_same(request.request_id, item["content"]), {"Put": put}))
        written = self._write_all(writes)
        return [
            StoredRequest(answer, frozenset()) if ok else self._stored(request.request_id, fingerprint)
            for ok, (request, answer, fingerprint, _) in zip(written, entries, strict=True)
        ]

    def _unclaimed_or_same(self, request_id: str, content: str) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self.name,
                "Key": _item({"request_id": request_id, "item": CLAIM_ITEM}),
                "ConditionExpression": "attribute_not_exists(request_id) OR content = :content"
                " OR expires_at < :now",
                "ExpressionAttributeValues": _item({":content": content, ":now": int(time.time())}),
            }
        }

    def _stored(self, request_id: str, fingerprint: str) -> StoredRequest | ConflictingRequest:
        found = self.db.get_item(
            TableName=self.name,
            Key=_item({"request_id": request_id, "item": REQUEST_ITEM}),
            ConsistentRead=True,
        )
        stored = _plain(found.get("Item") or {})  # none: the CLAIM named something else
        if not stored or stored.get("fingerprint") != fingerprint:
            return ConflictingRequest(request_id)
        answer = {
            "request_id": request_id,
            "vendors": stored["vendors_targeted"],
            "skipped": stored["vendors_skipped"],
        }
        return StoredRequest(answer, frozenset(stored.get("fanned_out", ())))

    def mark_fanned_out(self, marks: list[tuple[str, set[str]]]) -> None:
        """Note, per request_id, the vendors whose queue has accepted the request."""
        self._write_all(
            [
                {
                    "Update": {
                        "TableName": self.name,
                        "Key": _item({"request_id": request_id, "item": REQUEST_ITEM}),
                        "UpdateExpression": "ADD fanned_out :vendors",
                        "ExpressionAttributeValues": {":vendors": {"SS": sorted(vendors)}},
                    }
                }
                for request_id, vendors in marks
            ]
        )

    def reject(self, request_id: str, errors: list[FieldError]) -> None:
        """An intake message that is not a request: kept with its reasons, never its content."""
        try:
            self.db.put_item(
                TableName=self.name,
                Item=_item(
                    {
                        "request_id": request_id,
                        "item": REQUEST_ITEM,
                        "created_at": utc_timestamp(),
                        "status": "rejected",
                        "errors": [e.as_dict() for e in errors],
                        "expires_at": self._expiry(),
                    }
                ),
                ConditionExpression="attribute_not_exists(request_id)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    # -- vendor functions -------------------------------------------------------------------------

    def admit(self, requests: list[DeletionRequest]) -> Admission:
        """Before a vendor function sends anything: each request_id must name this request (the
        one intake recorded, or the one a vendor route or direct message claimed first); an id
        nobody used yet is claimed now, atomically against intake's own record."""
        contents = [content_fingerprint(self.hasher, r) for r in requests]
        ids = {r.request_id for r in requests}
        heads = self._heads(ids)
        to_claim: dict[str, str] = {}
        for request, content in zip(requests, contents, strict=True):
            if not heads.get(request.request_id):  # the first asking wins, as below
                to_claim.setdefault(request.request_id, content)
        seen_before = frozenset(i for i in ids if any(kind == CLAIM_ITEM for kind, _ in heads.get(i, ())))
        if to_claim:
            expiry = self._expiry()
            claims = [self._claim(request_id, content, expiry) for request_id, content in to_claim.items()]
            made = self._write_all(claims)
            raced = {i for i, ok in zip(to_claim, made, strict=True) if not ok}
            heads.update(self._heads(raced) if raced else {})  # claimed meanwhile: by whom, for what
            for request_id, content in to_claim.items():
                if request_id not in raced:
                    heads[request_id] = [(CLAIM_ITEM, Head(content, expiry))]
        conflicting, first_content = [], {}
        for request, content in zip(requests, contents, strict=True):
            stated = first_content.setdefault(request.request_id, content)
            found = [head for _, head in heads.get(request.request_id, ())]
            conflicting.append(stated != content or any(h.content not in (None, content) for h in found))
        expiries = {i: min(h.expires_at for _, h in heads[i]) for i in ids if heads.get(i)}
        return Admission(tuple(conflicting), expiries, seen_before)

    def _heads(self, request_ids: set[str]) -> dict[str, list[tuple[str, Head]]]:
        """The live first items (REQUEST, CLAIM) of these requests; a rejected REQUEST names none."""
        keys = [{"request_id": i, "item": kind} for i in sorted(request_ids) for kind in HEADS]
        now = int(time.time())
        heads: dict[str, list[tuple[str, Head]]] = {}
        for item in self._get_all(keys, ("request_id", "item", "content", "expires_at", "status")):
            if int(item.get("expires_at", now)) >= now and item.get("status") != "rejected":
                head = Head(item.get("content"), int(item.get("expires_at", now)))
                heads.setdefault(item["request_id"], []).append((item["item"], head))
        return heads

    def _claim(self, request_id: str, content: str, expiry: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """A CLAIM of the id for `content`, made only if intake has not recorded it otherwise."""
        now = int(time.time())
        claim = {
            "request_id": request_id,
            "item": CLAIM_ITEM,
            "content": content,
            "created_at": utc_timestamp(),
            "expires_at": expiry,
        }
        return (
            {
                "Put": {
                    "TableName": self.name,
                    "Item": _item(claim),
                    "ConditionExpression": "attribute_not_exists(request_id) OR expires_at < :now",
                    "ExpressionAttributeValues": _item({":now": now}),
                }
            },
            {
                "ConditionCheck": {
                    "TableName": self.name,
                    "Key": _item({"request_id": request_id, "item": REQUEST_ITEM}),
                    "ConditionExpression": "attribute_not_exists(request_id) OR attribute_not_exists(content)"
                    " OR content = :content OR #status = :rejected OR expires_at < :now",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": _item(
                        {":content": content, ":rejected": "rejected", ":now": now}
                    ),
                }
            },
        )

    def record(self, results: list[tuple[IdentifierResult, str]], expiries: Mapping[str, int]) -> None:
        """Write (outcome, attempt id) pairs, 100 a call, each expiring with its request
        (`expiries`). Idempotent: the same attempt is counted once, and a final outcome is never
        replaced (a redelivered message cannot move it backwards). A final outcome refused while
        the stored one is not final raises OutcomeNotRecorded: it must not be lost."""
        made = self._write_all(
            [{"Update": self._outcome_update(result, attempt_id, expiries)} for result, attempt_id in results]
        )
        refused = [
            (result.request_id, result.identifier)
            for (result, _), ok in zip(results, made, strict=True)
            if not ok and result.verdict.outcome.is_final
        ]
        if refused:
            vendor = results[0][0].vendor
            stored = self.prior_outcomes(vendor, refused)
            if any(pair not in stored or not stored[pair].verdict.outcome.is_final for pair in refused):
                raise OutcomeNotRecorded(f"{len(refused)} final outcome(s) refused over ones not final")

    def _outcome_update(
        self, result: IdentifierResult, attempt_id: str, expiries: Mapping[str, int]
    ) -> dict[str, Any]:
        verdict = result.verdict
        now = utc_timestamp()
        attempted = result.attempted_at is not None
        id_hash = self.hasher(result.identifier)
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
            ":id_hash": id_hash,
            ":outcome": str(verdict.outcome),
            ":reason": verdict.reason,
            ":http_status": verdict.http_status,
            ":retry_after": None if verdict.retry_after is None else str(verdict.retry_after),
            ":now": now,
            ":expires_at": expiries.get(result.request_id) or self._expiry(),
            ":attempt": {attempt_id},
            ":attempt_id": attempt_id,
            **_RETRYABLE_VALUES,
        }
        if attempted:
            updates += [
                "first_attempt_at = if_not_exists(first_attempt_at, :attempted_at)",
                "last_attempt_at = :attempted_at",
            ]
            values[":attempted_at"] = result.attempted_at
        if verdict.outcome.is_final:
            updates.append("completed_at = :now")
        if verdict.evidence is not None:
            updates.append("evidence = :evidence")
            values[":evidence"] = verdict.evidence.as_dict()
        if result.verification is not None:
            updates += [
                "verification = :verification",
                "verification_reason = :verification_reason",
                "verification_checks = :zero",
                "verification_due_at = :due_at",
            ]
            values[":verification"] = str(result.verification)
            values[":verification_reason"] = result.verification_reason
            values[":zero"] = 0
            values[":due_at"] = (
                None if result.verify_due_at is None else epoch_timestamp(result.verify_due_at)
            )
        expression = "SET " + ", ".join(updates) + " ADD attempt_ids :attempt"
        if attempted:
            expression += ", attempts :one"
            values[":one"] = 1
        return {
            "TableName": self.name,
            "Key": _item({"request_id": result.request_id, "item": outcome_item(result.vendor, id_hash)}),
            "UpdateExpression": expression,
            "ConditionExpression": _OUTCOME_CONDITION,
            "ExpressionAttributeValues": _item(values),
        }

    def record_checks(self, findings: list[CheckFinding]) -> None:
        """Write what checks found. Each check is written once: a redelivered one, or one after a
        later check, is left out."""
        writes = []
        for finding in findings:
            result, number, next_due_at = finding.result, finding.check, finding.next_due_at
            verdict = result.verdict
            values = {
                ":verification": str(verdict.outcome),
                ":reason": verdict.reason,
                ":now": utc_timestamp(),
                ":number": number,
                ":due_at": None if next_due_at is None else epoch_timestamp(next_due_at),
                ":evidence": None if verdict.evidence is None else verdict.evidence.as_dict(),
                ":pending": str(Verification.PENDING),
            }
            key = {
                "request_id": result.request_id,
                "item": outcome_item(result.vendor, self.hasher(result.identifier)),
            }
            writes.append(
                {
                    "Update": {
                        "TableName": self.name,
                        "Key": _item(key),
                        "UpdateExpression": (
                            "SET verification = :verification, verification_reason = :reason,"
                            " checked_at = :now, updated_at = :now, verification_checks = :number,"
                            " verification_due_at = :due_at, verification_evidence = :evidence"
                        ),
                        "ConditionExpression": "verification = :pending AND verification_checks < :number",
                        "ExpressionAttributeValues": _item(values),
                    }
                }
            )
        self._write_all(writes)

    def _write_all(self, writes: list[dict[str, Any] | tuple[dict[str, Any], ...]]) -> list[bool]:
        """Make the writes, 100 items a TransactWriteItems call, calls in parallel; per write,
        whether it was made (False: its condition refused it). A write is one transaction item,
        or a tuple of them made all or none. A call cancelled by one write's condition is made
        again without it; any other failure raises, and the caller's retry makes it. DynamoDB
        takes one write of an item a transaction: a second write of the same item (a message
        delivered twice in one batch) is made in a later round, in the order given."""
        groups = [write if isinstance(write, tuple) else (write,) for write in writes]
        made = [False] * len(groups)

        def transact(indexes: list[int]) -> None:
            pending = list(indexes)
            for attempt in range(TRANSACTION_ATTEMPTS):
                if not pending:
                    return
                items = [(i, item) for i in pending for item in groups[i]]
                try:
                    self.db.transact_write_items(TransactItems=[item for _, item in items])
                except ClientError as error:
                    if error.response["Error"]["Code"] != "TransactionCanceledException":
                        raise
                    codes = [r.get("Code") for r in error.response.get("CancellationReasons") or []]
                    refused = {
                        i
                        for (i, _), code in zip(items, codes, strict=False)
                        if code == "ConditionalCheckFailed"
                    }
                    if not refused and "TransactionConflict" not in codes:
                        raise
                    pending = [i for i in pending if i not in refused]
                    if not refused:
                        time.sleep(0.05 * 2**attempt)  # a concurrent transaction on an item
                    continue
                for i in pending:
                    made[i] = True
                return
            raise RuntimeError("ledger writes kept conflicting with concurrent ones")

        rounds: list[list[int]] = []
        times_seen: dict[tuple[str, str], int] = {}
        for index, group in enumerate(groups):
            keys = [_key_of(item) for item in group]
            seen = max(times_seen.get(key, -1) + 1 for key in keys)
            for key in keys:
                times_seen[key] = seen
            while len(rounds) <= seen:
                rounds.append([])
            rounds[seen].append(index)
        for indexes in rounds:
            calls, size = [[]], 0
            for index in indexes:  # at most TRANSACTION_MAX items a call, a group never split
                if size + len(groups[index]) > TRANSACTION_MAX:
                    calls.append([])
                    size = 0
                calls[-1].append(index)
                size += len(groups[index])
            _in_parallel(transact, self.writers, [call for call in calls if call])
        return made

    def _get_all(self, keys: list[dict[str, str]], fields: tuple[str, ...]) -> list[dict[str, Any]]:
        """The items of these keys that exist (consistent reads, 100 keys a call), with `fields`."""
        found: list[dict[str, Any]] = []
        pending = [_item(key) for key in keys]
        attempt = 0
        while pending:
            chunk, pending = pending[:BATCH_GET_MAX], pending[BATCH_GET_MAX:]
            request = {
                "Keys": chunk,
                "ConsistentRead": True,
                "ProjectionExpression": ", ".join(f"#f{n}" for n in range(len(fields))),
                "ExpressionAttributeNames": {f"#f{n}": name for n, name in enumerate(fields)},
            }
            answer = self.db.batch_get_item(RequestItems={self.name: request})
            found += [_plain(item) for item in answer.get("Responses", {}).get(self.name, [])]
            # DynamoDB may leave keys unprocessed under load: ask again, backing off as it advises.
            unprocessed = answer.get("UnprocessedKeys", {}).get(self.name, {}).get("Keys", [])
            if unprocessed:
                time.sleep(min(1.0, 0.05 * 2**attempt))
                attempt += 1
            pending += unprocessed
        return found

    def prior_outcomes(
        self, vendor: str, pairs: list[tuple[str, Identifier]]
    ) -> dict[tuple[str, Identifier], PriorOutcome]:
        """What this vendor's outcome items already say for (request_id, identifier) pairs: a
        redelivered request must not send what is final, and must know what was tried before.
        An expired item says nothing: its request is gone."""
        keys = {
            (request_id, outcome_item(vendor, self.hasher(identifier))): (request_id, identifier)
            for request_id, identifier in pairs
        }
        now = int(time.time())
        found: dict[tuple[str, Identifier], PriorOutcome] = {}
        items = self._get_all([{"request_id": r, "item": i} for r, i in keys], _PRIOR_FIELDS)
        for item in items:
            if item.get("outcome") and int(item.get("expires_at", now)) >= now:
                found[keys[(item["request_id"], item["item"])]] = PriorOutcome(
                    Verdict(
                        Outcome(item["outcome"]),
                        item.get("reason") or "",
                        None if item.get("last_http_status") is None else int(item["last_http_status"]),
                    ),
                    int(item.get("attempts", 0)),
                    Verification(item["verification"]) if item.get("verification") else None,
                    int(item.get("verification_checks", 0)),
                )
        return found

    # -- status -----------------------------------------------------------------------------------

    def receipt(self, request_id: str) -> dict[str, Any] | None:
        """The auditor's receipt: overall status and every vendor's outcome per identifier."""
        found = self._receipt_and_request(request_id)
        return found[0] if found else None

    def status_change(self, request_id: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """(the request's overall state, the state last published) when they differ, else None.
        The state: status, verification, final, and due_by. Only requests taken by intake (with a
        REQUEST item) are published: a vendor route's own deletions have none."""
        found = self._receipt_and_request(request_id)
        if not found or not found[1]:
            return None
        receipt, request = found
        state = {key: receipt[key] for key in ("status", "verification", "final", "due_by")}
        published = json.loads(request["published"]) if request.get("published") else None
        return None if published == state else (state, published)

    def mark_published(self, request_id: str, state: dict[str, Any], previous: dict[str, Any] | None) -> bool:
        """Note `state` as published (a final request leaves the deadline index); False when
        another writer published a change since `previous` (it publishes its own)."""
        # Kept as its JSON text: a condition compares a string exactly, whatever map it was.
        condition = "attribute_exists(request_id) AND " + (
            "attribute_not_exists(published)" if previous is None else "published = :previous"
        )
        values = {
            ":state": _state_text(state),
            **({} if previous is None else {":previous": _state_text(previous)}),
        }
        try:
            self.db.update_item(
                TableName=self.name,
                Key=_item({"request_id": request_id, "item": REQUEST_ITEM}),
                UpdateExpression="SET published = :state"
                + (f" REMOVE {DEADLINE_WATCH}" if state["final"] else ""),
                ConditionExpression=condition,
                ExpressionAttributeValues=_item(values),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def open_due_by(self, limit: str) -> list[tuple[str, str]]:
        """(request_id, due_by) of every request not yet final that is due by `limit` (ISO UTC)."""
        found, start = [], {}
        while True:
            page = self.db.query(
                TableName=self.name,
                IndexName=DEADLINE_INDEX,
                KeyConditionExpression=f"{DEADLINE_WATCH} = :open AND due_by <= :limit",
                ExpressionAttributeValues=_item({":open": OPEN, ":limit": limit}),
                **start,
            )
            found += [(_plain(i)["request_id"], _plain(i)["due_by"]) for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return found
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    def _receipt_and_request(self, request_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        items, start = [], {}
        while True:
            page = self.db.query(
                TableName=self.name,
                KeyConditionExpression="request_id = :request_id",
                ExpressionAttributeValues={":request_id": {"S": request_id}},
                ConsistentRead=True,
                **start,
            )
            items += [_plain(item) for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                break
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
        now = int(time.time())
        items = [i for i in items if int(i.get("expires_at", now)) >= now]
        # Outcomes without their request (expired, or never opened) are not a receipt.
        if not any(i["item"] in HEADS for i in items):
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
        # Identifiers a targeted vendor does not serve: intake wrote them once, the vendor none.
        outcomes += [
            _outcome_view(
                {
                    "vendor": vendor,
                    **skip,
                    "outcome": str(Outcome.SKIPPED),
                    "completed_at": request["created_at"],
                }
            )
            for vendor, skips in request.get("identifiers_skipped", {}).items()
            for skip in skips
            if (vendor, skip["id_hash"]) not in answered
        ]
        answered |= {(o["vendor"], o["id_hash"]) for o in outcomes}
        awaiting = [
            {"vendor": vendor, **identifier}
            for vendor in targeted
            for identifier in request.get("identifiers", [])
            if (vendor, identifier["id_hash"]) not in answered
        ]
        final = not awaiting and all(
            Outcome(o["outcome"]).is_final and o["verification"] != Verification.PENDING for o in outcomes
        )
        receipt = {
            "request_id": request_id,
            "status": request.get("status") or overall_status(outcomes, len(awaiting)),
            "verification": overall_verification(outcomes, final),
            "final": final,
            "action": request.get("action"),
            "created_at": request.get("created_at"),
            "requested_at": request.get("requested_at"),
            "regulation": request.get("regulation"),
            "due_by": request.get("due_by"),
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
        return receipt, request

    def _expiry(self) -> int:
        return int(time.time()) + self.ttl_seconds


def overall_status(outcomes: list[dict[str, Any]], awaiting: int) -> str:
    """pending → in_progress → completed | partially_completed | failed, from the outcomes and
    the number of (vendor, identifier) pairs with none yet."""
    states = [Outcome(o["outcome"]) for o in outcomes]
    successes = [s for s in states if s.is_success]
    unsuccessful = [s for s in states if not s.is_success]
    if awaiting and all(s is Outcome.SKIPPED for s in states):
        return "pending"  # no vendor has answered yet (intake records what none serves)
    if not states:
        return "completed"  # no pair at all: every vendor skipped
    if not unsuccessful and not awaiting:
        return "completed"
    if successes and unsuccessful:
        return "partially_completed"
    if not successes and not awaiting and all(s.is_final for s in unsuccessful):
        return "failed"
    return "in_progress"


def _state_text(state: dict[str, Any]) -> str:
    return json.dumps(state, sort_keys=True)


def overall_verification(outcomes: list[dict[str, Any]], final: bool) -> str:
    """What the vendors' read APIs showed of a request, over its identifiers: pending (a check or
    an outcome to come), still_present (any), verified (every identifier a vendor was asked to
    erase was taken and found gone), unverifiable (no lookup could tell any), partially_verified
    (some gone; the rest unverifiable, or refused by its vendor, which may still hold it), or
    not_applicable (nothing to check: refused, skipped). Skipped identifiers are ones their
    vendor does not serve: they are not counted."""
    states = {o["verification"] for o in outcomes if o.get("verification")}
    refused = any(o["outcome"] == Outcome.REFUSED for o in outcomes)
    if not final:
        return "pending"
    if Verification.STILL_PRESENT in states:
        return "still_present"
    if not states:
        return "not_applicable"
    if states == {Verification.VERIFIED_ABSENT}:
        return "partially_verified" if refused else "verified"
    return "unverifiable" if states == {Verification.UNVERIFIABLE} else "partially_verified"


def _outcome_view(item: dict[str, Any]) -> dict[str, Any]:
    view = {key: item.get(key) for key in _VIEW_FIELDS}
    view["attempts"] = int(item.get("attempts", 0))
    view["verification_checks"] = int(item.get("verification_checks", 0))
    for key in ("last_http_status",):
        if view[key] is not None:
            view[key] = int(view[key])
    for key in ("evidence", "verification_evidence"):
        if view[key] and view[key].get("http_status") is not None:
            view[key] = {**view[key], "http_status": int(view[key]["http_status"])}
    return view


_VIEW_FIELDS = (
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
    "evidence",
    "verification",
    "verification_reason",
    "verification_due_at",
    "checked_at",
    "verification_evidence",
)


def _key_of(operation: dict[str, Any]) -> tuple[str, str]:
    (write,) = operation.values()
    item = write.get("Key") or write["Item"]
    return item["request_id"]["S"], item["item"]["S"]


def outcome_item(vendor: str, id_hash: str) -> str:
    return f"{OUTCOME_PREFIX}{vendor}#{id_hash}"


def _item(values: dict[str, Any]) -> dict[str, Any]:
    """A Python dict as DynamoDB attribute values."""
    return {key: _attribute(value) for key, value in values.items()}


def _attribute(value: Any) -> dict[str, Any]:
    # For the ledger's own types only; boto3's TypeSerializer, which guesses among all of
    # DynamoDB's, was a third of a bulk intake's CPU.
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, dict):
        return {"M": {key: _attribute(item) for key, item in value.items()}}
    if isinstance(value, (set, frozenset)):
        return {"SS": sorted(value)}
    if isinstance(value, (list, tuple)):
        return {"L": [_attribute(item) for item in value]}
    raise TypeError(f"the ledger stores no {type(value).__name__}")


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _from_dynamodb(value) for key, value in item.items()}


def _in_parallel(work: Callable[[list[int]], None], writers: int, chunks: list[list[int]]) -> None:
    if len(chunks) <= 1 or writers <= 1:  # no thread for the common single call
        for chunk in chunks:
            work(chunk)
        return
    with ThreadPoolExecutor(max_workers=min(writers, len(chunks))) as pool:
        list(pool.map(work, chunks))


_RETRYABLE_VALUES = {f":retryable{n}": str(o) for n, o in enumerate(sorted(RETRYABLE))}
_OUTCOME_CONDITION = (
    f"(attribute_not_exists(outcome) OR outcome IN ({', '.join(_RETRYABLE_VALUES)}))"
    " AND NOT contains(attempt_ids, :attempt_id)"
)
