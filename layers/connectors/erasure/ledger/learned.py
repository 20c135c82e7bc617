"""Enrichment's part of the ledger: each identifier a vendor's lookup learned of a request's
person, as a keyed hash with where it was learned (the vendor, and the given identifier whose
profiles named it) and the vendors it was sent to, which the receipt then awaits."""

from __future__ import annotations

from collections.abc import Mapping

from erasure.ledger.table import KeyedBook, encode
from erasure.receipt import LEARNED_PREFIX
from erasure.request import DeletionRequest, Identifier, utc_timestamp

# A learned identifier: (identifier, the given one that found it, the vendors it goes to).
Learned = tuple[Identifier, Identifier, tuple[str, ...]]
PERSON_ITEM = "PERSON"  # the one external id enrichment has tied the request to (its hash)


class LearnedBook(KeyedBook):
    def tie(
        self, source: str, request: DeletionRequest, external_id: Identifier, expiry: int | None
    ) -> tuple[str, bool]:
        """Tie the request to this learned external id, atomically, unless a vendor did before:
        (the vendor whose tie stands, whether it is to this external id)."""
        id_hash = self.hasher(external_id)
        key = {"request_id": request.request_id, "item": PERSON_ITEM}
        update = {
            "TableName": self.table.name,
            "Key": encode(key),
            "UpdateExpression": "SET external_id_hash = :h, tied_by = :v, expires_at = :e",
            "ConditionExpression": "attribute_not_exists(external_id_hash)",
            "ExpressionAttributeValues": encode(
                {":h": id_hash, ":v": source, ":e": expiry or self.table.expiry()}
            ),
        }
        if self.table.write_all([{"Update": update}])[0]:
            return source, True
        (tied,) = self.table.get_all([key], ("external_id_hash", "tied_by"))
        return str(tied["tied_by"]), tied["external_id_hash"] == id_hash

    def note(
        self,
        source: str,
        learned: list[tuple[DeletionRequest, list[Learned]]],
        expiries: Mapping[str, int],
        held: Mapping[tuple[str, Identifier], str] | None = None,
    ) -> None:
        """Record what `source` learned, before it is sent: from then on the receipt awaits each
        vendor's outcome for it. Idempotent (a retry writes the same items again)."""
        now = utc_timestamp()
        writes = []
        for request, found in learned:
            for identifier, via, sent_to in found:
                id_hash = self.hasher(identifier)
                item = {
                    "vendor": source,
                    "identifier": identifier.label,
                    "id_hash": id_hash,
                    "via": via.label,
                    "via_hash": self.hasher(via),
                    "sent_to": sorted(sent_to),
                    "withheld": (held or {}).get((request.request_id, identifier)),
                    "learned_at": now,
                    "expires_at": expiries.get(request.request_id) or self.table.expiry(),
                }
                names = {f"#{k}": k for k in item}
                writes.append(
                    {
                        "Update": {
                            "TableName": self.table.name,
                            "Key": encode(
                                {
                                    "request_id": request.request_id,
                                    "item": f"{LEARNED_PREFIX}{source}#{id_hash}",
                                }
                            ),
                            "UpdateExpression": "SET " + ", ".join(f"#{k} = :{k}" for k in item),
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": encode({f":{k}": v for k, v in item.items()}),
                        }
                    }
                )
        if writes:
            self.table.write_all(writes)  # unconditional: each is made, or the call raises
