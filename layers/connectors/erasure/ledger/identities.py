"""Where a request's identifiers are readable while the relay still needs them, and nowhere else:
one `ID#<id_hash>` item per identifier, in the ledger (encrypted at rest under the relay's key like
every item). The relay's own queue messages name identifiers by hash only (erasure.sealing); a
vendor function reads the values here, with one BatchGetItem a batch.

They go when the request is final: the receipts function deletes them as it publishes the final
state, before noting it (the request stays in the deadline index, watched, until they are gone);
an abandoned request is final too. A request no intake recorded (a vendor route's, a message sent
straight to a vendor queue) is never published: its go when the ledger's stream shows it final.
Their TTL, at the longest a request may live (REQUEST_MAX_LIFETIME_DAYS) and a day, is only the
backstop: DynamoDB's TTL takes days."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from erasure.identifiers import read_identifiers
from erasure.ledger.table import KeyedBook, LedgerTable, encode, outcome_item
from erasure.observability import IdentifierHasher
from erasure.receipt import LEARNED_PREFIX
from erasure.request import FieldError, Identifier, identity_of, utc_timestamp

IDENTITY_PREFIX = "ID#"
KEPT_AT = "kept_at_"  # + the keeper: when it last kept the identifier
MARGIN_S = 86400  # past the longest life: the abandoning watch runs hourly


def identity_item(id_hash: str) -> str:
    return f"{IDENTITY_PREFIX}{id_hash}"


class IdentityBook(KeyedBook):
    def __init__(self, table: LedgerTable, hasher: IdentifierHasher, lifetime_days: float, keeper: str):
        super().__init__(table, hasher)
        self.lifetime_s = int(lifetime_days * 86400) + MARGIN_S
        self.keeper = keeper  # "intake", or the vendor whose function keeps them

    def keep(self, identifiers: Iterable[tuple[str, Identifier, bool]]) -> None:
        """Make each (request_id, identifier, acted on) readable by its hash (again: keeping is
        idempotent); `acted on`: the keeper will write an outcome for it (`kept_at_<keeper>`)."""
        expiry = min(self.table.expiry(), int(time.time()) + self.lifetime_s)
        now = utc_timestamp()
        kept: dict[tuple[str, str], tuple[Identifier, bool]] = {}
        for request_id, identifier, acted_on in identifiers:
            key = (request_id, self.hasher(identifier))
            kept[key] = (identifier, acted_on or kept.get(key, (identifier, False))[1])
        if not kept:
            return
        self.table.write_all(
            [
                self._kept(request_id, id_hash, identifier, acted_on, expiry, now)
                for (request_id, id_hash), (identifier, acted_on) in sorted(
                    kept.items(), key=lambda kv: kv[0]
                )
            ]
        )

    def _kept(
        self, request_id: str, id_hash: str, identifier: Identifier, acted_on: bool, expiry: int, now: str
    ) -> dict[str, Any]:
        # A new expiry each time: an item left expired (TTL takes days) lives again.
        update = "SET #identity = :identity, expires_at = :expiry" + (", #kept = :now" if acted_on else "")
        names = {"#identity": "identity", **({"#kept": KEPT_AT + self.keeper} if acted_on else {})}
        values = {
            ":identity": identity_of((identifier,)),
            ":expiry": expiry,
            **({":now": now} if acted_on else {}),
        }
        return {
            "Update": {
                "TableName": self.table.name,
                "Key": encode({"request_id": request_id, "item": identity_item(id_hash)}),
                "UpdateExpression": update,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": encode(values),
            }
        }

    def read(self, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Identifier]:
        """The identifiers of these (request_id, id_hash) that are still kept (not yet forgotten,
        not past their lifetime)."""
        keys = [{"request_id": r, "item": identity_item(h)} for r, h in sorted(set(wanted))]
        if not keys:
            return {}
        now = int(time.time())
        found: dict[tuple[str, str], Identifier] = {}
        for item in self.table.get_all(keys, ("request_id", "item", "identity", "expires_at")):
            errors: list[FieldError] = []
            read = read_identifiers(item.get("identity"), errors)
            if int(item.get("expires_at", now)) >= now and len(read) == 1 and not errors:
                found[(item["request_id"], item["item"].removeprefix(IDENTITY_PREFIX))] = read[0]
        return found


def forget(
    table: LedgerTable, request_id: str, items: Iterable[Mapping[str, Any]], head: str | None = None
) -> int:
    """Delete the request's kept identifiers among its `items` (as a Query read them), then note
    `forgotten_at` on its `head` item if given (a message naming them is then over); how many."""
    names = [str(i["item"]) for i in items if str(i["item"]).startswith(IDENTITY_PREFIX)]
    if not names:
        return 0
    table.delete_all([{"request_id": request_id, "item": name} for name in names])
    if head:
        try:
            table.db.update_item(
                TableName=table.name,
                Key=encode({"request_id": request_id, "item": head}),
                UpdateExpression="SET forgotten_at = :now",
                ConditionExpression="attribute_exists(request_id)",  # gone (expired): nothing to say
                ExpressionAttributeValues=encode({":now": utc_timestamp()}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
    return len(names)


def answered_since_kept(items: Iterable[Mapping[str, Any]]) -> bool:
    """Whether every function that kept an identifier it acts on has written its outcome for
    that identifier since (or learned it: the receipt then awaits the vendors it went to). A
    request no intake recorded has no list of its vendors: between a keep and that outcome (the
    same invocation, which writes a profile's outcome before its identifier's) its receipt may
    look final without it."""
    listed = list(items)
    names = {str(item["item"]): item for item in listed}
    for item in listed:
        name = str(item["item"])
        if not name.startswith(IDENTITY_PREFIX):
            continue
        id_hash = name.removeprefix(IDENTITY_PREFIX)
        for attribute, kept_at in item.items():
            if not attribute.startswith(KEPT_AT):
                continue
            vendor = attribute.removeprefix(KEPT_AT)
            outcome = names.get(outcome_item(vendor, id_hash), {})
            answered = str(outcome.get("updated_at", "")) >= str(kept_at)
            if not answered and f"{LEARNED_PREFIX}{vendor}#{id_hash}" not in names:
                return False
    return True
