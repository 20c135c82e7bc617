"""Intake: one deletion request for a person, carried to every vendor that can act on it.

Submitting is idempotent through the ledger's conditional write (one mechanism): the same
request_id returns the first answer. Fan-out sends one message per target vendor straight to that
vendor's queue (batched), then marks those vendors in the ledger; a crash in between is completed
by the next delivery of the same request, which sends only what is not yet marked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from erasure.aws_clients import SQS_BATCH
from erasure.errors import ConflictingRequest, FanOutFailed
from erasure.ledger import RequestBook, StoredRequest, content_fingerprint
from erasure.observability import CORRELATION_ID, logger
from erasure.request import DeletionRequest, parse
from erasure.sealing import UNSEALED, Sealer, vendor_message
from erasure.vendors import CONNECTORS

# SendMessageBatch calls of one bulk in flight at once: independent, so latency, not order, matters.
SENDERS = 16
SendBatch = Callable[[str, list[str]], None]  # (queue URL, bodies); raises FanOutFailed
KNOWN_VENDORS = frozenset(CONNECTORS)


@dataclass(frozen=True)
class Routing:
    """Which vendor queues exist in this deployment."""

    queue_urls: Mapping[str, str]

    def plan(self, request: DeletionRequest) -> tuple[list[str], dict[str, str]]:
        """(vendors to send to, {vendor: why it is skipped})."""
        targets, skipped = [], {}
        for vendor in request.vendors or tuple(CONNECTORS):
            connector = CONNECTORS[vendor]
            if vendor not in self.queue_urls:
                skipped[vendor] = "not configured in this deployment"
            elif all(connector.skip_reason(request.action, i) for i in request.identifiers):
                served = "; ".join(
                    f"{action}: {', '.join(sorted(types))}" for action, types in connector.serves.items()
                )
                skipped[vendor] = f"serves none of these identifiers for {request.action} (serves {served})"
            else:
                targets.append(vendor)
        return targets, skipped


@dataclass(frozen=True)
class NotSent:
    """A request recorded, but not taken by every vendor queue: the same submission completes it."""

    request_id: str
    reason: str


Submitted = dict[str, Any] | ConflictingRequest | NotSent


class Intake:
    def __init__(
        self,
        routing: Routing,
        ledger: RequestBook,
        send_batch: SendBatch,
        enrich_default: bool = False,
        sealer: Sealer = UNSEALED,
    ):
        self.routing = routing
        self.sealer = sealer  # the vendor queues get identifiers named, kept in the ledger
        self.ledger = ledger
        self.send_batch = send_batch
        self.enrich_default = enrich_default  # ENRICH_DEFAULT: for a request that does not say

    def read(self, body: Any, **defaults: Any) -> DeletionRequest:
        """A submitted body as a request (InvalidRequest naming every bad field)."""
        return parse(body, known_vendors=KNOWN_VENDORS, default_enrich=self.enrich_default, **defaults)

    def submit(self, request: DeletionRequest) -> dict[str, Any]:
        (answer,) = self.submit_many([request])
        if isinstance(answer, ConflictingRequest):
            raise answer
        if isinstance(answer, NotSent):
            raise FanOutFailed(answer.reason, [answer.request_id])
        return answer

    def submit_many(self, requests: list[DeletionRequest]) -> list[Submitted]:
        """The first answer for each request, its conflict, or what was not sent, once every
        target queue has it; each request gets its own, whatever happened to the others.

        A request_id given twice in one bulk is one request: opened and fanned out once, and both
        places answered alike (or the later one with a conflict, if it asks something else)."""
        first: dict[str, int] = {}
        for index, request in enumerate(requests):
            first.setdefault(request.request_id, index)
        distinct = list(first.values())
        submitted = self._submit_distinct([requests[i] for i in distinct])
        by_id = {requests[i].request_id: answer for i, answer in zip(distinct, submitted, strict=True)}
        return [
            by_id[r.request_id]
            if first[r.request_id] == index
            or self.fingerprint(r) == self.fingerprint(requests[first[r.request_id]])
            else ConflictingRequest(r.request_id)
            for index, r in enumerate(requests)
        ]

    def _submit_distinct(self, requests: list[DeletionRequest]) -> list[Submitted]:
        stored = self.ledger.open_requests([self._entry(request) for request in requests])
        # Kept once for every queue the messages go to, which name them: none for a conflict, nor
        # for a request every queue has (a final one's are forgotten, and stay so).
        self.sealer.keep(
            [
                r
                for r, e in zip(requests, stored, strict=True)
                if isinstance(e, StoredRequest) and set(e.answer["vendors"]) - e.fanned_out
            ]
        )
        sent, unsent = self._fan_out(requests, stored)
        # Marked only once accepted: a resubmission then sends exactly what is missing.
        self.ledger.mark_fanned_out(
            [(requests[index].request_id, vendors) for index, vendors in sent.items()]
        )
        answers: list[Submitted] = []
        for index, entry in enumerate(stored):
            request_id = requests[index].request_id
            if index in unsent:
                answers.append(NotSent(request_id, "; ".join(sorted(unsent[index]))))
                logger.warning("request not sent to every vendor", extra={CORRELATION_ID: request_id})
                continue
            logger.info(
                "request accepted" if isinstance(entry, StoredRequest) else "request conflicts",
                extra={CORRELATION_ID: request_id, "sent_to": sorted(sent.get(index, ()))},
            )
            answers.append(entry.answer if isinstance(entry, StoredRequest) else entry)
        return answers

    def _fan_out(
        self, requests: list[DeletionRequest], stored: list[StoredRequest | ConflictingRequest]
    ) -> tuple[dict[int, set[str]], dict[int, set[str]]]:
        """Send each stored request to the vendor queues that do not have it yet: ({index: vendors
        that took it}, {index: why a vendor did not})."""
        sends: list[tuple[str, list[int]]] = []  # (vendor, indexes of requests), one call each
        for vendor in CONNECTORS:
            indexes = [
                index
                for index, entry in enumerate(stored)
                if isinstance(entry, StoredRequest)
                and vendor in entry.answer["vendors"]
                and vendor not in entry.fanned_out
            ]
            sends += [(vendor, indexes[n : n + SQS_BATCH]) for n in range(0, len(indexes), SQS_BATCH)]

        def send(job: tuple[str, list[int]]) -> str | None:
            vendor, indexes = job
            bodies = self.sealer.seal(
                [(requests[i], vendor_message(requests[i])) for i in indexes], kept=True
            )
            try:
                self.send_batch(self.routing.queue_urls[vendor], bodies)
            except FanOutFailed as failure:
                return f"{vendor}: {failure}"
            return None

        with ThreadPoolExecutor(max_workers=SENDERS) as pool:
            failed = list(pool.map(send, sends))
        sent: dict[int, set[str]] = {}
        unsent: dict[int, set[str]] = {}
        for (vendor, indexes), failure in zip(sends, failed, strict=True):
            for index in indexes:
                if failure:
                    unsent.setdefault(index, set()).add(failure)
                else:
                    sent.setdefault(index, set()).add(vendor)
        return sent, unsent

    def _entry(
        self, request: DeletionRequest
    ) -> tuple[DeletionRequest, dict[str, Any], str, dict[str, list]]:
        """What the ledger records of a request: its first answer, fingerprint, and for each
        targeted vendor the identifiers it does not serve (so that the vendor writes none)."""
        targets, skipped = self.routing.plan(request)
        answer = {"request_id": request.request_id, "vendors": targets, "skipped": skipped}
        identifiers_skipped = {}
        for vendor in targets:
            reasons = [(i, CONNECTORS[vendor].skip_reason(request.action, i)) for i in request.identifiers]
            if any(reason for _, reason in reasons):
                identifiers_skipped[vendor] = [
                    {"identifier": i.label, "id_hash": self.ledger.hasher(i), "reason": reason}
                    for i, reason in reasons
                    if reason
                ]
        return request, answer, self.fingerprint(request), identifiers_skipped

    def fingerprint(self, request: DeletionRequest) -> str:
        """What makes two submissions the same request, keyed so that it reveals no identifier."""
        return content_fingerprint(self.ledger.hasher, request, with_vendors=True)
