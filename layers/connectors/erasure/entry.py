"""The vendor functions' entry point: one handler serves the vendor's SQS queue and its API route.

SQS: the whole batch is relayed first (identifiers of all records grouped into as few vendor calls
as allowed), then Powertools' batch processor reports the records that must be retried.
API: one request, run synchronously, answered with its per-identifier outcomes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from erasure import api
from erasure.aws import ledger_table, ledger_ttl_days
from erasure.ledger import Ledger
from erasure.observability import IdentifierHasher, logger, metrics
from erasure.outcomes import Outcome
from erasure.relay import IdentifierResult, Relay, outcome_view
from erasure.request import DeletionRequest, InvalidRequest, decoded_json, parse, utc_timestamp
from erasure.settings import load_hash_key, load_vendor_settings
from erasure.vendors import CONNECTORS

# Transient failures back off from 30 s, doubling per receive, up to 15 min; with the queues'
# maxReceiveCount of 20 that rides out about 3.5 hours of vendor outage before the DLQ.
TRANSIENT_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 15 * 60
# A wait the vendor gave that is already over (a reset time just past) still gets a few seconds.
MIN_THROTTLE_WAIT_SECONDS = 5
# Set by tools.redrive: the id a message had before it went to a dead-letter queue.
ORIGINAL_MESSAGE_ID = "original_message_id"


class RetryLater(Exception):
    """Raised for a record whose identifiers must be tried again (reported to SQS)."""


def vendor_handler(vendor: str, env: Mapping[str, str] = os.environ) -> Callable[[dict, Any], dict]:
    """Build the Lambda handler of one vendor function; runs once per cold start."""
    connector = CONNECTORS[vendor]
    hasher = IdentifierHasher(load_hash_key(env))
    relay = Relay(connector, load_vendor_settings(connector, env), hasher)
    # Without a ledger (a function used on its own) outcomes are only logged and answered.
    ledger = Ledger(ledger_table(env), hasher, ledger_ttl_days(env)) if env.get("LEDGER_TABLE") else None

    def record_results(results: list[IdentifierResult], attempt_id: str) -> None:
        log_results(results, hasher)
        for result in results if ledger else ():
            ledger.record(result, attempt_id)

    metrics.set_default_dimensions(vendor=vendor)
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    scheduler = RetryScheduler()
    app = APIGatewayRestResolver()
    api.register_error_handlers(app)

    @app.post(f"/v1/vendors/{vendor}/deletions")
    def post_deletion():
        event = app.current_event
        request = parse(
            api.json_body(event),
            default_request_id=event.headers.get("idempotency-key"),
        )
        context = app.lambda_context
        (results,) = relay.run([request], context.get_remaining_time_in_millis)
        record_results(results, f"api:{context.aws_request_id}")
        return api.outcomes_response(request.request_id, vendor, results, hasher)

    def handle_sqs(event: dict, context: Any) -> dict:
        parsed: dict[str, DeletionRequest | InvalidRequest] = {}
        for record in event["Records"]:
            parsed[record["messageId"]] = parse_record(record)
        valid = {key: value for key, value in parsed.items() if isinstance(value, DeletionRequest)}
        remaining_ms = context.get_remaining_time_in_millis if context else None
        results = dict(zip(valid, relay.run(list(valid.values()), remaining_ms), strict=True))

        def record_handler(record: SQSRecord) -> None:
            outcome = parsed[record.message_id]
            if isinstance(outcome, InvalidRequest):
                # Retrying cannot fix it: refuse it for good, with the reason, never its content.
                logger.warning(
                    "record rejected",
                    extra={"message_id": record.message_id, "errors": [e.as_dict() for e in outcome.errors]},
                )
                metrics.add_metric(name="rejected", unit="Count", value=1)
                return
            receive_count = int(record.attributes.approximate_receive_count or "1")
            record_results(results[record.message_id], f"{record.message_id}:{receive_count}")
            retry = [r for r in results[record.message_id] if not r.verdict.outcome.is_final]
            if retry:
                scheduler.delay(record, retry, receive_count)
                outcomes = sorted({str(r.verdict.outcome) for r in retry})
                raise RetryLater(f"{len(retry)} identifier(s) to retry: {outcomes}")

        return process_partial_response(event, record_handler, processor, context)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: dict, context: Any) -> dict:
        if event.get("Records"):
            return handle_sqs(event, context)
        return app.resolve(event, context)

    return handler


def parse_record(record: dict) -> DeletionRequest | InvalidRequest:
    """A queue message as a request; defaults taken from the message stay stable on redelivery."""
    sent_ms = record.get("attributes", {}).get("SentTimestamp")
    sent_at = utc_timestamp(datetime.fromtimestamp(int(sent_ms) / 1000, UTC)) if sent_ms else None
    try:
        body = decoded_json(record.get("body"))
        return parse(body, default_request_id=delivery_id(record), default_requested_at=sent_at)
    except InvalidRequest as invalid:
        return invalid


def delivery_id(record: dict) -> str:
    """The id of a queue message, kept across a redrive from its dead-letter queue: it stands in
    for a missing request_id, which must not change when the message comes back."""
    original = (record.get("messageAttributes") or {}).get(ORIGINAL_MESSAGE_ID) or {}
    return original.get("stringValue") or record["messageId"]


def log_results(results: list[IdentifierResult], hasher: IdentifierHasher) -> None:
    for result in results:
        logger.info(
            "identifier outcome", extra={"request_id": result.request_id, **outcome_view(result, hasher)}
        )


class RetryScheduler:
    """Makes SQS redeliver a failed record when the vendor said it may be tried again, instead of
    after the queue's full visibility timeout: the wait is honoured without sleeping in a worker."""

    def __init__(self) -> None:
        self._sqs = None
        self._queue_urls: dict[str, str] = {}

    def delay(self, record: SQSRecord, retry: list[IdentifierResult], receive_count: int) -> None:
        seconds = self.wait_seconds(retry, receive_count)
        if seconds is None:
            return
        try:
            self._client().change_message_visibility(
                QueueUrl=self._queue_url(record.event_source_arn),
                ReceiptHandle=record.receipt_handle,
                VisibilityTimeout=seconds,
            )
        except Exception as error:  # the queue's own visibility timeout still applies
            logger.warning("could not schedule the retry", extra={"error": type(error).__name__})

    @staticmethod
    def wait_seconds(retry: list[IdentifierResult], receive_count: int) -> int | None:
        """Seconds until the record is due again; None leaves the queue's timeout in force
        (credentials that failed are not worth retrying soon)."""
        outcomes = {r.verdict.outcome for r in retry}
        if Outcome.UNAUTHORIZED in outcomes:
            return None
        waits = [r.verdict.retry_after for r in retry if r.verdict.retry_after is not None]
        if waits:
            return math.ceil(max(MIN_THROTTLE_WAIT_SECONDS, *waits))  # waits are capped at 12 h
        return min(MAX_BACKOFF_SECONDS, TRANSIENT_BACKOFF_SECONDS * 2 ** min(receive_count - 1, 10))

    def _client(self):
        if self._sqs is None:
            import boto3  # only when a retry is scheduled

            self._sqs = boto3.client("sqs")
        return self._sqs

    def _queue_url(self, queue_arn: str) -> str:
        if queue_arn not in self._queue_urls:
            *_, account, name = queue_arn.split(":")
            answer = self._client().get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
            self._queue_urls[queue_arn] = answer["QueueUrl"]
        return self._queue_urls[queue_arn]
