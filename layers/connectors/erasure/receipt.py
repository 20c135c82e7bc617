"""The receipt: what a privacy team shows an auditor about one request, computed from the ledger's
items by pure rules (no AWS here). Each fact has one name, the same in the receipt, the vendor
route's answer and the status events: `http_status` is the last call's, `last_attempt_at` when
it was made (`first_attempt_at` the first's).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from erasure.outcomes import Outcome, Verification

REQUEST_ITEM = "REQUEST"
CLAIM_ITEM = "CLAIM"
HEADS = (REQUEST_ITEM, CLAIM_ITEM)  # a request's first item: intake's record, or a claim
OUTCOME_PREFIX = "OUTCOME#"
LEARNED_PREFIX = "LEARNED#"  # LEARNED#<vendor>#<id_hash>: an identifier that vendor's lookup learned


class RequestStatus(StrEnum):
    PENDING = "pending"  # no vendor has answered yet
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    PARTIALLY_COMPLETED = "partially_completed"
    FAILED = "failed"
    REJECTED = "rejected"  # an intake message that was not a request
    CANCELLED = "cancelled"  # cancelled, and every vendor has answered: what it took, or nothing
    # Not final after the longest a request may live: what was not done is listed as awaiting,
    # and will not be (its messages are gone from every queue).
    ABANDONED = "abandoned"


class RequestVerification(StrEnum):
    """What the vendors' read APIs showed of a request, over its identifiers."""

    PENDING = "pending"  # a check or an outcome to come
    STILL_PRESENT = "still_present"  # any identifier
    VERIFIED = "verified"  # every identifier a vendor was asked to erase taken and found gone
    PARTIALLY_VERIFIED = "partially_verified"  # some gone; the rest unverifiable, or refused
    UNVERIFIABLE = "unverifiable"  # no lookup could tell any
    NOT_APPLICABLE = "not_applicable"  # nothing to check: refused, skipped


@dataclass(frozen=True)
class IdentifierOutcome:
    """One vendor's outcome for one identifier of the request, as the receipt shows it."""

    vendor: str
    identifier: str  # its type (label), never its value
    id_hash: str
    outcome: Outcome
    reason: str | None = None
    http_status: int | None = None
    first_attempt_at: str | None = None
    last_attempt_at: str | None = None
    completed_at: str | None = None
    updated_at: str | None = None
    attempts: int = 0
    evidence: dict[str, Any] | None = None
    verification: Verification | None = None
    verification_reason: str | None = None
    verification_due_at: str | None = None
    verification_checks: int = 0
    checked_at: str | None = None
    verification_evidence: dict[str, Any] | None = None
    # Identity resolution: the profile ids this identifier was erased through (type and keyed
    # hash), or the keyed hash of the identifier whose lookup found this profile id.
    resolved_to: list[dict[str, str]] | None = None
    resolved_from: str | None = None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> IdentifierOutcome:
        """From an outcome item (numbers as the store gives them: Decimal or int)."""
        return cls(
            vendor=item["vendor"],
            identifier=item["identifier"],
            id_hash=item["id_hash"],
            outcome=Outcome(item["outcome"]),
            reason=item.get("reason"),
            http_status=_int(item.get("last_http_status")),
            first_attempt_at=item.get("first_attempt_at"),
            last_attempt_at=item.get("last_attempt_at"),
            completed_at=item.get("completed_at"),
            updated_at=item.get("updated_at"),
            attempts=_int(item.get("attempts")) or 0,
            evidence=_evidence(item.get("evidence")),
            verification=Verification(item["verification"]) if item.get("verification") else None,
            verification_reason=item.get("verification_reason"),
            verification_due_at=item.get("verification_due_at"),
            verification_checks=_int(item.get("verification_checks")) or 0,
            checked_at=item.get("checked_at"),
            verification_evidence=_evidence(item.get("verification_evidence")),
            resolved_to=list(item["resolved_to"]) if item.get("resolved_to") else None,
            resolved_from=item.get("resolved_from"),
        )


@dataclass(frozen=True)
class Receipt:
    request_id: str
    status: RequestStatus
    verification: RequestVerification
    final: bool
    action: str | None
    created_at: str | None
    requested_at: str | None
    regulation: str | None
    due_by: str | None
    identifiers: list[dict[str, str]]
    vendors: dict[str, list[IdentifierOutcome]]
    awaiting: list[dict[str, str]]
    skipped: dict[str, str]
    errors: list[dict[str, str]] = field(default_factory=list)
    dry_run: bool = False
    enrich: bool = False
    cancelled_at: str | None = None
    abandoned_at: str | None = None
    # Identifiers vendors' lookups tied to the person (keyed hashes): where each was learned, and
    # the vendors it was carried to (whose outcomes for it are under `vendors`).
    learned: list[dict[str, Any]] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        """What a status event tells: status, verification, finality and deadline."""
        return {
            "status": str(self.status),
            "verification": str(self.verification),
            "final": self.final,
            "due_by": self.due_by,
        }

    def as_json(self) -> dict[str, Any]:
        """The receipt as answered (GET /v1/deletions/{request_id})."""
        document = asdict(self)
        if not self.errors:
            del document["errors"]
        return document


def build_receipt(
    request_id: str, items: Iterable[Mapping[str, Any]], now: float | None = None
) -> Receipt | None:
    """The receipt of a request from all its items; None when it has no live first item (expired,
    or never opened: outcomes without their request are not a receipt)."""
    moment = int(time.time() if now is None else now)
    live = [i for i in items if int(i.get("expires_at", moment)) >= moment]
    if not any(i["item"] in HEADS for i in live):
        return None
    request = next((i for i in live if i["item"] == REQUEST_ITEM), {})
    # An item without an outcome yet (seen mid-write by a store that is not atomic per item, as
    # moto is) is not an answer: its pair stays awaiting.
    outcomes = [
        IdentifierOutcome.from_item(i)
        for i in live
        if i["item"].startswith(OUTCOME_PREFIX) and i.get("outcome")
    ]
    learned = _learned(live)
    # The vendors sent the request itself; those sent only what enrichment learned come after.
    given_to = list(request.get("vendors_targeted", ())) or sorted({o.vendor for o in outcomes})
    sent_learned = {v for entry in learned for v in entry["sent_to"]}
    targeted = given_to + sorted(sent_learned - set(given_to))
    outcomes += _skipped_at_intake(request, outcomes)
    awaiting = _awaiting(request, given_to, learned, outcomes)
    dry_run = bool(request.get("dry_run"))
    abandoned = bool(request.get("abandoned_at"))
    final = abandoned or (
        not awaiting
        and all(
            (o.outcome.is_final or (dry_run and o.outcome is Outcome.UNAUTHORIZED))
            and o.verification is not Verification.PENDING
            for o in outcomes
        )
    )
    status = overall_status([o.outcome for o in outcomes], len(awaiting))
    if request.get("cancelled_at") and any(o.outcome is Outcome.CANCELLED for o in outcomes) and final:
        status = RequestStatus.CANCELLED
    if abandoned:
        status = RequestStatus.ABANDONED
    return Receipt(
        request_id=request_id,
        status=RequestStatus(request["status"]) if request.get("status") else status,
        verification=overall_verification([(o.outcome, o.verification) for o in outcomes], final),
        final=final,
        action=request.get("action"),
        created_at=request.get("created_at"),
        requested_at=request.get("requested_at"),
        regulation=request.get("regulation"),
        due_by=request.get("due_by"),
        identifiers=list(request.get("identifiers", [])),
        vendors={
            vendor: sorted((o for o in outcomes if o.vendor == vendor), key=lambda o: o.identifier)
            for vendor in targeted
        },
        awaiting=awaiting,
        skipped={v: why for v, why in request.get("vendors_skipped", {}).items() if v not in targeted},
        errors=list(request.get("errors") or []),
        dry_run=dry_run,
        enrich=bool(request.get("enrich")),
        cancelled_at=request.get("cancelled_at"),
        abandoned_at=request.get("abandoned_at"),
        learned=learned,
    )


def _skipped_at_intake(
    request: Mapping[str, Any], outcomes: list[IdentifierOutcome]
) -> list[IdentifierOutcome]:
    """Identifiers a targeted vendor does not serve: intake wrote them once, the vendor none."""
    answered = {(o.vendor, o.id_hash) for o in outcomes}
    return [
        IdentifierOutcome(
            vendor,
            skip["identifier"],
            skip["id_hash"],
            Outcome.SKIPPED,
            skip.get("reason"),
            completed_at=request["created_at"],
        )
        for vendor, skips in request.get("identifiers_skipped", {}).items()
        for skip in skips
        if (vendor, skip["id_hash"]) not in answered
    ]


def _awaiting(
    request: Mapping[str, Any],
    given_to: list[str],
    learned: list[dict[str, Any]],
    outcomes: list[IdentifierOutcome],
) -> list[dict[str, str]]:
    """The (vendor, identifier) pairs without an outcome yet: every vendor sent the request writes
    one for each of its identifiers (skipped included), and every vendor a learned identifier was
    sent to for that one, so a pair without one is still on its way."""
    answered = {(o.vendor, o.id_hash) for o in outcomes}
    learned_pairs = {(vendor, e["id_hash"]): e["identifier"] for e in learned for vendor in e["sent_to"]}
    return [
        {"vendor": vendor, **identifier}
        for vendor in given_to
        for identifier in request.get("identifiers", [])
        if (vendor, identifier["id_hash"]) not in answered
    ] + [
        {"vendor": vendor, "identifier": label, "id_hash": id_hash}
        for (vendor, id_hash), label in sorted(learned_pairs.items())
        if (vendor, id_hash) not in answered
    ]


def overall_status(outcomes: list[Outcome], awaiting: int) -> RequestStatus:
    """pending → in_progress → completed | partially_completed | failed, from the outcomes and
    the number of (vendor, identifier) pairs with none yet."""
    states = [Outcome(o) for o in outcomes]
    successes = [s for s in states if s.is_success]
    unsuccessful = [s for s in states if not s.is_success]
    if awaiting and all(s is Outcome.SKIPPED for s in states):
        return RequestStatus.PENDING  # no vendor has answered yet (intake records what none serves)
    if not states:
        return RequestStatus.COMPLETED  # no pair at all: every vendor skipped
    if not unsuccessful and not awaiting:
        return RequestStatus.COMPLETED
    if successes and unsuccessful:
        return RequestStatus.PARTIALLY_COMPLETED
    if not successes and not awaiting and all(s.is_final for s in unsuccessful):
        return RequestStatus.FAILED
    return RequestStatus.IN_PROGRESS


def overall_verification(
    outcomes: list[tuple[Outcome, Verification | None]], final: bool
) -> RequestVerification:
    """Over (outcome, verification) pairs: `verified` only when every identifier a vendor was
    asked to erase was taken and found gone; one refused (its vendor may still hold it) makes it
    partial. Skipped identifiers are ones their vendor does not serve: they are not counted."""
    states = {Verification(v) for _, v in outcomes if v}
    # Refused, not erased because several people hold it, or cancelled: the vendor may still hold it.
    refused = any(Outcome(o) in (Outcome.REFUSED, Outcome.AMBIGUOUS, Outcome.CANCELLED) for o, _ in outcomes)
    if not final:
        return RequestVerification.PENDING
    if Verification.STILL_PRESENT in states:
        return RequestVerification.STILL_PRESENT
    if not states:
        return RequestVerification.NOT_APPLICABLE
    if states == {Verification.VERIFIED_ABSENT}:
        return RequestVerification.PARTIALLY_VERIFIED if refused else RequestVerification.VERIFIED
    if states == {Verification.UNVERIFIABLE}:
        return RequestVerification.UNVERIFIABLE
    return RequestVerification.PARTIALLY_VERIFIED


def _learned(items: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The LEARNED items, oldest first: each identifier as its type and keyed hash, never its value."""
    entries = [
        {
            "identifier": i["identifier"],
            "id_hash": i["id_hash"],
            "learned_from": i["vendor"],
            "via": i.get("via"),
            "via_hash": i.get("via_hash"),
            "sent_to": list(i.get("sent_to") or []),
            "withheld": i.get("withheld"),  # why it was sent nowhere, when it was held back
            "learned_at": i.get("learned_at"),
        }
        for i in items
        if i["item"].startswith(LEARNED_PREFIX)
    ]
    return sorted(entries, key=lambda e: (e["learned_at"] or "", e["learned_from"], e["id_hash"]))


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _evidence(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not value:
        return None
    return {**value, "http_status": _int(value.get("http_status"))}
