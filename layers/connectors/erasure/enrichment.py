"""Cross-vendor enrichment: what one vendor's lookup ties to the person (an external id, an
email, a phone) is carried to every other vendor that serves it, as a new step of the same
request (`learned`, `learned_from`), never silently: each learned identifier is recorded first
(as a keyed hash, with where it came from), and the receipt awaits every vendor it was sent to.

One hop: a step's own lookups resolve its learned identifiers at that vendor, but teach no one.
A vendor's own ids (its profile ids) go to no other vendor, which cannot use them; an
email or phone goes back to the vendor that learned it too, whose lookup by it finds the
person's other (anonymous) profiles there; its own person key (the external id) does not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from erasure.ledger.learned import Learned, LearnedBook
from erasure.request import DeletionRequest, Identifier, IdentifierType
from erasure.resolution import Resolution
from erasure.sealing import UNSEALED, Sealer, vendor_message
from erasure.vendors.base import Connector

DISAGREE = "another vendor tied this request to a different external id: two people may share the address"
PORTABLE = frozenset({IdentifierType.EXTERNAL_ID, IdentifierType.EMAIL, IdentifierType.PHONE_NUMBER})
SendBatch = Callable[[str, list[str]], None]  # (queue URL, bodies); raises FanOutFailed


class Enrichment:
    def __init__(
        self,
        source: str,
        connectors: Mapping[str, Connector],
        queue_urls: Mapping[str, str],
        book: LearnedBook | None,
        send_batch: SendBatch,
        sealer: Sealer = UNSEALED,
    ):
        self.source = source
        self.sealer = sealer
        self.connectors = connectors
        self.queue_urls = queue_urls
        self.book = book
        self.send_batch = send_batch

    def forward(self, resolutions: list[Resolution], expiries: Mapping[str, int]) -> None:
        """Record, then send, what each resolution learned; raises (FanOutFailed, a ledger error)
        before anything is deleted, so that a retry learns it again."""
        if self.book is None:
            return
        noted: list[tuple[DeletionRequest, list[Learned]]] = []
        held: dict[tuple[str, Identifier], str] = {}
        steps: list[tuple[str, DeletionRequest]] = []  # (vendor, the step it is sent)
        for resolution in resolutions:
            request, learned = resolution.request, resolution.learned()
            if not learned:
                continue
            held.update(self._held_back(request, learned, expiries))
            routed = [
                (i, via, () if (request.request_id, i) in held else tuple(self._destinations(request, i)))
                for i, via in learned
            ]
            noted.append((request, routed))
            for vendor in sorted({v for _, _, to in routed for v in to}):
                ids = tuple(i for i, _, to in routed if vendor in to)
                steps.append((vendor, replace(request, learned=ids, learned_from=self.source)))
        # Kept first (the steps name them), then noted (the receipt awaits them), then sent.
        texts = self.sealer.seal([(step, vendor_message(step)) for _, step in steps])
        if noted:
            self.book.note(self.source, noted, expiries, held)
        bodies: dict[str, list[str]] = {}
        for (vendor, _), text in zip(steps, texts, strict=True):
            bodies.setdefault(vendor, []).append(text)
        for vendor, messages in bodies.items():
            self.send_batch(self.queue_urls[vendor], messages)

    def _held_back(
        self,
        request: DeletionRequest,
        learned: list[tuple[Identifier, Identifier]],
        expiries: Mapping[str, int],
    ) -> dict[tuple[str, Identifier], str]:
        """What is not sent, and why: everything, when another vendor tied the request to a
        different external id (two people may share the address); the external id alone, when
        another vendor learned and carried the same one. A request that names its own external
        id needs no tie (a profile naming another is ambiguous already)."""
        assert self.book is not None
        found = [i for i, _ in learned if i.type is IdentifierType.EXTERNAL_ID]
        if not found or any(i.type is IdentifierType.EXTERNAL_ID for i in request.identifiers):
            return {}
        tied_by, same = self.book.tie(self.source, request, found[0], expiries.get(request.request_id))
        if not same:
            return {(request.request_id, i): DISAGREE for i, _ in learned}
        if tied_by == self.source:  # this vendor's own tie (a retry sends it again: harmless)
            return {}
        return {(request.request_id, found[0]): f"carried already by {tied_by}"}

    def _destinations(self, request: DeletionRequest, identifier: Identifier) -> list[str]:
        """The vendors (of the request's, with a queue here) that serve this identifier; none
        for a vendor's own id, which its vendor deletes already."""
        if identifier.type not in PORTABLE:
            return []
        return [
            vendor
            for vendor, connector in self.connectors.items()
            if vendor in self.queue_urls
            and (request.vendors is None or vendor in request.vendors)
            and connector.skip_reason(request.action, identifier) is None
            # Back to the vendor that learned it, an address finds the person's other profiles
            # there; its own person key names the profile it has just erased.
            and not (vendor == self.source and identifier.type is connector.person_type)
        ]
