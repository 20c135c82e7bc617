"""Carry deletion requests to one vendor: batch across people, send, read each answer back.

The relay is vendor-neutral: a Connector and its Operations say what is particular to a vendor,
and this module does the grouping into as few calls as the documented maxima allow (per
operation, never mixing groups), the pacing per operation, the sending, the mapping of every
verdict back to its request, the stop-on-throttle rule, and the call log line.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from aws_lambda_powertools.metrics import MetricUnit

from erasure.config import VendorSettings
from erasure.http_client import HttpClient, TransportFailure
from erasure.observability import IdentifierHasher, logger, metrics
from erasure.outcomes import Evidence, IdentifierResult, Outcome, PriorOutcome, Verdict, Verification
from erasure.pacing import RateGate
from erasure.request import DeletionRequest, Identifier, utc_timestamp
from erasure.vendors.base import Call, Connector, Target

MAX_REASON_LENGTH = 300
MAX_REQUEST_ID_LENGTH = 128
_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")
WITHHELD_REASON = "the vendor's text quoted an identifier; withheld"
OUT_OF_TIME = Verdict(Outcome.TRANSIENT, "not sent: the invocation ran out of time")


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
    ) -> list[list[IdentifierResult]]:
        """One list of per-identifier results for each request, in the order given.

        `prior` holds what the ledger already says for (request_id, identifier): a final outcome
        is answered as it stands and never sent again; an earlier attempt that got no final
        answer is noted on an `already_absent` (that attempt may be what removed it)."""
        connector, prior = self.connector, prior or {}
        results: list[list[IdentifierResult]] = [[] for _ in requests]
        # The same identifier asked for by several requests in one batch is sent once.
        askers: dict[tuple, list[tuple[int, Target]]] = {}
        for index, request in enumerate(requests):
            for identifier in request.identifiers:
                reason = connector.skip_reason(request.action, identifier)
                earlier = prior.get((request.request_id, identifier))
                if reason:
                    verdict = Verdict(Outcome.SKIPPED, reason)
                    results[index].append(self._result(request, identifier, verdict, None))
                elif earlier and earlier.verdict.outcome.is_final:
                    results[index].append(
                        IdentifierResult(
                            request.request_id, connector.name, identifier, earlier.verdict, None, True
                        )
                    )
                else:
                    _ask(askers, connector.operation_for(request.action), index, Target(request, identifier))
        return self._send_all(askers, results, remaining_ms, prior)

    def look_up(
        self, requests: list[DeletionRequest], remaining_ms: Callable[[], int] | None = None
    ) -> list[list[IdentifierResult]]:
        """The vendor's lookup of every identifier of each request (all must be ones its lookup
        serves): one list of results per request, whose verdicts are Verifications, or retryable
        Outcomes for lookups to try again."""
        askers: dict[tuple, list[tuple[int, Target]]] = {}
        for index, request in enumerate(requests):
            for identifier in request.identifiers:
                _ask(askers, self.connector.lookup, index, Target(request, identifier))
        return self._send_all(askers, [[] for _ in requests], remaining_ms, {})

    def _send_all(self, askers, results, remaining_ms, prior) -> list[list[IdentifierResult]]:
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
                        earlier = prior.get((target.request.request_id, target.identifier))
                        answer = _after_unconfirmed(verdict, earlier)
                        results[index].append(
                            self._result(target.request, target.identifier, answer, attempted_at)
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
        attempted_at = utc_timestamp()
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
                redact = _Redactor(targets)
                evidence = Evidence(
                    answer.status,
                    redact.text(_vendor_request_id(answer.headers)),
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
        budget_s = settings.connect_timeout + settings.read_timeout + 1
        return time.monotonic() + self.remaining_ms() / 1000 - budget_s

    def _maybe_stop(self, operation: Call, verdicts: list[Verdict]) -> None:
        for verdict in verdicts:
            if verdict.outcome in (Outcome.THROTTLED, Outcome.UNAUTHORIZED):
                scope = operation.key if verdict.outcome is Outcome.THROTTLED else self.ALL_OPERATIONS
                reason = f"not sent: an earlier call was {verdict.outcome}"
                with self.lock:
                    self.stops.setdefault(scope, Verdict(verdict.outcome, reason, None, verdict.retry_after))
                return


def _after_unconfirmed(verdict: Verdict, earlier: PriorOutcome | None) -> Verdict:
    """ "Not there" after an attempt whose answer never came (or was not a final one) may be that
    attempt's own work: the receipt must say so rather than claim it was never there."""
    if verdict.outcome is not Outcome.ALREADY_ABSENT or not earlier or earlier.attempts < 1:
        return verdict
    note = (
        f"absent on retry; an earlier attempt ({earlier.verdict.outcome}: "
        f"{earlier.verdict.reason or 'no reason given'}) may have deleted it"
    )
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


class _Redactor:
    """Vendors may quote the identifier in an error; reasons are logged and stored, it may not be.
    Built once per call: each distinct reason is redacted once, whatever the number of verdicts
    that carry it (an all-error answer repeats one text for every id)."""

    def __init__(self, targets: list[Target]):
        forms = set()
        self.skeletons: set[str] = set()
        for target in targets:
            value = target.identifier.value
            # As sent, without the +, and as a JSON body would escape it (\u00eb, \/).
            escaped = json.dumps(value)[1:-1]
            forms |= {value, value.lstrip("+"), escaped, escaped.replace("/", "\\/")}
            self.skeletons |= _skeletons(value)
        self.forms = [(form.lower(), form) for form in sorted(forms, key=len, reverse=True) if form]
        self.redacted: dict[str, str] = {}

    def __call__(self, verdict: Verdict) -> Verdict:
        return replace(verdict, reason=self.text(verdict.reason)) if verdict.reason else verdict

    def text(self, text: str | None) -> str | None:
        """A vendor's text as it may be kept: any identifier it quotes cut out."""
        if not text:
            return text
        if text not in self.redacted:
            self.redacted[text] = self._redact(text)
        return self.redacted[text]

    def _redact(self, reason: str) -> str:
        lowered = reason.lower()
        quoted = [form for lower, form in self.forms if lower in lowered]  # cheap test first
        if quoted:  # longest first, so that an id inside a longer one is not cut out of it
            alternatives = "|".join(re.escape(form) for form in quoted)
            pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])", re.IGNORECASE)
            reason = pattern.sub("<identifier>", reason)
        # Quoting forms are endless (escaped twice, a language's repr, re-spaced): if what is left
        # of any identifier once punctuation, escapes and spaces are ignored is still in the text,
        # the vendor's text is withheld.
        text = _skeleton(reason)
        if any(piece in text for piece in self.skeletons):
            reason = WITHHELD_REASON
        return reason[:MAX_REASON_LENGTH]


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
    return found[:MAX_REQUEST_ID_LENGTH] if found else None


def _skeletons(value: str) -> set[str]:
    """The identifier's letters and digits, as written and as a JSON escape writes them
    (\\u00eb for ë); ignored under four characters, too short to say anything."""
    return {s for s in (_skeleton(value), _skeleton(json.dumps(value))) if len(s) >= 4}


def _skeleton(text: str) -> str:
    return _NOT_ALPHANUMERIC.sub("", text.lower())
