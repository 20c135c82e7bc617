"""Carry deletion requests to one vendor: batch across people, send, read each answer back.

The relay is vendor-neutral: a Connector says what is particular to its vendor, and this module
does the grouping into as few calls as the documented maxima allow, the sending, the mapping of
every verdict back to its request, the stop-on-throttle rule, and the call log line.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from erasure.http import HttpClient, TransportFailure
from erasure.observability import IdentifierHasher, logger, metrics
from erasure.outcomes import Outcome, Verdict
from erasure.pacing import RateGate
from erasure.request import DeletionRequest, Identifier, utc_timestamp
from erasure.settings import VendorSettings
from erasure.vendors.base import Connector, Target, mentions, token_pattern

MAX_REASON_LENGTH = 300


@dataclass(frozen=True)
class IdentifierResult:
    request_id: str
    vendor: str
    identifier: Identifier
    verdict: Verdict
    attempted_at: str | None  # None when nothing was sent for it


def outcome_view(result: IdentifierResult, hasher: IdentifierHasher) -> dict:
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
        "attempted_at": result.attempted_at,
    }


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
        rpm = settings.requests_per_minute
        self.gate = RateGate(rpm) if rpm else None

    def run(
        self, requests: list[DeletionRequest], remaining_ms: Callable[[], int] | None = None
    ) -> list[list[IdentifierResult]]:
        """One list of per-identifier results for each request, in the order given."""
        connector = self.connector
        results: list[list[IdentifierResult]] = [[] for _ in requests]
        # The same identifier asked for by several requests in one batch is sent once.
        askers: dict[tuple, list[tuple[int, Target]]] = {}
        for index, request in enumerate(requests):
            for identifier in request.identifiers:
                reason = connector.skip_reason(request.action, identifier)
                if reason:
                    verdict = Verdict(Outcome.SKIPPED, reason)
                    results[index].append(self._result(request, identifier, verdict, None))
                else:
                    key = (connector.batch_group(identifier), identifier)
                    askers.setdefault(key, []).append((index, Target(request, identifier)))

        groups: dict[str, list[tuple]] = {}
        for key in askers:
            groups.setdefault(key[0], []).append(key)
        calls = [
            keys[start : start + connector.max_batch]
            for keys in groups.values()
            for start in range(0, len(keys), connector.max_batch)
        ]
        send = _BatchSender(self, remaining_ms)
        workers = max(1, min(self.settings.concurrency, len(calls)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            answered = pool.map(lambda keys: send([askers[k][0][1] for k in keys]), calls)
            for keys, answers in zip(calls, answered, strict=True):
                for key, (verdict, attempted_at) in zip(keys, answers, strict=True):
                    for index, target in askers[key]:
                        results[index].append(
                            self._result(target.request, target.identifier, verdict, attempted_at)
                        )
        counts: Counter[str] = Counter()
        for request_results in results:
            request_results.sort(key=lambda r: r.identifier)
            counts.update(str(r.verdict.outcome) for r in request_results)
        for outcome, count in counts.items():  # one datapoint per outcome, not per identifier
            metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=count)
        return results

    def _result(self, request, identifier, verdict, attempted_at) -> IdentifierResult:
        return IdentifierResult(request.request_id, self.connector.name, identifier, verdict, attempted_at)


class _BatchSender:
    """Sends the calls of one batch; once the vendor throttles or rejects our credentials,
    the calls not yet sent are answered the same way instead of hammering it."""

    def __init__(self, relay: Relay, remaining_ms: Callable[[], int] | None):
        self.relay = relay
        self.remaining_ms = remaining_ms
        self.stop_verdict: Verdict | None = None
        self.lock = threading.Lock()

    def __call__(self, targets: list[Target]) -> list[tuple[Verdict, str | None]]:
        """(verdict, when it was sent) for each target, in order."""
        relay = self.relay
        connector, settings = relay.connector, relay.settings
        unsent = self._unsent_verdict()
        if unsent:
            return [(unsent, None)] * len(targets)
        if relay.gate:
            relay.gate.wait()
        attempted_at = utc_timestamp()
        request = connector.build(targets, settings.base_url, settings.credentials)
        http_status, duration_ms = None, 0.0
        if connector.max_body_bytes and len(request.body) > connector.max_body_bytes:
            reason = f"request body exceeds {connector.max_body_bytes} bytes"
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
                verdicts = [_redacted(v, targets) for v in _read(connector, answer, targets)]
        self._maybe_stop(verdicts)
        logger.info(
            "vendor call",
            extra={
                "vendor": connector.name,
                "operation": connector.operation,
                "http_status": http_status,
                "id_count": len(targets),
                "id_hashes": [relay.hasher(t.identifier) for t in targets],
                "request_ids": sorted({t.request.request_id for t in targets}),
                "duration_ms": duration_ms,
                "outcomes": dict(Counter(str(v.outcome) for v in verdicts)),
            },
        )
        if len(targets) > 1 and http_status is not None and _refused_as_one(verdicts):
            # One bad identifier can make a vendor refuse the whole call: halve it until the
            # refusal falls on the identifiers it is really about, so no one else is refused.
            half = len(targets) // 2
            return self(targets[:half]) + self(targets[half:])
        return [(verdict, attempted_at) for verdict in verdicts]

    def _unsent_verdict(self) -> Verdict | None:
        if self.stop_verdict:
            return self.stop_verdict
        # Leave room for one full call before the function's own deadline.
        budget_ms = (self.relay.settings.connect_timeout + self.relay.settings.read_timeout + 1) * 1000
        if self.remaining_ms and self.remaining_ms() < budget_ms:
            return Verdict(Outcome.TRANSIENT, "not sent: the invocation ran out of time")
        return None

    def _maybe_stop(self, verdicts: list[Verdict]) -> None:
        for verdict in verdicts:
            if verdict.outcome in (Outcome.THROTTLED, Outcome.UNAUTHORIZED):
                with self.lock:
                    if self.stop_verdict is None:
                        reason = f"not sent: an earlier call was {verdict.outcome}"
                        self.stop_verdict = Verdict(verdict.outcome, reason, None, verdict.retry_after)
                return


def _refused_as_one(verdicts: list[Verdict]) -> bool:
    return verdicts[0].outcome is Outcome.REFUSED and all(v == verdicts[0] for v in verdicts)


def _read(connector: Connector, answer, targets: list[Target]) -> list[Verdict]:
    """The connector's reading, guarded: an answer it cannot read is a transient failure."""
    try:
        verdicts = connector.read(answer, targets)
    except Exception as error:  # a vendor answer must never crash the batch
        # The type only: a traceback could quote the identifier.
        logger.error(
            "unreadable vendor answer", extra={"vendor": connector.name, "error": type(error).__name__}
        )
        verdicts = []
    if len(verdicts) != len(targets):
        return [Verdict(Outcome.TRANSIENT, "unreadable answer", answer.status)] * len(targets)
    return verdicts


def _redacted(verdict: Verdict, targets: list[Target]) -> Verdict:
    """Vendors may quote the identifier in an error; reasons are logged and stored, it may not be."""
    reason = verdict.reason
    if not reason:
        return verdict
    for target in targets:
        value = target.identifier.value
        # As sent, without the +, and as a JSON body would escape it (\u00eb, \/).
        escaped = json.dumps(value)[1:-1]
        for form in {value, value.lstrip("+"), escaped, escaped.replace("/", "\\/")}:
            if mentions(reason, form):
                reason = token_pattern(form).sub("<identifier>", reason)
    reason = reason[:MAX_REASON_LENGTH]
    return Verdict(verdict.outcome, reason, verdict.http_status, verdict.retry_after)
