"""The readers' part of the ledger: a request's receipt (built by erasure.receipt), its state as
last published, and the deadline index of requests not yet final."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from erasure.config import LedgerSettings
from erasure.errors import AlreadyFinal
from erasure.ledger.identities import IDENTITY_PREFIX, answered_since_kept, forget
from erasure.ledger.table import (
    CLAIM_ITEM,
    DEADLINE_INDEX,
    DEADLINE_WATCH,
    OPEN,
    REQUEST_ITEM,
    LedgerTable,
    encode,
)
from erasure.receipt import Receipt, build_receipt
from erasure.times import utc_timestamp


@dataclass(frozen=True)
class StatusChange:
    """A request's state, the one last published (None: never), when it was created, and its
    items that keep identifiers (deleted once it is final)."""

    state: dict[str, Any]
    published: dict[str, Any] | None
    created_at: str | None
    kept: tuple[Mapping[str, Any], ...] = ()


class ReceiptBook:
    def __init__(self, table: LedgerTable):
        self.table = table

    @classmethod
    def from_settings(cls, settings: LedgerSettings) -> ReceiptBook:
        """The receipts of the ledger table the function's settings name."""
        return cls(LedgerTable.from_settings(settings))

    def receipt(self, request_id: str) -> Receipt | None:
        """The auditor's receipt: overall status and every vendor's outcome per identifier."""
        return build_receipt(request_id, self._items(request_id))

    def status_change(self, request_id: str, abandon_before: str | None = None) -> StatusChange | None:
        """The request's overall state and the state last published, when they differ, else None.
        Only requests taken by intake (with a REQUEST item) are published: a vendor route's own
        deletions have none. A request made before `abandon_before` and still not final is
        abandoned first."""
        items = self._items(request_id)
        request = next((i for i in items if i["item"] == REQUEST_ITEM), None)
        receipt = build_receipt(request_id, items)
        if receipt is None:
            return None
        if request is None:  # no intake record: its identifiers go once it is final at every keeper
            if receipt.final and answered_since_kept(items):
                forget(self.table, request_id, items, head=CLAIM_ITEM)
            return None
        if abandon_before and not receipt.final and (receipt.created_at or "") < abandon_before:
            self._abandon(request_id)
            items = self._items(request_id)
            request = next(i for i in items if i["item"] == REQUEST_ITEM)
            receipt = build_receipt(request_id, items)
            assert receipt is not None
        state = receipt.state()
        published = json.loads(request["published"]) if request.get("published") else None
        if published != state:
            kept = tuple(i for i in items if str(i["item"]).startswith(IDENTITY_PREFIX))
            return StatusChange(state, published, receipt.created_at, kept)
        if state["final"]:  # published final: what a failed forget (or a late keep) left goes now
            forget(self.table, request_id, items)
        return None

    def forget(self, request_id: str, change: StatusChange) -> int:
        """Delete the identifiers kept for the request's messages (it is final), as its change
        read them; how many."""
        return forget(self.table, request_id, change.kept)

    def mark_published(self, request_id: str, state: dict[str, Any], previous: dict[str, Any] | None) -> bool:
        """Note `state` as published (a final request leaves the deadline index); False when
        another writer published a change since `previous` (it publishes its own)."""
        # Kept as its JSON text: a condition compares a string exactly, whatever map it was.
        condition = "attribute_exists(request_id) AND " + (
            "attribute_not_exists(published)" if previous is None else "published = :previous"
        )
        values = {
            ":state": _state_text(state),
            ":status": state["status"],
            ":verification": state["verification"],
            ":final": state["final"],
            **({} if previous is None else {":previous": _state_text(previous)}),
        }
        try:
            self.table.db.update_item(
                TableName=self.table.name,
                Key=encode({"request_id": request_id, "item": REQUEST_ITEM}),
                # The state's parts too, for the list's filters (a filter cannot read JSON text).
                UpdateExpression="SET published = :state, state_status = :status,"
                " state_verification = :verification, state_final = :final"
                + (f" REMOVE {DEADLINE_WATCH}" if state["final"] else ""),
                ConditionExpression=condition,
                ExpressionAttributeValues=encode(values),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _abandon(self, request_id: str) -> None:
        """Mark a request abandoned: final, with what was not done still listed as awaiting."""
        self.table.db.update_item(
            TableName=self.table.name,
            Key=encode({"request_id": request_id, "item": REQUEST_ITEM}),
            UpdateExpression="SET abandoned_at = if_not_exists(abandoned_at, :now)",
            ExpressionAttributeValues=encode({":now": utc_timestamp()}),
        )

    def cancel(self, request_id: str) -> Receipt | None:
        """Cancel a request taken by intake: from now on no vendor function sends what it has not
        sent yet (what a vendor took is not undone). The receipt as it stands, with its
        `cancelled_at` (the first one: cancelling twice changes nothing); None for no such
        request; AlreadyFinal when it is final (nothing is left to cancel)."""
        items = self._items(request_id)
        receipt = build_receipt(request_id, items)
        if receipt is None or not any(i["item"] == REQUEST_ITEM for i in items):
            return None
        if receipt.final:
            raise AlreadyFinal(request_id)
        try:
            self.table.db.update_item(
                TableName=self.table.name,
                Key=encode({"request_id": request_id, "item": REQUEST_ITEM}),
                UpdateExpression="SET cancelled_at = if_not_exists(cancelled_at, :now)",
                ConditionExpression="attribute_exists(request_id)",
                ExpressionAttributeValues=encode({":now": utc_timestamp()}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return None
        return self.receipt(request_id)

    def open_due_by(self, limit: str) -> list[tuple[str, str]]:
        """(request_id, due_by) of every request not yet final that is due by `limit` (ISO UTC),
        earliest first."""
        found = self.table.query(
            IndexName=DEADLINE_INDEX,
            KeyConditionExpression=f"{DEADLINE_WATCH} = :open AND due_by <= :limit",
            ExpressionAttributeValues=encode({":open": OPEN, ":limit": limit}),
        )
        return [(item["request_id"], item["due_by"]) for item in found]

    def _items(self, request_id: str) -> list[dict[str, Any]]:
        return self.table.query(
            KeyConditionExpression="request_id = :request_id",
            ExpressionAttributeValues={":request_id": {"S": request_id}},
            ConsistentRead=True,
        )


def _state_text(state: dict[str, Any]) -> str:
    return json.dumps(state, sort_keys=True)
