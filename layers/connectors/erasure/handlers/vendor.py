"""A vendor function: one handler serves the vendor's SQS queue and its API route.

SQS: the whole batch is relayed first (identifiers of all records grouped into as few vendor calls
as allowed), then Powertools' batch processor reports the records that must be retried. The same
queue carries this vendor's verification checks (erasure.verification): those due are made
together, those not yet due are hidden until they are.
API: one request, run synchronously, answered with its per-identifier outcomes.
Either way, what the ledger already holds as final for a request is answered, never sent again,
and a new success is scheduled for verification.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from erasure.aws_clients import QueueVisibility
from erasure.config import load_hash_key, load_vendor_settings, vendor_credentials
from erasure.handlers import http_answers
from erasure.handlers.sqs import RetryScheduler, entry_point, receive_count, request_defaults
from erasure.ledger import Ledger
from erasure.observability import CORRELATION_ID, IdentifierHasher, correlated, logger, metrics
from erasure.outcomes import IdentifierResult, Outcome, outcome_view
from erasure.relay import Relay
from erasure.request import DeletionRequest, InvalidRequest, json_document, parse
from erasure.vendors import CONNECTORS
from erasure.verification import CHECK_FIELD, MAX_HIDE_S, Check, Verifier, read_check


class RetryLater(Exception):
    """Raised for a record whose identifiers must be tried again (reported to SQS)."""


def vendor_handler(vendor: str, env: Mapping[str, str] = os.environ) -> Callable[[Any, Any], dict]:
    """Build the Lambda handler of one vendor function; runs once per cold start."""
    connector = CONNECTORS[vendor]
    hasher = IdentifierHasher(load_hash_key(env))
    relay = Relay(connector, load_vendor_settings(connector, env), hasher)
    # Without a ledger (a function used on its own) outcomes are only logged and answered.
    ledger = Ledger.from_env(env, hasher) if env.get("LEDGER_TABLE") else None
    queue = QueueVisibility()
    verifier = Verifier(relay, ledger, queue)

    def run(requests: list[DeletionRequest], remaining_ms) -> list[list[IdentifierResult]]:
        served = [
            (r.request_id, i)
            for r in requests
            for i in r.identifiers
            if not connector.skip_reason(r.action, i)
        ]
        prior = ledger.prior_outcomes(vendor, served) if ledger and served else {}
        # Rotated credentials take effect within SECRET_MAX_AGE_S (the secret is cached that long).
        relay.settings = replace(relay.settings, credentials=vendor_credentials(connector, env))
        return relay.run(requests, remaining_ms, prior)

    def record_results(
        requests: list[DeletionRequest],
        results: list[list[IdentifierResult]],
        attempt_ids: list[str],
        write_skipped: bool,
    ) -> list[list[IdentifierResult]]:
        """Schedule the verification of new successes, log every outcome and write to the ledger,
        in one batch, those not already final there; a queue message's skipped identifiers are on
        its request's item already. The results, with their verification."""
        writes = []
        marked = verifier.schedule(requests, results)
        for request_results, attempt_id in zip(marked, attempt_ids, strict=True):
            for result in request_results:
                logger.info(
                    "identifier outcome",
                    extra={
                        CORRELATION_ID: result.request_id,
                        "settled": result.settled,
                        **outcome_view(result, hasher),
                    },
                )
                if not result.settled and (write_skipped or result.verdict.outcome is not Outcome.SKIPPED):
                    writes.append((result, attempt_id))
        if ledger and writes:
            ledger.record(writes)
        return marked

    metrics.set_default_dimensions(vendor=vendor)
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    scheduler = RetryScheduler(queue)
    app = APIGatewayRestResolver()
    http_answers.register_error_handlers(app)

    @app.post(f"/v1/vendors/{vendor}/deletions")
    def post_deletion():
        event = app.current_event
        key = (event.headers or {}).get("idempotency-key")
        request = parse(http_answers.request_body(event), default_request_id=key)
        logger.set_correlation_id(request.request_id)  # for the rest of this invocation
        context = app.lambda_context
        (results,) = run([request], context.get_remaining_time_in_millis)
        (results,) = record_results(
            [request], [results], [f"api:{context.aws_request_id}"], write_skipped=True
        )
        return http_answers.outcomes_response(request.request_id, vendor, results, hasher)

    def handle_sqs(event: dict, context: Any) -> dict:
        parsed: dict[str, DeletionRequest | Check | InvalidRequest] = {}
        for record in event["Records"]:
            sqs_record = SQSRecord(record)
            try:
                parsed[sqs_record.message_id] = _read_message(sqs_record)
            except InvalidRequest as invalid:
                parsed[sqs_record.message_id] = invalid
        valid = {key: value for key, value in parsed.items() if isinstance(value, DeletionRequest)}
        remaining_ms = context.get_remaining_time_in_millis if context else None
        results = dict(zip(valid, run(list(valid.values()), remaining_ms), strict=True))
        receives = {record["messageId"]: receive_count(SQSRecord(record)) for record in event["Records"]}
        try:
            attempt_ids = [f"{key}:{receives[key]}" for key in results]
            record_results(list(valid.values()), list(results.values()), attempt_ids, write_skipped=False)
            unrecorded = None
        except Exception as error:  # the ledger unreachable: every record is retried, nothing lost
            request_ids = sorted({r.request_id for r in valid.values()})
            logger.exception("outcomes not recorded", extra={"request_ids": request_ids})
            unrecorded = type(error).__name__
        due = {key: c for key, c in parsed.items() if isinstance(c, Check) and c.due_at <= time.time()}
        checks_failed, lookups_to_retry = None, {}
        if due and verifier.settings is None:
            checks_failed = "verification is not configured here"
        elif due:
            try:
                lookups_to_retry = dict(
                    zip(due, verifier.check(list(due.values()), remaining_ms), strict=True)
                )
            except Exception as error:  # the ledger or the queue unreachable: the checks come again
                request_ids = sorted({c.request.request_id for c in due.values()})
                logger.exception("checks not recorded", extra={"request_ids": request_ids})
                checks_failed = type(error).__name__

        def check_handler(record: SQSRecord, check: Check) -> None:
            if record.message_id not in due:
                # Not due yet: hidden until it is (SQS delays a message 15 minutes at most).
                scheduler.hide(record, min(MAX_HIDE_S, max(1, math.ceil(check.due_at - time.time()))))
                raise RetryLater("verification check not yet due")
            if checks_failed:
                raise RetryLater(f"check not made ({checks_failed})")
            retry = lookups_to_retry[record.message_id]
            if retry:
                scheduler.delay(record, retry)
                raise RetryLater(
                    f"{len(retry)} lookup(s) to retry: {sorted({str(r.verdict.outcome) for r in retry})}"
                )

        def record_handler(record: SQSRecord) -> None:
            outcome = parsed[record.message_id]
            if isinstance(outcome, InvalidRequest):
                # Retrying cannot fix it: refuse it for good, with the reason, never its content.
                logger.warning(
                    "record rejected",
                    extra={"message_id": record.message_id, "errors": [e.as_dict() for e in outcome.errors]},
                )
                metrics.add_metric(name="rejected", unit=MetricUnit.Count, value=1)
                return
            request = outcome.request if isinstance(outcome, Check) else outcome
            with correlated(request.request_id):
                if isinstance(outcome, Check):
                    return check_handler(record, outcome)
                if unrecorded:
                    raise RetryLater(f"outcomes not recorded ({unrecorded})")
                retry = [r for r in results[record.message_id] if not r.verdict.outcome.is_final]
                if retry:
                    scheduler.delay(record, retry)
                    outcomes = sorted({str(r.verdict.outcome) for r in retry})
                    raise RetryLater(f"{len(retry)} identifier(s) to retry: {outcomes}")

        return process_partial_response(event, record_handler, processor, context)

    return entry_point(handle_sqs, app)


def _read_message(record: SQSRecord) -> DeletionRequest | Check:
    """A deletion request, or (with CHECK_FIELD) a verification check; InvalidRequest if neither."""
    body = json_document(record.get("body"))
    if isinstance(body, dict) and CHECK_FIELD in body:
        return read_check(body, **request_defaults(record))
    return parse(body, **request_defaults(record))
