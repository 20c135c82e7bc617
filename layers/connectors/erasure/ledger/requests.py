"""Intake's part of the ledger: a request recorded once under its id (or its conflict), the
vendor queues that took it, and an intake message that was not a request."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from erasure.errors import ConflictingRequest
from erasure.ledger.table import (
    CLAIM_ITEM,
    DEADLINE_WATCH,
    LISTED,
    LISTED_REQUEST,
    OPEN,
    REQUEST_ITEM,
    KeyedBook,
    decode,
    encode,
)
from erasure.observability import IdentifierHasher
from erasure.request import DeletionRequest, FieldError, utc_timestamp


def content_fingerprint(
    hasher: IdentifierHasher, request: DeletionRequest, with_vendors: bool = False
) -> str:
    """What a request asks, keyed so that it reveals no identifier; without its id and time.
    Without its choice of vendors, it is what a request asks of any one vendor, whatever entry
    point it came by; with it, what makes two submissions to intake the same request."""
    message = request.to_message()
    # A step of an enriched request (learned identifiers) is the same request as the one it came of.
    for key in (
        "request_id",
        "requested_at",
        "learned",
        "learned_from",
        *(() if with_vendors else ("vendors",)),
    ):
        message.pop(key, None)
    return hasher.digest(json.dumps(message, sort_keys=True))


@dataclass(frozen=True)
class StoredRequest:
    answer: dict[str, Any]
    fanned_out: frozenset[str]


class RequestBook(KeyedBook):
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
                "dry_run": request.dry_run,
                "enrich": request.enrich,
                LISTED: LISTED_REQUEST,  # in the index GET /v1/deletions lists
                # In the deadline index (a sparse GSI) until the request is final.
                DEADLINE_WATCH: OPEN,
                "expires_at": self.table.expiry(),
            }
            # A rejected submission may be corrected and sent again under the same request_id, and
            # an expired one is gone.
            put = {
                "TableName": self.table.name,
                "Item": encode(item),
                "ConditionExpression": "attribute_not_exists(request_id) OR #status = :rejected"
                " OR expires_at < :now",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": encode({":rejected": "rejected", ":now": int(time.time())}),
            }
            # Atomically: no vendor route nor direct message used this id for something else.
            writes.append((self._unclaimed_or_same(request.request_id, item["content"]), {"Put": put}))
        written = self.table.write_all(writes)
        return [
            StoredRequest(answer, frozenset()) if ok else self._stored(request.request_id, fingerprint)
            for ok, (request, answer, fingerprint, _) in zip(written, entries, strict=True)
        ]

    def _unclaimed_or_same(self, request_id: str, content: str) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self.table.name,
                "Key": encode({"request_id": request_id, "item": CLAIM_ITEM}),
                "ConditionExpression": "attribute_not_exists(request_id) OR content = :content"
                " OR expires_at < :now",
                "ExpressionAttributeValues": encode({":content": content, ":now": int(time.time())}),
            }
        }

    def _stored(self, request_id: str, fingerprint: str) -> StoredRequest | ConflictingRequest:
        found = self.table.db.get_item(
            TableName=self.table.name,
            Key=encode({"request_id": request_id, "item": REQUEST_ITEM}),
            ConsistentRead=True,
        )
        stored = decode(found.get("Item") or {})  # none: the CLAIM named something else
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
        self.table.write_all(
            [
                {
                    "Update": {
                        "TableName": self.table.name,
                        "Key": encode({"request_id": request_id, "item": REQUEST_ITEM}),
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
            self.table.db.put_item(
                TableName=self.table.name,
                Item=encode(
                    {
                        "request_id": request_id,
                        "item": REQUEST_ITEM,
                        "created_at": utc_timestamp(),
                        "status": "rejected",
                        "errors": [e.as_dict() for e in errors],
                        "expires_at": self.table.expiry(),
                    }
                ),
                ConditionExpression="attribute_not_exists(request_id)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
