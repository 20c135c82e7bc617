"""What the queue-fed handlers share: a record read into a request without ever raising anything
but InvalidRequest, the id that stands in for a missing request_id, the receive count, retries
scheduled at the vendor's wait, and the one dispatch between an SQS and an API Gateway event."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from erasure.aws_clients import MAX_HIDE_S, QueueVisibility
from erasure.handlers.events import is_record_batch
from erasure.handlers.http_answers import not_an_api_event
from erasure.observability import logger, metrics
from erasure.outcomes import IdentifierResult, Outcome
from erasure.request import is_request_id, utc_timestamp

# Set by tools.redrive, and on a message sent anew: the id a message had first.
ORIGINAL_MESSAGE_ID = "original_message_id"
REQUEUES = "requeues"  # how many times a message was sent anew to outlast maxReceiveCount
REQUEUE_AFTER_RECEIVES = 10  # of the queues' maxReceiveCount of 20 (template.yaml)
MAX_REQUEUES = 30
# Transient failures back off from 30 s, doubling per receive, up to 15 min; with the queues'
# maxReceiveCount of 20 that rides out about 3.5 hours of vendor outage before the DLQ.
TRANSIENT_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 15 * 60
Travelling = Callable[[], str]  # a record's message as it is sent anew
# A wait the vendor gave that is already over (a reset time just past) still gets a few seconds.
MIN_THROTTLE_WAIT_SECONDS = 5


def entry_point(
    on_records: Callable[[dict, Any], Mapping[str, Any]], app: APIGatewayRestResolver
) -> Callable[[Any, Any], dict]:
    """The Lambda handler of a function fed by a queue and an API route: SQS batches go to
    `on_records`, API Gateway events to `app`, anything else gets a 400 answer."""

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: Any, context: Any) -> Mapping[str, Any]:
        if is_record_batch(event, "messageId"):
            return on_records(event, context)
        if isinstance(event, dict) and isinstance(event.get("httpMethod"), str):
            return app.resolve(event, context)
        logger.warning("invocation is neither an SQS nor an API Gateway event")
        return not_an_api_event()

    return handler


class RequestDefaults(TypedDict):
    default_request_id: str
    default_requested_at: str | None


def request_defaults(record: SQSRecord) -> RequestDefaults:
    """What a message stands for when its request leaves it out: its id for a missing request_id,
    its sending time for requested_at; both stay the same on redelivery."""
    return RequestDefaults(default_request_id=delivery_id(record), default_requested_at=_sent_at(record))


def delivery_id(record: SQSRecord) -> str:
    """The id of a queue message, kept across a redrive from its dead-letter queue: it stands in
    for a missing request_id, which must not change when the message comes back. An attribute
    that is not a valid request_id is ignored (it could never be one)."""
    value = _attribute(record, ORIGINAL_MESSAGE_ID)
    return value if value is not None and is_request_id(value) else record.message_id


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


def _never_sent(result: IdentifierResult) -> bool:
    """Not sent at all: no attempt, no answer (the invocation's time ran out before its call)."""
    return (
        result.attempted_at is None
        and result.verdict.http_status is None
        and not result.verdict.outcome.is_final
    )


class RetryScheduler:
    """Makes SQS redeliver a failed record when the vendor said it may be tried again, instead of
    after the queue's full visibility timeout: the wait is honoured without sleeping in a worker.

    Each receive counts towards the queue's maxReceiveCount (then the dead-letter queue). A
    record that waits for a reason of its own time (a throttle's wait, a check not yet due) and
    has been received REQUEUE_AFTER_RECEIVES times is sent anew instead (its count starts again),
    at most MAX_REQUEUES times; transient failures keep counting, so an outage reaches the DLQ."""

    def __init__(self, visibility: QueueVisibility | None = None) -> None:
        self._visibility = visibility or QueueVisibility()

    def retry(self, record: SQSRecord, retry: list[IdentifierResult], message: Travelling) -> bool:
        """Schedule a record's retry; True when it was sent anew (acknowledge it), False when it
        is hidden until due (report it failed)."""
        seconds = self.wait_seconds(retry, receive_count(record))
        if seconds is None:
            return False
        # Throttled, or never sent (out of time): nothing failed, so it may travel on (a fresh
        # receive count) instead of counting towards the dead-letter queue.
        waiting = all(r.verdict.outcome is Outcome.THROTTLED or _never_sent(r) for r in retry)
        return self.postpone(record, seconds, message if waiting else None)

    def postpone(self, record: SQSRecord, seconds: int, message: Travelling | None) -> bool:
        """Redeliver the record `seconds` from now: hidden (False: report it failed), or, once it
        has been received often and `message` (what makes its request as it travels: made only
        when it is sent) is given, sent anew (True: acknowledge it)."""
        requeues = _attribute(record, REQUEUES)
        count = int(requeues) if requeues and requeues.isdigit() else 0
        if message and receive_count(record) >= REQUEUE_AFTER_RECEIVES and count < MAX_REQUEUES:
            attributes = {ORIGINAL_MESSAGE_ID: delivery_id(record), REQUEUES: str(count + 1)}
            try:
                self._visibility.resend(record.event_source_arn, message(), attributes, seconds)
                return True
            except Exception as error:  # hidden instead: it still counts, but nothing is lost
                logger.warning("could not send the record anew", extra={"error": type(error).__name__})
        try:
            self._visibility.delay(record.event_source_arn, record.receipt_handle, seconds)
        except Exception as error:  # the queue's own visibility timeout still applies
            logger.warning("could not schedule the retry", extra={"error": type(error).__name__})
        return False

    @staticmethod
    def wait_seconds(retry: list[IdentifierResult], receive_count: int) -> int | None:
        """Seconds until the record is due again; None leaves the queue's timeout in force
        (credentials that failed are not worth retrying soon)."""
        outcomes = {r.verdict.outcome for r in retry}
        if Outcome.UNAUTHORIZED in outcomes:
            return None
        waits = [r.verdict.retry_after for r in retry if r.verdict.retry_after is not None]
        if waits:
            return min(MAX_HIDE_S, math.ceil(max(MIN_THROTTLE_WAIT_SECONDS, *waits)))
        return min(MAX_BACKOFF_SECONDS, TRANSIENT_BACKOFF_SECONDS * 2 ** min(receive_count - 1, 10))


def was_delivered_before(record: SQSRecord) -> bool:
    """Whether an earlier delivery of this message (or of the one it was redriven or sent anew
    from) may have sent its request."""
    return receive_count(record) > 1 or _attribute(record, ORIGINAL_MESSAGE_ID) is not None


def _attribute(record: SQSRecord, name: str) -> str | None:
    attributes = record.get("messageAttributes")
    value = attributes.get(name) if isinstance(attributes, dict) else None
    text = value.get("stringValue") if isinstance(value, dict) else None
    return text if isinstance(text, str) else None
