"""What the queue-fed handlers share: a record read into a request without ever raising anything
but InvalidRequest, the id that stands in for a missing request_id, the receive count, retries
scheduled at the vendor's wait, and the one dispatch between an SQS and an API Gateway event."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from erasure.aws_clients import QueueVisibility
from erasure.handlers.http_answers import not_an_api_event
from erasure.observability import logger, metrics
from erasure.outcomes import IdentifierResult, Outcome
from erasure.request import DeletionRequest, is_request_id, json_document, parse, utc_timestamp

# Set by tools.redrive: the id a message had before it went to a dead-letter queue.
ORIGINAL_MESSAGE_ID = "original_message_id"
# Transient failures back off from 30 s, doubling per receive, up to 15 min; with the queues'
# maxReceiveCount of 20 that rides out about 3.5 hours of vendor outage before the DLQ.
TRANSIENT_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 15 * 60
# A wait the vendor gave that is already over (a reset time just past) still gets a few seconds.
MIN_THROTTLE_WAIT_SECONDS = 5


def entry_point(
    on_records: Callable[[dict, Any], dict], app: APIGatewayRestResolver
) -> Callable[[Any, Any], dict]:
    """The Lambda handler of a function fed by a queue and an API route: SQS batches go to
    `on_records`, API Gateway events to `app`, anything else gets a 400 answer."""

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: Any, context: Any) -> dict:
        if isinstance(event, dict) and isinstance(event.get("Records"), list) and event["Records"]:
            return on_records(event, context)
        if isinstance(event, dict) and isinstance(event.get("httpMethod"), str):
            return app.resolve(event, context)
        logger.warning("invocation is neither an SQS nor an API Gateway event")
        return not_an_api_event()

    return handler


def read_request(record: SQSRecord, known_vendors: frozenset[str] | None = None) -> DeletionRequest:
    """A queue message as a request (InvalidRequest when it is not one)."""
    return parse(json_document(record.get("body")), known_vendors=known_vendors, **request_defaults(record))


def request_defaults(record: SQSRecord) -> dict[str, str | None]:
    """What a message stands for when its request leaves it out: its id for a missing request_id,
    its sending time for requested_at; both stay the same on redelivery."""
    return {"default_request_id": delivery_id(record), "default_requested_at": _sent_at(record)}


def delivery_id(record: SQSRecord) -> str:
    """The id of a queue message, kept across a redrive from its dead-letter queue: it stands in
    for a missing request_id, which must not change when the message comes back. An attribute
    that is not a valid request_id is ignored (it could never be one)."""
    attributes = record.get("messageAttributes")
    original = attributes.get(ORIGINAL_MESSAGE_ID) if isinstance(attributes, dict) else None
    value = original.get("stringValue") if isinstance(original, dict) else None
    return value if is_request_id(value) else record.message_id


def receive_count(record: SQSRecord) -> int:
    """How many times SQS has delivered the message, this time included (1 if it does not say)."""
    attributes = record.get("attributes")
    raw = attributes.get("ApproximateReceiveCount") if isinstance(attributes, dict) else None
    return int(raw) if isinstance(raw, str) and raw.isdigit() and int(raw) > 0 else 1


def _sent_at(record: SQSRecord) -> str | None:
    attributes = record.get("attributes")
    raw = attributes.get("SentTimestamp") if isinstance(attributes, dict) else None
    if not isinstance(raw, str) or not raw.isdigit():
        return None
    try:
        return utc_timestamp(datetime.fromtimestamp(int(raw) / 1000, UTC))
    except (OverflowError, ValueError, OSError):  # a time no calendar holds
        return None


class RetryScheduler:
    """Makes SQS redeliver a failed record when the vendor said it may be tried again, instead of
    after the queue's full visibility timeout: the wait is honoured without sleeping in a worker."""

    def __init__(self, visibility: QueueVisibility | None = None) -> None:
        self._visibility = visibility or QueueVisibility()

    def delay(self, record: SQSRecord, retry: list[IdentifierResult]) -> None:
        seconds = self.wait_seconds(retry, receive_count(record))
        if seconds is not None:
            self.hide(record, seconds)

    def hide(self, record: SQSRecord, seconds: int) -> None:
        """Redeliver the record `seconds` from now (it must then be reported as failed)."""
        try:
            self._visibility.delay(record.event_source_arn, record.receipt_handle, seconds)
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
