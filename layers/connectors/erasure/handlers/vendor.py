"""A vendor function: one handler serves the vendor's SQS queue and its API route.

SQS: the whole batch is relayed first (identifiers of all records grouped into as few vendor calls
as allowed), then Powertools' batch processor reports the records that must be retried. The same
queue carries this vendor's verification checks (erasure.verification): those due are made
together, those not yet due are hidden until they are.
API: one request, run synchronously, answered with its per-identifier outcomes.
Either way, a request_id must name one request whichever entry point used it first (else 409,
or a rejected record); what the ledger already holds as final for a request is answered, never
sent again; and a new success is scheduled for verification.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from erasure.aws_clients import MAX_HIDE_S, QueueVisibility, sqs_batch_sender
from erasure.enrichment import Enrichment
from erasure.errors import ConflictingRequest, RetryLater
from erasure.handlers import http_answers
from erasure.handlers.messages import MessageReader, Over, Unreadable
from erasure.handlers.sqs import (
    RetryScheduler,
    entry_point,
    receive_count,
    was_delivered_before,
)
from erasure.ledger import Admission, Claims, LedgerTable, OutcomeBook
from erasure.ledger.identities import IdentityBook
from erasure.ledger.learned import LearnedBook
from erasure.observability import CORRELATION_ID, IdentifierHasher, correlated, logger, metrics
from erasure.outcomes import IdentifierResult, Outcome, Verdict, outcome_view, settled_result
from erasure.relay import Relay
from erasure.request import DeletionRequest, Identifier, InvalidRequest, parse
from erasure.resolution import Resolver
from erasure.sealing import Sealer, vendor_message
from erasure.vendors import CONNECTORS
from erasure.vendors.settings import VendorFunctionSettings, vendor_credentials
from erasure.verification import Check, Verifier

# API Gateway answers 504 at 29 s, whatever the function's own timeout: the route's calls must
# be answered (and written) before then.
API_GATEWAY_TIMEOUT_MS = 29_000
CONFLICT = "request_id reused for a different request"


@dataclass(frozen=True)
class Relayed:
    """What one run did: per request, its results (None: refused as a conflict)."""

    results: list[list[IdentifierResult] | None]
    admission: Admission | None


class VendorFunction:
    """One vendor's relay with its ledger: the steps both entry points share."""

    def __init__(self, vendor: str, env: Mapping[str, str]):
        self.env = env  # only to re-read the credentials' secret (rotation), not its settings
        self.connector = CONNECTORS[vendor]
        settings = VendorFunctionSettings.from_env(self.connector, env)  # once, at cold start
        self.hasher = IdentifierHasher(settings.hash_key)
        self.relay = Relay(self.connector, settings.vendor, self.hasher)
        # Without a ledger (a function used on its own) outcomes are only logged and answered.
        table = LedgerTable.from_settings(settings.ledger) if settings.ledger else None
        self.claims = Claims(table, self.hasher) if table else None
        self.ledger = OutcomeBook(table, self.hasher) if table else None
        self.queue = QueueVisibility()
        self.resolver = Resolver(self.relay, self._prior_of if self.ledger else None)
        # The queues get identifiers named, never their values (kept in the ledger meanwhile).
        identities = (
            IdentityBook(table, self.hasher, settings.ledger.max_lifetime_days, vendor)
            if table and settings.ledger
            else None
        )
        self.sealer = Sealer(identities, self._acts_on)
        self.verifier = Verifier(
            self.relay, self.ledger, self.queue, self.claims.cancelled if self.claims else None, self.sealer
        )
        self.scheduler = RetryScheduler(self.queue)
        learned = LearnedBook(table, self.hasher) if table else None
        self.enrichment = Enrichment(
            vendor, CONNECTORS, settings.queue_urls, learned, sqs_batch_sender(1, lazy=True), self.sealer
        )
        self.reader = MessageReader(
            frozenset(CONNECTORS), identities, self.claims.over if self.claims else None, self.sealer
        )

    def _acts_on(self, request: DeletionRequest, identifier: Identifier) -> bool:
        return self.connector.skip_reason(request.action, identifier) is None

    def sealed(self, request: DeletionRequest, message: dict[str, Any]) -> str:
        """The message as this function sends it anew (a requeue): its identifiers named."""
        (text,) = self.sealer.seal([(request, message)])
        return text

    def _prior_of(self, pairs: list[tuple[str, Identifier]]) -> dict:
        assert self.ledger is not None
        return self.ledger.prior_outcomes(self.connector.name, pairs)

    def run(
        self, requests: list[DeletionRequest], remaining_ms, delivered_before: frozenset[str] = frozenset()
    ) -> Relayed:
        """Admit the requests (one id, one request), then relay those admitted."""
        admission = self.claims.admit(requests) if self.claims and requests else None
        final = admission.final if admission else frozenset()
        if final:  # a redriven, duplicated or late message: the request is over, nothing is sent
            logger.info("messages for final requests: nothing sent", extra={"request_ids": sorted(final)})
        admitted = [
            r
            for n, r in enumerate(requests)
            if not (admission and admission.conflicting[n]) and r.request_id not in final
        ]
        served = [
            (r.request_id, i)
            for r in admitted
            for i in r.acted_on
            if not self.connector.skip_reason(r.action, i)
        ]
        prior = self._prior_of(served) if self.ledger and served else {}
        # Rotated credentials take effect within SECRET_MAX_AGE_S (the secret is cached that long).
        credentials = vendor_credentials(self.connector, self.env)
        self.relay.settings = replace(self.relay.settings, credentials=credentials)
        sent_before = delivered_before | (admission.seen_before if admission else frozenset())
        cancelled = admission.cancelled if admission else {}
        live = [r for r in admitted if r.request_id not in cancelled]
        resolutions = self.resolver.resolve(live, remaining_ms, prior)
        # What the lookups learned goes out before anything is deleted: a retry can learn it again.
        self.enrichment.forward(resolutions, admission.expiries if admission else {})
        sent = iter(self.resolver.delete(resolutions, remaining_ms, prior, sent_before))
        results = iter(
            [
                self._cancelled(r, cancelled[r.request_id], prior)
                if r.request_id in cancelled
                else next(sent)
                for r in admitted
            ]
        )
        return Relayed(
            [
                None
                if admission and admission.conflicting[n]
                else ([] if r.request_id in final else next(results))
                for n, r in enumerate(requests)
            ],
            admission,
        )

    def _cancelled(self, request: DeletionRequest, at: str, prior) -> list[IdentifierResult]:
        """A cancelled request's identifiers: what is final stands; the rest is never sent."""
        results = []
        vendor, cancelled = self.connector.name, f"cancelled at {at}, before it was sent"
        for identifier in request.acted_on:
            earlier = prior.get((request.request_id, identifier))
            skip = self.connector.skip_reason(request.action, identifier)
            verdict = Verdict(Outcome.SKIPPED, skip) if skip else Verdict(Outcome.CANCELLED, cancelled)
            unsent = IdentifierResult(request.request_id, vendor, identifier, verdict, None)
            results.append(settled_result(request.request_id, vendor, identifier, earlier) or unsent)
        return results

    def record(
        self,
        requests: list[DeletionRequest],
        relayed: Relayed,
        attempt_ids: list[str],
        write_skipped: bool,
    ) -> list[list[IdentifierResult]]:
        """Schedule the verification of new successes, log every outcome and write to the ledger,
        in one batch, those not already final there; a queue message's skipped identifiers are on
        its request's item already. The results, with their verification."""
        taken = [
            (r, res, a)
            for r, res, a in zip(requests, relayed.results, attempt_ids, strict=True)
            if res is not None
        ]
        marked = self.verifier.schedule([r for r, _, _ in taken], [res for _, res, _ in taken])
        writes = []
        for request_results, (request, _, attempt_id) in zip(marked, taken, strict=True):
            # A step's identifiers are on no REQUEST item: even a skipped one is written.
            write_skipped_here = write_skipped or request.learned_from is not None
            for result in request_results:
                logger.info(
                    "identifier outcome",
                    extra={
                        CORRELATION_ID: result.request_id,
                        "settled": result.settled,
                        **outcome_view(result, self.hasher),
                    },
                )
                if not result.settled and (
                    write_skipped_here or result.verdict.outcome is not Outcome.SKIPPED
                ):
                    writes.append((result, attempt_id))
        if self.ledger and writes:
            expiries = relayed.admission.expiries if relayed.admission else {}
            # A profile's outcome is written before the one of the identifier that found it: an
            # identifier final in the ledger has every profile it was erased through there too.
            first = [w for w in writes if w[0].resolved_from is not None]
            for part in (first, [w for w in writes if w[0].resolved_from is None]):
                if part:
                    self.ledger.record(part, expiries)
        return marked


def vendor_handler(
    vendor: str, env: Mapping[str, str] = os.environ
) -> Callable[[Any, Any], Mapping[str, Any]]:
    """Build the Lambda handler of one vendor function; runs once per cold start."""
    function = VendorFunction(vendor, env)
    metrics.set_default_dimensions(vendor=vendor)
    app = APIGatewayRestResolver()
    http_answers.register_error_handlers(app)

    @app.post(f"/v1/vendors/{vendor}/deletions")
    def post_deletion():
        event = app.current_event
        key = (event.headers or {}).get("idempotency-key")
        request = parse(http_answers.request_body(event), default_request_id=key)
        function.sealer.read_from = frozenset()  # this call read nothing a batch kept
        logger.set_correlation_id(request.request_id)  # for the rest of this invocation
        context = app.lambda_context
        started = time.monotonic()

        def remaining_ms() -> int:
            gateway_left = API_GATEWAY_TIMEOUT_MS - (time.monotonic() - started) * 1000
            return int(min(context.get_remaining_time_in_millis(), gateway_left))

        relayed = function.run([request], remaining_ms)
        if relayed.results[0] is None:
            raise ConflictingRequest(request.request_id)
        (results,) = function.record(
            [request], relayed, [f"api:{context.aws_request_id}"], write_skipped=True
        )
        return http_answers.outcomes_response(request.request_id, vendor, results, function.hasher)

    return entry_point(QueueBatch.handler(function), app)


class QueueBatch:
    """One SQS batch of a vendor function, in named steps: read the records, relay the requests,
    record their outcomes, make the checks that are due, then report each record."""

    def __init__(self, function: VendorFunction, event: dict, context: Any):
        self.function = function
        self.records = {r["messageId"]: SQSRecord(r) for r in event["Records"]}
        self.parsed = function.reader.read(self.records)
        self.remaining_ms = context.get_remaining_time_in_millis if context else None
        self.invocation = getattr(context, "aws_request_id", None) or "local"
        self.results: dict[str, list[IdentifierResult] | None] = {}
        self.unrecorded: str | None = None
        self.checks_failed: str | None = None
        self.due: set[str] = set()
        self.lookups_to_retry: dict[str, list[IdentifierResult]] = {}

    @classmethod
    def handler(cls, function: VendorFunction) -> Callable[[dict, Any], Mapping[str, Any]]:
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

        def handle_sqs(event: dict, context: Any) -> Mapping[str, Any]:
            batch = cls(function, event, context)
            batch.relay_and_record()
            batch.check()
            return process_partial_response(event, batch.report, processor, context)

        return handle_sqs

    def relay_and_record(self) -> None:
        valid = {key: value for key, value in self.parsed.items() if isinstance(value, DeletionRequest)}
        again = frozenset(r.request_id for k, r in valid.items() if was_delivered_before(self.records[k]))
        try:
            relayed = self.function.run(list(valid.values()), self.remaining_ms, again)
        except Exception as error:  # the ledger unreadable before anything was sent: all come again
            logger.exception(
                "requests not relayed", extra={"request_ids": sorted({r.request_id for r in valid.values()})}
            )
            self.unrecorded = type(error).__name__
            return
        self.results = dict(zip(valid, relayed.results, strict=True))
        # Unique per invocation: two deliveries of one message (SQS may duplicate it) are two
        # attempts, and neither's write can be refused as the other's.
        attempt_ids = [f"{key}:{receive_count(self.records[key])}:{self.invocation}" for key in valid]
        try:
            self.function.record(list(valid.values()), relayed, attempt_ids, write_skipped=False)
        except Exception as error:  # the ledger unreachable: every record is retried, nothing lost
            request_ids = sorted({r.request_id for r in valid.values()})
            logger.exception("outcomes not recorded", extra={"request_ids": request_ids})
            self.unrecorded = type(error).__name__

    def check(self) -> None:
        """Make the checks that are due, together; what must be looked up again, per record."""
        now = time.time()
        due = {k: c for k, c in self.parsed.items() if isinstance(c, Check) and c.due_at <= now}
        self.due = set(due)
        if due and self.function.verifier.settings is None:
            self.checks_failed = "verification is not configured here"
        elif due:
            try:
                found = self.function.verifier.check(list(due.values()), self.remaining_ms)
                self.lookups_to_retry = dict(zip(due, found, strict=True))
            except Exception as error:  # the ledger or the queue unreachable: the checks come again
                request_ids = sorted({c.request.request_id for c in due.values()})
                logger.exception("checks not recorded", extra={"request_ids": request_ids})
                self.checks_failed = type(error).__name__

    def report(self, record: SQSRecord) -> None:
        """Return for a record done (or refused for good); raise RetryLater for one to retry."""
        outcome = self.parsed[record.message_id]
        if isinstance(outcome, InvalidRequest):
            # Retrying cannot fix it: refuse it for good, with the reason, never its content.
            logger.warning(
                "record rejected",
                extra={"message_id": record.message_id, "errors": [e.as_dict() for e in outcome.errors]},
            )
            metrics.add_metric(name="rejected", unit=MetricUnit.Count, value=1)
            return
        if isinstance(outcome, Over):  # a redriven, duplicated or late message: nothing to send
            logger.info(
                "messages for final requests: nothing sent", extra={"request_ids": [outcome.request_id]}
            )
            return
        if isinstance(outcome, Unreadable):
            with correlated(outcome.request_id):
                raise RetryLater("its identifiers are not readable while its request is open")
        request = outcome.request if isinstance(outcome, Check) else outcome
        with correlated(request.request_id):
            if isinstance(outcome, Check):
                return self._report_check(record, outcome)
            return self._report_deletion(record, outcome)

    def _report_deletion(self, record: SQSRecord, request: DeletionRequest) -> None:
        if self.unrecorded:
            raise RetryLater(f"outcomes not recorded ({self.unrecorded})")
        results = self.results[record.message_id]
        if results is None:
            logger.warning(CONFLICT)
            metrics.add_metric(name="conflicting", unit=MetricUnit.Count, value=1)
            return
        # A dry run reports refused credentials (checking them is one of its uses), not waits.
        retry = [
            r
            for r in results
            if not r.verdict.outcome.is_final
            and not (request.dry_run and r.verdict.outcome is Outcome.UNAUTHORIZED)
        ]
        travelling = self._travelling(request, vendor_message(request))
        if retry and not self.function.scheduler.retry(record, retry, travelling):
            outcomes = sorted({str(r.verdict.outcome) for r in retry})
            raise RetryLater(f"{len(retry)} identifier(s) to retry: {outcomes}")

    def _travelling(self, request: DeletionRequest, message: dict[str, Any]) -> Callable[[], str]:
        """The record's message as it would be sent anew, made only if it is."""
        return functools.partial(self.function.sealed, request, message)

    def _report_check(self, record: SQSRecord, check: Check) -> None:
        if record.message_id not in self.due:
            # Not due yet: hidden until it is (SQS delays a message 15 minutes at most).
            wait = min(MAX_HIDE_S, max(1, math.ceil(check.due_at - time.time())))
            travelling = self._travelling(check.request, check.message())
            if not self.function.scheduler.postpone(record, wait, travelling):
                raise RetryLater("verification check not yet due")
            return
        if self.checks_failed:
            raise RetryLater(f"check not made ({self.checks_failed})")
        retry = self.lookups_to_retry[record.message_id]
        travelling = self._travelling(check.request, check.message())
        if retry and not self.function.scheduler.retry(record, retry, travelling):
            raise RetryLater(
                f"{len(retry)} lookup(s) to retry: {sorted({str(r.verdict.outcome) for r in retry})}"
            )
