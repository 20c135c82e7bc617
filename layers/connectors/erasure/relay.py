"""Carry deletion requests to one vendor: batch across people, send, read each answer back.

The relay is vendor-neutral: a Connector and its Operations say what is particular to a vendor,
and this module does the grouping into as few calls as the documented maxima allow (per
operation, never mixing groups), the pacing per operation, the sending, the mapping of every
verdict back to its request, the stop-on-throttle rule, and the call log line.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from aws_lambda_powertools.metrics import MetricUnit

from erasure.config import VendorSettings
from erasure.errors import TransportFailure
from erasure.http_client import HttpClient
from erasure.observability import IdentifierHasher, logger, metrics
from erasure.outcomes import (
    Evidence,
    IdentifierResult,
    Outcome,
    PriorOutcome,
    Verdict,
    Verification,
    settled_result,
)
from erasure.pacing import RateGate
from erasure.redaction import MAX_REASON_LENGTH, Redactor
from erasure.request import DeletionRequest, Identifier, utc_timestamp
from erasure.vendors.base import Call, Connector, Target

MAX_REQUEST_ID_LENGTH = 128
# Not sent, so nothing to wait for: due again as soon as a retry may be (not after a backoff).
OUT_OF_TIME = Verdict(Outcome.TRANSIENT, "not sent: the invocation ran out of time", retry_after=0.0)


class Relay:
    def __init__(
        self,
        connector: Connector,
        settings: VendorSettings,
        hasher: IdentifierHasher,
        http: HttpClient | None = None,
    ):
        self.connector = connector
        self.settings = settings
        self.hasher = hasher
        self.http = http or HttpClient(settings.connect_timeout, settings.read_timeout, settings.concurrency)
        # One gate per operation: each has its own documented limit.
        self.gates = {key: RateGate(rpm) for key, rpm in settings.rates.items() if rpm}

    def run(
        self,
        requests: list[DeletionRequest],
        remaining_ms: Callable[[], int] | None = None,
        prior: Mapping[tuple[str, Identifier], PriorOutcome] | None = None,
        sent_before: frozenset[str] = frozenset(),
    ) -> list[list[IdentifierResult]]:
        """One list of per-identifier results for each request, in the order given.

        `prior` holds what the ledger already says for (request_id, identifier): a final outcome
        is answered as it stands and never sent again; an earlier attempt that got no final
        answer is noted on an `already_absent` (that attempt may be what removed it), and so is
        any of the requests in `sent_before` (redelivered: an earlier delivery may have sent it
        and lost its answer, or the ledger write of its answer)."""
        connector, prior = self.connector, prior or {}
        results: list[list[IdentifierResult]] = [[] for _ in requests]
        # The same identifier asked for by several requests in one batch is sent once.
        askers: dict[tuple, list[tuple[int, Target]]] = {}
        for index, request in enumerate(requests):
            for identifier in request.identifiers:
                reason = connector.skip_reason(request.action, identifier)
                settled = settled_result(
                    request.request_id,
                    connector.name,
                    identifier,
                    prior.get((request.request_id, identifier)),
                )
                if reason:
                    verdict = Verdict(Outcome.SKIPPED, reason)
                    results[index].append(self._result(request, identifier, verdict, None))
                elif settled:
                    results[index].append(settled)
                else:
                    operation = connector.operation_for(request.action)
                    assert operation is not None  # skip_reason skips an action the vendor has no call for
                    _ask(askers, operation, index, Target(request, identifier))
        return self._send_all(askers, results, remaining_ms, prior, sent_before)

    def look_up(
        self,
        requests: list[DeletionRequest],
        remaining_ms: Callable[[], int] | None = None,
        resolving: bool = False,
    ) -> list[list[IdentifierResult]]:
        """The vendor's lookup of every identifier of each request (all must be ones its lookup
        serves): one list of results per request, whose verdicts are Verifications, or retryable
        Outcomes for lookups to try again. `resolving`: to find the profiles (a found one's
        verdict lists them), not to verify a deletion."""
        lookup = self.connector.lookup
        if lookup is None:
            raise ValueError(f"{self.connector.name} has no lookup")
        askers: dict[tuple, list[tuple[int, Target]]] = {}
        for index, request in enumerate(requests):
            for identifier in request.identifiers:
                _ask(askers, lookup, index, Target(request, identifier, resolving))
        return self._send_all(askers, [[] for _ in requests], remaining_ms, {}, frozenset(), not resolving)

    def _send_all(
        self, askers, results, remaining_ms, prior, sent_before, count: bool = True
    ) -> list[list[IdentifierResult]]:
        """Make the calls `askers` need, in as few calls as each call's maximum allows, and add
        each asker's result to `results`."""
        groups: dict[tuple, list[tuple]] = {}
        for key in askers:
            groups.setdefault(key[:2], []).append(key)
        calls = [
            (call, keys[start : start + call.max_batch_for(group)])
            for (call, group), keys in groups.items()
            for start in range(0, len(keys), call.max_batch_for(group))
        ]
        send = _BatchSender(self, remaining_ms)
        workers = max(1, min(self.settings.concurrency, len(calls)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            answered = pool.map(lambda call: send(call[0], [askers[k][0][1] for k in call[1]]), calls)
            for (_, keys), answers in zip(calls, answered, strict=True):
                for key, (verdict, attempted_at) in zip(keys, answers, strict=True):
                    for index, target in askers[key]:
                        request_id = target.request.request_id
                        earlier = prior.get((request_id, target.identifier))
                        answer = after_unconfirmed(verdict, earlier, request_id in sent_before)
                        results[index].append(
                            self._result(target.request, target.identifier, answer, attempted_at)
                        )
        counts: Counter[str] = Counter()
        for request_results in results:
            request_results.sort(key=lambda r: r.identifier)
            counts.update(str(r.verdict.outcome) for r in request_results)
        for outcome, number in counts.items() if count else ():  # one datapoint per outcome
            metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=number)
        return results

    def _result(self, request, identifier, verdict, attempted_at) -> IdentifierResult:
        return IdentifierResult(request.request_id, self.connector.name, identifier, verdict, attempted_at)


def _ask(askers: dict, call: Call, index: int, target: Target) -> None:
    key = (call, call.batch_group(target), target.identifier)
    askers.setdefault(key, []).append((index, target))


class _BatchSender:
    """Sends the calls of one batch; once the vendor throttles an operation, or rejects our
    credentials, the calls not yet sent are answered the same way instead of hammering it."""

    ALL_OPERATIONS = "*"  # where a stop applies when the credentials are refused

    def __init__(self, relay: Relay, remaining_ms: Callable[[], int] | None):
        self.relay = relay
        self.remaining_ms = remaining_ms
        self.stops: dict[str, Verdict] = {}
        self.lock = threading.Lock()

    def __call__(self, operation: Call, targets: list[Target]) -> list[tuple[Verdict, str | None]]:
        """(verdict, when it was sent) for each target, in order."""
        relay = self.relay
        connector, settings = relay.connector, relay.settings
        unsent = self._unsent_verdict(operation)
        if unsent:
            return [(unsent, None)] * len(targets)
        gate = relay.gates.get(operation.key)
        if gate and not gate.wait(self._latest_start()):
            return [(OUT_OF_TIME, None)] * len(targets)
        attempted_at: str | None = utc_timestamp()
        request = operation.build(targets, settings)
        http_status, duration_ms = None, 0.0
        if operation.max_body_bytes and len(request.body) > operation.max_body_bytes:
            reason = f"request body exceeds {operation.max_body_bytes} bytes"
            verdicts = [Verdict(Outcome.REFUSED, reason)] * len(targets)
            attempted_at = None
        else:
            try:
                answer = relay.http.send(request)
            except TransportFailure as failure:
                verdicts = [Verdict(Outcome.TRANSIENT, f"no answer: {failure.kind}")] * len(targets)
                duration_ms = failure.duration_ms
            else:
                http_status, duration_ms = answer.status, answer.duration_ms
                redact = Redactor(targets)
                evidence = Evidence(
                    answer.status,
                    # Cut after redacting: a cut through an identifier would leave its start.
                    (redact.text(_vendor_request_id(answer.headers)) or "")[:MAX_REQUEST_ID_LENGTH] or None,
                    relay.hasher.digest(answer.body),
                )
                verdicts = [
                    replace(redact(v), evidence=evidence)
                    for v in _read(connector, operation, answer, targets)
                ]
        self._maybe_stop(operation, verdicts)
        logger.info(
            "vendor call",
            extra={
                "vendor": connector.name,
                "operation": operation.name,
                "http_status": http_status,
                "id_count": len(targets),
                "id_hashes": [relay.hasher(t.identifier) for t in targets],
                "request_ids": sorted({t.request.request_id for t in targets}),
                "duration_ms": duration_ms,
                "outcomes": dict(Counter(str(v.outcome) for v in verdicts)),
            },
        )
        splittable = len(targets) > 1 and not operation.per_person
        if splittable and http_status is not None and _refused_as_one(verdicts):
            # One bad identifier can make a vendor refuse the whole call: halve it until the
            # refusal falls on the identifiers it is really about, so no one else is refused.
            half = len(targets) // 2
            return self(operation, targets[:half]) + self(operation, targets[half:])
        return [(verdict, attempted_at) for verdict in verdicts]

    def _unsent_verdict(self, operation: Call) -> Verdict | None:
        stop = self.stops.get(operation.key) or self.stops.get(self.ALL_OPERATIONS)
        if stop:
            return stop
        latest = self._latest_start()
        if latest is not None and time.monotonic() > latest:
            return OUT_OF_TIME
        return None

    def _latest_start(self) -> float | None:
        """The last moment (time.monotonic) a call may start and still end, answer read and
        written, before the function's deadline; None without a deadline."""
        if not self.remaining_ms:
            return None
        settings = self.relay.settings
        return time.monotonic() + self.remaining_ms() / 1000 - settings.call_budget_s

    def _maybe_stop(self, operation: Call, verdicts: list[Verdict]) -> None:
        for verdict in verdicts:
            if verdict.outcome in (Outcome.THROTTLED, Outcome.UNAUTHORIZED):
                scope = operation.key if verdict.outcome is Outcome.THROTTLED else self.ALL_OPERATIONS
                reason = f"not sent: an earlier call was {verdict.outcome}"
                with self.lock:
                    self.stops.setdefault(scope, Verdict(verdict.outcome, reason, None, verdict.retry_after))
                return


def after_unconfirmed(verdict: Verdict, earlier: PriorOutcome | None, sent_before: bool) -> Verdict:
    """ "Not there" after an attempt whose answer never came (or was not a final one, or was
    never recorded) may be that attempt's own work: the receipt must say so rather than claim it
    was never there."""
    if verdict.outcome is not Outcome.ALREADY_ABSENT:
        return verdict
    if earlier and earlier.attempts >= 1:
        note = (
            f"absent on retry; an earlier attempt ({earlier.verdict.outcome}: "
            f"{earlier.verdict.reason or 'no reason given'}) may have deleted it"
        )
    elif sent_before:
        note = "absent on retry; an earlier delivery (its answer unrecorded) may have deleted it"
    else:
        return verdict
    reason = f"{note}. Vendor: {verdict.reason}" if verdict.reason else note
    return replace(verdict, reason=reason[:MAX_REASON_LENGTH])


def _refused_as_one(verdicts: list[Verdict]) -> bool:
    """One refusal for the whole call: of a deletion, or of a lookup (unverifiable for its 4xx)."""
    first = verdicts[0]
    lookup_refused = first.outcome is Verification.UNVERIFIABLE and (first.http_status or 0) >= 400
    return (first.outcome is Outcome.REFUSED or lookup_refused) and all(v == first for v in verdicts)


def _read(connector: Connector, operation: Call, answer, targets: list[Target]) -> list[Verdict]:
    """The operation's reading, guarded: an answer it cannot read is a transient failure."""
    try:
        verdicts = operation.read(answer, targets)
    except Exception as error:  # a vendor answer must never crash the batch
        # The type only: a traceback could quote the identifier.
        logger.error(
            "unreadable vendor answer",
            extra={
                "vendor": connector.name,
                "error": type(error).__name__,
                "request_ids": sorted({t.request.request_id for t in targets}),
            },
        )
        verdicts = []
    if len(verdicts) != len(targets):
        return [Verdict(Outcome.TRANSIENT, "unreadable answer", answer.status)] * len(targets)
    return verdicts


# Where vendors (or the gateways in front of them) put a request id an auditor can quote back.
REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "x-amzn-requestid",
    "x-amz-request-id",
    "x-correlation-id",
)


def _vendor_request_id(headers: Mapping[str, str]) -> str | None:
    lowered = {name.lower(): value for name, value in headers.items()}
    found = next((lowered[name] for name in REQUEST_ID_HEADERS if lowered.get(name)), None)
    return found or None
