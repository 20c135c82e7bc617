"""Intake: one deletion request for a person, carried to every vendor that can act on it.

Submitting is idempotent through the ledger's conditional write (one mechanism): the same
request_id returns the first answer. Fan-out sends one message per target vendor straight to that
vendor's queue (batched), then marks those vendors in the ledger; a crash in between is completed
by the next delivery of the same request, which sends only what is not yet marked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from erasure.aws_clients import FanOutFailed
from erasure.ledger import ConflictingRequest, Ledger, StoredRequest
from erasure.observability import logger
from erasure.request import DeletionRequest
from erasure.vendors import CONNECTORS

# Ledger writes of one bulk in flight at once: independent items, so latency, not order, matters.
LEDGER_WRITERS = 16
SendBatch = Callable[[str, list[str]], None]  # (queue URL, bodies); raises FanOutFailed


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


class Intake:
    def __init__(self, routing: Routing, ledger: Ledger, send_batch: SendBatch):
        self.routing = routing
        self.ledger = ledger
        self.send_batch = send_batch

    def submit(self, request: DeletionRequest) -> dict[str, Any]:
        (answer,) = self.submit_many([request])
        if isinstance(answer, ConflictingRequest):
            raise answer
        return answer

    def submit_many(self, requests: list[DeletionRequest]) -> list[dict[str, Any] | ConflictingRequest]:
        """The first answer for each request (or its conflict), once every target queue has it.

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

    def _submit_distinct(self, requests: list[DeletionRequest]) -> list[dict[str, Any] | ConflictingRequest]:
        with ThreadPoolExecutor(max_workers=LEDGER_WRITERS) as pool:
            stored = list(pool.map(self._open, requests))

        outbox: dict[str, list[int]] = {}  # vendor -> indexes of requests still to send there
        for index, entry in enumerate(stored):
            if isinstance(entry, StoredRequest):
                for vendor in entry.answer["vendors"]:
                    if vendor not in entry.fanned_out:
                        outbox.setdefault(vendor, []).append(index)
        sent: dict[int, set[str]] = {}
        failures: list[str] = []
        unsent: set[int] = set()
        for vendor, indexes in outbox.items():
            try:
                self.send_batch(
                    self.routing.queue_urls[vendor], [vendor_message(requests[i]) for i in indexes]
                )
            except FanOutFailed as failure:
                failures.append(f"{vendor}: {failure}")
                unsent.update(indexes)
                continue
            for index in indexes:
                sent.setdefault(index, set()).add(vendor)
        # Marked only once accepted: a resubmission then sends exactly what is missing.
        with ThreadPoolExecutor(max_workers=LEDGER_WRITERS) as pool:
            marks = [(requests[index].request_id, vendors) for index, vendors in sent.items()]
            list(pool.map(lambda mark: self.ledger.mark_fanned_out(*mark), marks))
        if failures:
            raise FanOutFailed("; ".join(failures), sorted(requests[i].request_id for i in unsent))

        for index, entry in enumerate(stored):
            logger.info(
                "request accepted" if isinstance(entry, StoredRequest) else "request conflicts",
                extra={"request_id": requests[index].request_id, "sent_to": sorted(sent.get(index, ()))},
            )
        return [e.answer if isinstance(e, StoredRequest) else e for e in stored]

    def _open(self, request: DeletionRequest) -> StoredRequest | ConflictingRequest:
        targets, skipped = self.routing.plan(request)
        answer = {"request_id": request.request_id, "vendors": targets, "skipped": skipped}
        try:
            return self.ledger.open_request(request, answer, self.fingerprint(request))
        except ConflictingRequest as conflict:
            return conflict

    def fingerprint(self, request: DeletionRequest) -> str:
        """What makes two submissions the same request, keyed so that it reveals no identifier."""
        message = request.to_message()
        del message["request_id"], message["requested_at"]
        return self.ledger.hasher.digest(json.dumps(message, sort_keys=True))


def vendor_message(request: DeletionRequest) -> str:
    """What a vendor queue receives: the request with its id and time fixed, without `vendors`."""
    message = request.to_message()
    message.pop("vendors", None)
    return json.dumps(message)
