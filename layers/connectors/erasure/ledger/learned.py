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
    def tie(self, request: DeletionRequest, external_id: Identifier, expiry: int | None) -> bool:
        """Tie the request to this learned external id, unless another vendor tied it to a
        different one first (atomically): False then, and what this vendor learned is withheld."""
        id_hash = self.hasher(external_id)
        made = self.table.write_all(
            [
                {
                    "Update": {
                        "TableName": self.table.name,
                        "Key": encode({"request_id": request.request_id, "item": PERSON_ITEM}),
                        "UpdateExpression": "SET external_id_hash = :h, expires_at = :e",
                        "ConditionExpression": "attribute_not_exists(external_id_hash)"
                        " OR external_id_hash = :h",
                        "ExpressionAttributeValues": encode(
                            {":h": id_hash, ":e": expiry or self.table.expiry()}
                        ),
                    }
                }
            ]
        )
        return made[0]

    def note(
        self,
        source: str,
        learned: list[tuple[DeletionRequest, list[Learned]]],
        expiries: Mapping[str, int],
        withheld: Mapping[str, str] | None = None,
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
                    "withheld": (withheld or {}).get(request.request_id),
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
