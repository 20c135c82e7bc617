"""A vendor function: one handler serves the vendor's SQS queue and its API route.

SQS: the whole batch is relayed first (identifiers of all records grouped into as few vendor calls
as allowed), then Powertools' batch processor reports the records that must be retried.
API: one request, run synchronously, answered with its per-identifier outcomes.
Either way, what the ledger already holds as final for a request is answered, never sent again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from erasure.aws_clients import ledger_table
from erasure.config import ledger_table_name, ledger_ttl_days, load_hash_key, load_vendor_settings
from erasure.handlers import http_answers
from erasure.handlers.sqs import RetryScheduler, entry_point, read_request, receive_count
from erasure.ledger import Ledger
from erasure.observability import IdentifierHasher, logger, metrics
from erasure.outcomes import IdentifierResult, outcome_view
from erasure.relay import Relay
from erasure.request import DeletionRequest, InvalidRequest, parse
from erasure.vendors import CONNECTORS


class RetryLater(Exception):
    """Raised for a record whose identifiers must be tried again (reported to SQS)."""


def vendor_handler(vendor: str, env: Mapping[str, str] = os.environ) -> Callable[[Any, Any], dict]:
    """Build the Lambda handler of one vendor function; runs once per cold start."""
    connector = CONNECTORS[vendor]
    hasher = IdentifierHasher(load_hash_key(env))
    relay = Relay(connector, load_vendor_settings(connector, env), hasher)
    # Without a ledger (a function used on its own) outcomes are only logged and answered.
    ledger = (
        Ledger(ledger_table(ledger_table_name(env)), hasher, ledger_ttl_days(env))
        if env.get("LEDGER_TABLE")
        else None
    )

    def run(requests: list[DeletionRequest], remaining_ms) -> list[list[IdentifierResult]]:
        served = [
            (r.request_id, i)
            for r in requests
            for i in r.identifiers
            if not connector.skip_reason(r.action, i)
        ]
        prior = ledger.prior_outcomes(vendor, served) if ledger and served else {}
        return relay.run(requests, remaining_ms, prior)

    def record_results(results: list[IdentifierResult], attempt_id: str) -> None:
        for result in results:
            logger.info(
                "identifier outcome",
                extra={
                    "request_id": result.request_id,
                    "settled": result.settled,
                    **outcome_view(result, hasher),
                },
            )
            if ledger and not result.settled:
                ledger.record(result, attempt_id)

    metrics.set_default_dimensions(vendor=vendor)
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    scheduler = RetryScheduler()
    app = APIGatewayRestResolver()
    http_answers.register_error_handlers(app)

    @app.post(f"/v1/vendors/{vendor}/deletions")
    def post_deletion():
        event = app.current_event
        key = (event.headers or {}).get("idempotency-key")
        request = parse(http_answers.request_body(event), default_request_id=key)
        context = app.lambda_context
        (results,) = run([request], context.get_remaining_time_in_millis)
        record_results(results, f"api:{context.aws_request_id}")
        return http_answers.outcomes_response(request.request_id, vendor, results, hasher)

    def handle_sqs(event: dict, context: Any) -> dict:
        parsed: dict[str, DeletionRequest | InvalidRequest] = {}
        for record in event["Records"]:
            sqs_record = SQSRecord(record)
            try:
                parsed[sqs_record.message_id] = read_request(sqs_record)
            except InvalidRequest as invalid:
                parsed[sqs_record.message_id] = invalid
        valid = {key: value for key, value in parsed.items() if isinstance(value, DeletionRequest)}
        remaining_ms = context.get_remaining_time_in_millis if context else None
        results = dict(zip(valid, run(list(valid.values()), remaining_ms), strict=True))

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
            record_results(results[record.message_id], f"{record.message_id}:{receive_count(record)}")
            retry = [r for r in results[record.message_id] if not r.verdict.outcome.is_final]
            if retry:
                scheduler.delay(record, retry)
                outcomes = sorted({str(r.verdict.outcome) for r in retry})
                raise RetryLater(f"{len(retry)} identifier(s) to retry: {outcomes}")

        return process_partial_response(event, record_handler, processor, context)

    return entry_point(handle_sqs, app)
