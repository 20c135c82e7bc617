"""One outcome taxonomy for every vendor, per identifier, and the shared reading of answers."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum

from erasure.request import Identifier


class Outcome(StrEnum):
    DELETED = "deleted"
    # The vendor took the deletion, but its answer does not prove this identifier was erased
    # (queued, batched later, or no per-identifier detail). Final; verification may follow.
    ACCEPTED = "accepted"
    ALREADY_ABSENT = "already_absent"
    REFUSED = "refused"  # permanent: the vendor will not do it; the reason says why
    UNAUTHORIZED = "unauthorized"  # our credentials or configuration are wrong
    THROTTLED = "throttled"  # try again after the wait the vendor asked for
    TRANSIENT = "transient"  # 5xx, timeouts, resets, malformed answers
    SKIPPED = "skipped"  # this vendor does not serve this action or identifier
    # Identity resolution: the vendor's lookup found the profiles this identifier names, and each
    # was erased by its own id (their outcomes are the profile ids' own, `resolved_from` it).
    RESOLVED = "resolved"
    # Several people (identified profiles with different external ids) hold it: none is erased.
    AMBIGUOUS = "ambiguous"
    # The request was cancelled before this was sent: not asked of the vendor, never will be.
    CANCELLED = "cancelled"
    # A dry run's findings: nothing is deleted.
    WOULD_DELETE = "would_delete"  # the lookup found profiles; they are listed by keyed hash
    NOT_FOUND = "not_found"  # the lookup found no one
    NO_LOOKUP = "no_lookup"  # served, but the vendor has no lookup: a deletion would be sent blind

    @property
    def is_final(self) -> bool:
        return self not in RETRYABLE

    @property
    def is_success(self) -> bool:
        return self in SUCCESSES


RETRYABLE = frozenset({Outcome.THROTTLED, Outcome.TRANSIENT, Outcome.UNAUTHORIZED})
# What a dry run finds (it deletes nothing): each a success of the dry run itself.
DRY_RUN = frozenset({Outcome.WOULD_DELETE, Outcome.NOT_FOUND, Outcome.NO_LOOKUP})
SUCCESSES = frozenset(
    {Outcome.DELETED, Outcome.ACCEPTED, Outcome.ALREADY_ABSENT, Outcome.SKIPPED, Outcome.RESOLVED, *DRY_RUN}
)
# The outcomes a read-back checks: the vendor said the identifier is (or will be) gone.
TO_VERIFY = frozenset({Outcome.DELETED, Outcome.ACCEPTED, Outcome.ALREADY_ABSENT, Outcome.RESOLVED})


class Verification(StrEnum):
    """What the vendor's own read API showed after it took a deletion, per identifier."""

    PENDING = "pending"  # a check is scheduled
    VERIFIED_ABSENT = "verified_absent"  # the lookup found no one
    STILL_PRESENT = "still_present"  # found after the last check (the deletion was sent again)
    UNVERIFIABLE = "unverifiable"  # no lookup can tell, or its answer is ambiguous: the reason says

    @property
    def is_final(self) -> bool:
        """A lookup's finding is an answer (a lookup to try again is a retryable Outcome)."""
        return True


@dataclass(frozen=True)
class Evidence:
    """What a vendor call left to show an auditor: its HTTP status, the vendor's request id when
    it gave one, and a keyed hash of its answer body (which may quote identifiers)."""

    http_status: int
    vendor_request_id: str | None
    body_hash: str

    def as_dict(self) -> dict:
        return {
            "http_status": self.http_status,
            "vendor_request_id": self.vendor_request_id,
            "body_hash": self.body_hash,
        }


@dataclass(frozen=True)
class Profile:
    """One profile a vendor's lookup found: the identifiers its answer names for it, and whose it
    is (`person`: the vendor's key of an identified person, e.g. the external id; None for an
    anonymous profile, such as a lead known only by an address)."""

    identifiers: tuple[Identifier, ...]
    person: str | None = None


@dataclass(frozen=True)
class Verdict:
    """What a vendor answer means for one identifier: a deletion's Outcome, or a lookup's
    Verification (a lookup that must be tried again says so with a retryable Outcome)."""

    outcome: Outcome | Verification
    reason: str = ""
    http_status: int | None = None
    retry_after: float | None = None  # seconds, when the vendor said how long to wait
    evidence: Evidence | None = field(default=None, compare=False)
    # A lookup made to resolve an identifier: the profiles it found (raw ids: never logged).
    profiles: tuple[Profile, ...] = field(default=(), compare=False)


def verdict_for_status(status: int, reason: str, headers: Mapping[str, str] | None = None) -> Verdict:
    """The meaning of an HTTP status that carries no per-identifier detail.

    A 2xx alone proves nothing: only a connector that recognises its vendor's documented success
    body may say `deleted`. Vendors refine the rest where they document more (a 404 that names
    the person, result codes inside a 200).
    """
    if 200 <= status < 300:
        unproven = f"a {status} without the documented success body"
        return Verdict(Outcome.TRANSIENT, f"{unproven}: {reason}" if reason else unproven, status)
    if status == 429:
        return Verdict(Outcome.THROTTLED, reason, status, retry_after_seconds(headers or {}))
    if status in (401, 403):
        return Verdict(Outcome.UNAUTHORIZED, reason, status)
    if status in (404, 405) or 300 <= status < 400:
        # The endpoint itself is missing or moved (redirects are not followed): a wrong host,
        # region or URL setting.
        return Verdict(Outcome.UNAUTHORIZED, f"endpoint not found or moved: {reason}", status)
    if status in (408, 409, 425) or status >= 500:
        return Verdict(Outcome.TRANSIENT, reason, status)
    return Verdict(Outcome.REFUSED, reason, status)


def lookup_verdict_for_status(status: int, reason: str, headers: Mapping[str, str] | None = None) -> Verdict:
    """A lookup's answer without a documented meaning: retried where a deletion would be; a
    refusal cannot show the person gone, so it is `unverifiable` with the vendor's reason."""
    verdict = verdict_for_status(status, reason, headers)
    if verdict.outcome is Outcome.REFUSED:
        return Verdict(Verification.UNVERIFIABLE, f"the lookup was refused ({status}): {reason}", status)
    return verdict


@dataclass(frozen=True)
class IdentifierResult:
    """One vendor's verdict on one identifier of one request."""

    request_id: str
    vendor: str
    identifier: Identifier
    verdict: Verdict
    attempted_at: str | None  # None when nothing was sent for it
    settled: bool = False  # final in the ledger before this run: not sent, nothing to write
    # What a deletion's result says of its verification when first recorded (None: none
    # applies): pending until `verify_due_at` (epoch seconds), or unverifiable and why.
    verification: Verification | None = None
    verification_reason: str = ""
    verify_due_at: float | None = None
    # Identity resolution: the profile ids this given identifier was erased through, or the given
    # identifier a profile id was found by; a learned identifier's source vendor.
    resolved_to: tuple[Identifier, ...] = ()
    resolved_from: Identifier | None = None


def settled_result(
    request_id: str, vendor: str, identifier: Identifier, prior: PriorOutcome | None
) -> IdentifierResult | None:
    """What the ledger already holds as final for this identifier, answered as it stands (never
    sent again, nothing to write); None when nothing final is there."""
    if prior is None or not prior.verdict.outcome.is_final:
        return None
    return IdentifierResult(
        request_id, vendor, identifier, prior.verdict, None, settled=True, verification=prior.verification
    )


def outcome_view(result: IdentifierResult, hasher: Callable[[Identifier], str]) -> dict:
    """One identifier's outcome as answered and logged: its type and keyed hash, never its value."""
    verdict = result.verdict
    return {
        "vendor": result.vendor,
        "identifier": result.identifier.label,
        "id_hash": hasher(result.identifier),
        "outcome": str(verdict.outcome),
        "reason": verdict.reason,
        "http_status": verdict.http_status,
        "retry_after": verdict.retry_after,
        "last_attempt_at": result.attempted_at,
        "verification": None if result.verification is None else str(result.verification),
    }


@dataclass(frozen=True)
class CheckFinding:
    """What the n-th check found for one identifier (its verdict a Verification), and when the
    next check is due (epoch seconds; None after the last)."""

    result: IdentifierResult
    check: int
    next_due_at: float | None = None


@dataclass(frozen=True)
class PriorOutcome:
    """An outcome already in the ledger, how many attempts led to it, and its verification so far
    (None when none applies) with the number of checks made."""

    verdict: Verdict
    attempts: int
    verification: Verification | None = None
    checks: int = 0


MAX_WAIT_SECONDS = 12 * 60 * 60  # SQS's longest visibility timeout


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The wait a vendor asked for: Retry-After, or a rate window's reset time; at most 12 h.

    Header names are matched case-insensitively (some arrive lowercase). Reset headers
    are epoch seconds; a value that is plainly a duration (small) is taken as seconds to wait.
    """
    wait = _asked_wait({k.lower(): v for k, v in headers.items()}, time.time() if now is None else now)
    return None if wait is None else min(max(0.0, wait), MAX_WAIT_SECONDS)


def _asked_wait(headers: Mapping[str, str], now: float) -> float | None:
    retry_after = headers.get("retry-after")
    if retry_after:
        seconds = _number(retry_after)
        if seconds is not None:
            return seconds
        try:
            return parsedate_to_datetime(retry_after).timestamp() - now
        except (TypeError, ValueError):
            pass
    for name in ("x-ratelimit-reset", "x-rate-limit-reset"):
        reset = _number(headers.get(name) or "")
        if reset is not None:
            # Epoch milliseconds, epoch seconds, or (seen elsewhere) seconds remaining.
            if reset > 1e11:
                reset /= 1000
            return reset - now if reset > 1e9 else reset
    return None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return None if value != value else value  # NaN is no answer
