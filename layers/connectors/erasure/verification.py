"""Verified erasure: after a vendor takes a deletion, its own read API shows whether the person is
really gone. A vendor's "success" is not proof (queued, batched later, or plainly wrong).

Checks wait as messages in the vendor's own queue, so they survive restarts and redelivery and
need no sleeping function: a check message carries the request (only the identifiers to check),
its number and when it is due. SQS delays it up to 15 minutes; a check received before it is due
is hidden again until then (up to 12 hours a receive). The ledger says which checks were made, so
a check delivered twice looks the person up once more at most and is recorded once.

Per vendor and identifier, `verification` is `pending` until a check says `verified_absent`, or
the vendor cannot tell (`unverifiable`, with why). A person still found is checked again later,
each wait doubling; after the last check the deletion is sent once more, the identifier is
`still_present` for good, and a CloudWatch alarm fires: it never becomes success silently.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from erasure.aws_clients import MAX_SQS_DELAY_S, QueueVisibility
from erasure.config import VerificationSettings
from erasure.ledger import OutcomeBook
from erasure.observability import CORRELATION_ID, logger
from erasure.outcomes import (
    TO_VERIFY,
    CheckFinding,
    IdentifierResult,
    Outcome,
    PriorOutcome,
    Verdict,
    Verification,
    outcome_view,
)
from erasure.relay import Relay
from erasure.request import DeletionRequest, FieldError, InvalidRequest, epoch_timestamp, parse
from erasure.resolution import Resolver
from erasure.sealing import UNSEALED, Sealer
from erasure.vendors.base import Connector

CHECK_FIELD = "verify"  # a queue message with this field is a check, not a deletion
STILL_PRESENT_METRIC = "verification_still_present"
NOT_RECORDED = "its deletion's outcome is not recorded yet"


@dataclass(frozen=True)
class Check:
    """A scheduled look-up of the identifiers of `request` at one vendor: the n-th, due at `due_at`
    (epoch seconds)."""

    request: DeletionRequest
    number: int
    due_at: float

    def message(self) -> dict[str, Any]:
        """Its plain form (erasure.sealing names its identifiers before it is sent)."""
        return {**self.request.to_message(), CHECK_FIELD: {"check": self.number, "due_at": self.due_at}}

    def delay_s(self, now: float) -> int:
        """What SendMessage can wait of the time until due."""
        return max(0, min(MAX_SQS_DELAY_S, int(self.due_at - now)))


def read_check(body: Any, **defaults: Any) -> Check:
    """A check message (a request with CHECK_FIELD); InvalidRequest naming what is wrong."""
    if not isinstance(body, dict):
        raise InvalidRequest([FieldError("body", "must be a JSON object")])
    body = dict(body)
    check = body.pop(CHECK_FIELD)
    number = check.get("check") if isinstance(check, dict) else None
    due_at = check.get("due_at") if isinstance(check, dict) else None
    errors = []
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        errors.append(FieldError(f"{CHECK_FIELD}.check", "must be a whole number from 1"))
    if not isinstance(due_at, int | float) or isinstance(due_at, bool) or not math.isfinite(due_at):
        errors.append(FieldError(f"{CHECK_FIELD}.due_at", "must be a time in epoch seconds"))
    try:
        request = parse(body, **defaults)
    except InvalidRequest as invalid:
        errors += invalid.errors
    if errors:
        raise InvalidRequest(errors)
    assert isinstance(number, int) and isinstance(due_at, int | float)  # checked above
    return Check(request, number, float(due_at))


def first_checks(
    connector: Connector,
    settings: VerificationSettings | None,
    requests: list[DeletionRequest],
    results: list[list[IdentifierResult]],
    now: float,
) -> tuple[list[list[IdentifierResult]], list[Check]]:
    """What a deletion's new results say of their verification (pending, or why nothing can
    check), and the first check of each request whose identifiers a lookup can show gone."""
    marked: list[list[IdentifierResult]] = []
    checks: list[Check] = []
    for request, request_results in zip(requests, results, strict=True):
        marked.append([])
        to_check = []
        for result in request_results:
            # A profile found by a given identifier is checked through it: the lookup by that
            # identifier shows every profile it named gone (one lookup, not one per profile).
            if result.settled or result.verdict.outcome not in TO_VERIFY or result.resolved_from:
                marked[-1].append(result)
                continue
            why_not = connector.unverifiable_reason(request.action, result.identifier)
            if why_not is None and settings is None:
                why_not = "verification is not configured here (VERIFY_QUEUE_URL, LEDGER_TABLE)"
            if why_not or settings is None:
                result = replace(
                    result, verification=Verification.UNVERIFIABLE, verification_reason=why_not or ""
                )
            else:
                result = replace(
                    result, verification=Verification.PENDING, verify_due_at=now + settings.after_s
                )
                to_check.append(result.identifier)
            marked[-1].append(result)
        if to_check and settings:
            checked = replace(request, identifiers=tuple(to_check), learned=(), learned_from=None)
            checks.append(Check(checked, 1, now + settings.after_s))
    return marked, checks


def next_check(settings: VerificationSettings, check: Check, identifiers: list, now: float) -> Check | None:
    """The check after `check` for the identifiers still found, or None after the last one."""
    if check.number >= settings.max_checks:
        return None
    wait = settings.backoff_s * 2 ** (check.number - 1)
    return Check(replace(check.request, identifiers=tuple(identifiers)), check.number + 1, now + wait)


class Verifier:
    """One vendor function's verification: it schedules the first checks of new results, and
    makes the checks that are due."""

    def __init__(
        self,
        relay: Relay,
        ledger: OutcomeBook | None,
        queue: QueueVisibility,
        cancelled_of: Callable[[set[str]], Mapping[str, str]] | None = None,
        sealer: Sealer = UNSEALED,
    ):
        self.relay = relay
        self.sealer = sealer
        self.cancelled_of = cancelled_of  # a cancelled request's last check sends nothing again
        # A re-send goes whatever the ledger says (it says "final": that is why it is re-sent).
        self.resolver = Resolver(relay)
        self.ledger = ledger
        self.queue = queue

    @property
    def settings(self) -> VerificationSettings | None:
        # Without a ledger there is nowhere to record what checks find: nothing is checked.
        return self.relay.settings.verification if self.ledger else None

    def schedule(
        self, requests: list[DeletionRequest], results: list[list[IdentifierResult]]
    ) -> list[list[IdentifierResult]]:
        """The results with their verification, once the first checks are in the queue (a check
        whose result never reaches the ledger finds nothing pending, and is dropped)."""
        now = time.time()
        marked, checks = first_checks(self.relay.connector, self.settings, requests, results, now)
        self._send(checks, now)
        return marked

    def check(
        self, checks: list[Check], remaining_ms: Callable[[], int] | None
    ) -> list[list[IdentifierResult]]:
        """Make the checks (all due), record what they find and schedule the next ones; per
        check, the lookups to try again (throttled, transient, unauthorized)."""
        assert self.ledger is not None and self.settings is not None
        connector, now = self.relay.connector, time.time()
        pairs = [(c.request.request_id, i) for c in checks for i in c.request.identifiers]
        prior = self.ledger.prior_outcomes(connector.name, pairs)
        # A redelivered check looks up nothing; one that came before its deletion's outcome was
        # written (the check is sent first) waits for it.
        due, unrecorded = [], []
        for check in checks:
            priors = {i: prior.get((check.request.request_id, i)) for i in check.request.identifiers}
            identifiers = tuple(i for i, p in priors.items() if _is_due(p, check))
            due.append(replace(check, request=replace(check.request, identifiers=identifiers)))
            waiting = Verdict(Outcome.TRANSIENT, NOT_RECORDED)
            unrecorded.append(
                [
                    IdentifierResult(check.request.request_id, connector.name, i, waiting, None)
                    for i, p in priors.items()
                    if p is None or not p.verdict.outcome.is_final
                ]
            )
        looked_up = self.relay.look_up([c.request for c in due], remaining_ms)
        findings: list[CheckFinding] = []
        next_checks, retry = [], []
        found_last: dict[tuple, tuple[int, Check, IdentifierResult]] = {}  # once, if a check came twice
        for index, (check, results, not_yet) in enumerate(zip(due, looked_up, unrecorded, strict=True)):
            retry.append([*not_yet, *(r for r in results if not isinstance(r.verdict.outcome, Verification))])
            found = [r for r in results if r.verdict.outcome is Verification.STILL_PRESENT]
            following = (
                next_check(self.settings, check, [r.identifier for r in found], now) if found else None
            )
            for result in results:
                if result in found and following:
                    reason = (
                        f"still present at check {check.number} of {self.settings.max_checks}; "
                        f"checked again from {epoch_timestamp(following.due_at)}"
                    )
                    pending = replace(result.verdict, outcome=Verification.PENDING, reason=reason)
                    findings.append(
                        CheckFinding(replace(result, verdict=pending), check.number, following.due_at)
                    )
                elif result in found:
                    found_last.setdefault((result.request_id, result.identifier), (index, check, result))
                elif isinstance(result.verdict.outcome, Verification):
                    findings.append(CheckFinding(result, check.number))
            if following:
                next_checks.append(following)
        final, resend_again = self._delete_again(list(found_last.values()), remaining_ms)
        findings += final
        for index, result in resend_again:
            retry[index].append(result)
        self._send(next_checks, now)
        self.ledger.record_checks(findings)
        for finding in findings:
            view = outcome_view(finding.result, self.relay.hasher)
            view["verification"] = view.pop("outcome")  # what a check finds is a verification
            extra = {CORRELATION_ID: finding.result.request_id, "check": finding.check, **view}
            logger.info("verification", extra=extra)
        return retry

    def _delete_again(
        self, found_last: list[tuple[int, Check, IdentifierResult]], remaining_ms
    ) -> tuple[list[CheckFinding], list[tuple[int, IdentifierResult]]]:
        """The person is still there after the last check: the deletion goes once more, and the
        identifier is still_present for good, with an alarm (the `still_present` metric). A
        re-send to retry (throttled, transient, out of time) is not final: it is returned with
        its check's index, and the check comes again (nothing is written until it is sent)."""
        if not found_last:
            return [], []
        ids = {check.request.request_id for _, check, _ in found_last}
        cancelled = self.cancelled_of(ids) if self.cancelled_of else {}
        findings = [
            CheckFinding(
                _not_sent_again(result, check.number, cancelled[check.request.request_id]), check.number
            )
            for _, check, result in found_last
            if check.request.request_id in cancelled
        ]
        found_last = [entry for entry in found_last if entry[1].request.request_id not in cancelled]
        requests = [
            replace(check.request, identifiers=(result.identifier,)) for _, check, result in found_last
        ]
        # Through resolution, as the first time: what the identifier names now is deleted.
        resolved = self.resolver.resolve(requests, remaining_ms, {})
        again = self.resolver.delete(resolved, remaining_ms, {})
        to_retry = []
        for (index, check, result), results in zip(found_last, again, strict=True):
            deletion = next(r for r in results if r.identifier == result.identifier)
            if not deletion.verdict.outcome.is_final:
                to_retry.append((index, deletion))
                continue
            reason = (
                f"still present after {check.number} check(s); the deletion was sent again: "
                f"{deletion.verdict.outcome} {deletion.verdict.reason}"
            ).strip()
            findings.append(
                CheckFinding(replace(result, verdict=replace(result.verdict, reason=reason)), check.number)
            )
        if findings:
            with single_metric(
                name=STILL_PRESENT_METRIC, unit=MetricUnit.Count, value=len(findings), default_dimensions={}
            ):
                pass  # one figure over all vendors: the alarm watches it, whichever vendor keeps people
        return findings, to_retry

    def _send(self, checks: list[Check], now: float) -> None:
        if checks and self.settings:
            bodies = self.sealer.seal([(c.request, c.message()) for c in checks])
            self.queue.send_delayed(
                self.settings.queue_url, [(b, c.delay_s(now)) for b, c in zip(bodies, checks, strict=True)]
            )


def _not_sent_again(result: IdentifierResult, checks: int, cancelled_at: str) -> IdentifierResult:
    reason = (
        f"still present after {checks} check(s); not sent again: the request was cancelled at {cancelled_at}"
    )
    return replace(result, verdict=replace(result.verdict, reason=reason))


def _is_due(prior: PriorOutcome | None, check: Check) -> bool:
    return prior is not None and prior.verification is Verification.PENDING and prior.checks < check.number
