"""The ledger's table (DynamoDB), shared by every part of the ledger: its name, its clients, the
transactions that write it, the batched reads, and the codec of its items.

One table, partition key `request_id`, sort key `item`:
- `REQUEST`: the request (action, created time, vendors targeted and skipped, and per targeted
  vendor the identifiers it does not serve; the vendors whose queue has accepted it) or its
  rejection;
- `CLAIM`: what a request_id asks for (a keyed hash of its content), when a vendor route or a
  message sent straight to a vendor queue used it without intake: one id names one request,
  whichever entry point saw it first;
- `OUTCOME#<vendor>#<id_hash>`: one vendor's latest outcome for one identifier.

Identifiers are stored only as keyed hashes. All items of a request expire together, at its
first item's `expires_at`; an item past it is treated as gone by every reader (TTL deletes it
within days, not at once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from erasure.aws_clients import dynamodb_client
from erasure.config import LedgerSettings
from erasure.observability import IdentifierHasher
from erasure.receipt import CLAIM_ITEM, HEADS, OUTCOME_PREFIX, REQUEST_ITEM

__all__ = ["CLAIM_ITEM", "HEADS", "OUTCOME_PREFIX", "REQUEST_ITEM"]

# The deadline index (template.yaml: OpenRequestsByDueBy): REQUEST items carry DEADLINE_WATCH =
# OPEN and `due_by` until they are final (every outcome and every verification).
DEADLINE_INDEX = "OpenRequestsByDueBy"
DEADLINE_WATCH = "deadline_watch"
OPEN = "open"
# The list index (template.yaml: RequestsByCreation): every REQUEST item, by `created_at`.
LIST_INDEX = "RequestsByCreation"
LISTED, LISTED_REQUEST = "listed", "request"

BATCH_GET_MAX = 100  # BatchGetItem's most keys a call
BATCH_WRITE_MAX = 25  # BatchWriteItem's most requests a call
TRANSACTION_MAX = 100  # TransactWriteItems' most items a call
TRANSACTION_ATTEMPTS = 5  # a transaction cancelled by a concurrent one on the same item is retried
_from_dynamodb = TypeDeserializer().deserialize

Write = dict[str, Any] | tuple[dict[str, Any], ...]  # one transaction item, or several made all or none


class LedgerTable:
    def __init__(self, client: Any, table_name: str, ttl_days: int, writers: int = 8):
        """`client` is a boto3 DynamoDB client (thread-safe, and cheaper to make at cold start
        than a resource); `writers`: transactions in flight at once (independent items:
        latency, not order, matters)."""
        self.db = client
        self.name = table_name
        self.ttl_seconds = ttl_days * 86400
        self.writers = writers

    @classmethod
    def from_settings(cls, settings: LedgerSettings) -> LedgerTable:
        """The ledger table the function's settings name."""
        return cls(dynamodb_client(), settings.table_name, settings.ttl_days, settings.writers)

    def expiry(self) -> int:
        """When the items of a request opened now expire (epoch seconds)."""
        return int(time.time()) + self.ttl_seconds

    def write_all(self, writes: Sequence[Write]) -> list[bool]:
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
            calls: list[list[int]] = [[]]
            size = 0
            for index in indexes:  # at most TRANSACTION_MAX items a call, a group never split
                if size + len(groups[index]) > TRANSACTION_MAX:
                    calls.append([])
                    size = 0
                calls[-1].append(index)
                size += len(groups[index])
            _in_parallel(transact, self.writers, [call for call in calls if call])
        return made

    def get_all(self, keys: list[dict[str, str]], fields: tuple[str, ...]) -> list[dict[str, Any]]:
        """The items of these keys that exist (consistent reads, 100 keys a call), with `fields`."""
        found: list[dict[str, Any]] = []
        pending = [encode(key) for key in keys]
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
            found += [decode(found_item) for found_item in answer.get("Responses", {}).get(self.name, [])]
            # DynamoDB may leave keys unprocessed under load: ask again, backing off as it advises.
            unprocessed = answer.get("UnprocessedKeys", {}).get(self.name, {}).get("Keys", [])
            if unprocessed:
                time.sleep(min(1.0, 0.05 * 2**attempt))
                attempt += 1
            pending += unprocessed
        return found

    def delete_all(self, keys: list[dict[str, str]]) -> None:
        """Delete the items of these keys (BatchWriteItem, 25 a call: no transaction is needed to
        delete what nobody writes any more); what DynamoDB leaves unprocessed is asked again."""
        pending = [{"DeleteRequest": {"Key": encode(key)}} for key in keys]
        attempt = 0
        while pending:
            chunk, pending = pending[:BATCH_WRITE_MAX], pending[BATCH_WRITE_MAX:]
            answer = self.db.batch_write_item(RequestItems={self.name: chunk})
            unprocessed = answer.get("UnprocessedItems", {}).get(self.name, [])
            if unprocessed:
                attempt += 1
                if attempt > TRANSACTION_ATTEMPTS:  # the caller's retry deletes the rest
                    raise RuntimeError("the ledger kept leaving deletions unprocessed")
                time.sleep(min(1.0, 0.05 * 2**attempt))
            pending += unprocessed

    def query(self, **request: Any) -> list[dict[str, Any]]:
        """Every item a Query finds (all its pages), as plain values."""
        items: list[dict[str, Any]] = []
        start: dict[str, Any] = {}
        while True:
            page = self.db.query(TableName=self.name, **request, **start)
            items += [decode(found_item) for found_item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return items
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def _key_of(operation: dict[str, Any]) -> tuple[str, str]:
    (write,) = operation.values()
    item = write.get("Key") or write["Item"]
    return item["request_id"]["S"], item["item"]["S"]


def outcome_item(vendor: str, id_hash: str) -> str:
    return f"{OUTCOME_PREFIX}{vendor}#{id_hash}"


def encode(values: dict[str, Any]) -> dict[str, Any]:
    """A Python dict as DynamoDB attribute values."""
    return {key: attribute(value) for key, value in values.items()}


def attribute(value: Any) -> dict[str, Any]:
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
        return {"M": {key: attribute(item) for key, item in value.items()}}
    if isinstance(value, (set, frozenset)):
        return {"SS": sorted(value)}
    if isinstance(value, (list, tuple)):
        return {"L": [attribute(item) for item in value]}
    raise TypeError(f"the ledger stores no {type(value).__name__}")


def decode(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _from_dynamodb(value) for key, value in item.items()}


def _in_parallel(work: Callable[[list[int]], None], writers: int, chunks: list[list[int]]) -> None:
    if len(chunks) <= 1 or writers <= 1:  # no thread for the common single call
        for chunk in chunks:
            work(chunk)
        return
    with ThreadPoolExecutor(max_workers=min(writers, len(chunks))) as pool:
        list(pool.map(work, chunks))


class KeyedBook:
    """A part of the ledger that writes about identifiers, over the shared table: `hasher` keys
    them (only keyed hashes are stored)."""

    def __init__(self, table: LedgerTable, hasher: IdentifierHasher):
        self.table = table
        self.hasher = hasher

    @classmethod
    def from_settings(cls, settings: LedgerSettings, hasher: IdentifierHasher) -> Self:
        """This part of the ledger the function's settings name."""
        return cls(LedgerTable.from_settings(settings), hasher)
