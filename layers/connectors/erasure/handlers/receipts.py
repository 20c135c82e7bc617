"""The receipts function: it tells callers when a request's overall state changes, and watches the
statutory deadlines.

- From the ledger's stream (DynamoDB Streams, keys only): each request whose items changed has its
  receipt read again; if its state (status, verification, final, due_by) differs from the one
  last published, an event goes to EventBridge (source STATUS_EVENT_SOURCE, detail-type
  STATUS_EVENT_TYPE) and the state is noted. At least once: a publication whose note fails is
  published again. A final request leaves the deadline index.
- Hourly (an EventBridge schedule): every request still in the deadline index is read again,
  most urgent first: a change the stream did not publish (a stream batch that ran out of
  retries sends only metadata to ReceiptsDeadLetterQueue) is published now, and a request found
  final leaves the index. Those still not final whose `due_by` falls within DEADLINE_MARGIN_DAYS
  are counted in the metric NEAR_DEADLINE_METRIC, which an alarm watches. So the redrive of a
  failed stream batch is this hour's watch: nothing needs replaying from the dead-letter queue.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from erasure.aws_clients import eventbridge_client
from erasure.config import ReceiptsSettings
from erasure.errors import NotPublished
from erasure.handlers.events import is_record_batch
from erasure.ledger import ReceiptBook
from erasure.observability import CORRELATION_ID, logger, metrics
from erasure.times import instant, utc_timestamp

STATUS_EVENT_SOURCE = "erasure-relay"
STATUS_EVENT_TYPE = "Erasure request status changed"
NEAR_DEADLINE_METRIC = "requests_near_deadline"
TIME_TO_FINAL_METRIC = "seconds_to_final"  # per request, once: from its creation to final
PUT_EVENTS_MAX = 10  # PutEvents' most entries a call
WATCH_BUDGET_S = 60.0  # without a Lambda context (the function's timeout, template.yaml)


class StatusPublisher:
    """The receipts function's work: publish what changed (from the stream), and the hourly watch."""

    def __init__(self, settings: ReceiptsSettings):
        self.ledger = ReceiptBook.from_settings(settings.ledger)
        self.events = eventbridge_client()
        self.margin = timedelta(days=settings.deadline_margin_days)
        self.max_lifetime_days = settings.ledger.max_lifetime_days
        self.processor = BatchProcessor(
            event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False
        )

    def publish_changes(
        self, request_ids: list[str], abandon_before: str | None = None
    ) -> tuple[set[str], set[str]]:
        """Publish each request's change, if any: (the request_ids whose change is not published,
        those published final, which leave the deadline index). Those made before
        `abandon_before` and still open are abandoned first."""
        changes = []
        for request_id in request_ids:
            change = self.ledger.status_change(request_id, abandon_before)
            if change:
                changes.append((request_id, change))
        failed: set[str] = set()
        final: set[str] = set()
        for start in range(0, len(changes), PUT_EVENTS_MAX):
            chunk = changes[start : start + PUT_EVENTS_MAX]
            entries = [_status_event(request_id, c.state, c.published) for request_id, c in chunk]
            answer = self.events.put_events(Entries=entries)
            for (request_id, change), entry in zip(chunk, answer["Entries"], strict=True):
                state = change.state
                if entry.get("ErrorCode"):
                    failed.add(request_id)
                    continue
                if state["final"]:  # forgotten first: it stays watched until that is done
                    self.ledger.forget(request_id, change)
                # Noted after it is published: a change is published at least once, never lost.
                if self.ledger.mark_published(request_id, state, change.published) and state["final"]:
                    final.add(request_id)
                    _time_to_final(change.created_at)
                logger.info(
                    "status published",
                    extra={CORRELATION_ID: request_id, "status": state["status"], "final": state["final"]},
                )
        return failed, final

    def handle_stream(self, event: dict, context: Any) -> Mapping[str, Any]:
        records = [DynamoDBRecord(r) for r in event["Records"]]
        # An item TTL removes (REMOVE) changes no state worth telling: the receipt is expiring.
        named = {_request_id(r) for r in records if r.raw_event.get("eventName") != "REMOVE"}
        request_ids = sorted(request_id for request_id in named if request_id is not None)
        try:
            failed, _ = self.publish_changes(request_ids)
        except Exception as error:  # the ledger or EventBridge unreachable: the batch comes again
            logger.exception("status changes not published", extra={"request_ids": request_ids})
            failed = set(request_ids)
            reason = type(error).__name__
        else:
            reason = "EventBridge refused the event"

        def record_handler(record: DynamoDBRecord) -> None:
            if _request_id(record) in failed:
                raise NotPublished(reason)

        return process_partial_response(event, record_handler, self.processor, context)

    def watch_deadlines(self, context: Any) -> None:
        """Re-read every open request, most urgent first, within the invocation's time: a change
        the stream never published (its batch ran out of retries) is published now, and a request
        found final leaves the deadline index, so the alarm counts only what is really open."""
        now = datetime.now(UTC)
        open_requests = self.ledger.open_due_by(utc_timestamp(datetime.max.replace(tzinfo=UTC)))
        abandon_before = utc_timestamp(now - timedelta(days=self.max_lifetime_days))
        deadline = time.monotonic() + _watch_budget_s(context)
        reread, closed = 0, set()
        for start in range(0, len(open_requests), PUT_EVENTS_MAX):
            if time.monotonic() > deadline:
                break
            chunk = [request_id for request_id, _ in open_requests[start : start + PUT_EVENTS_MAX]]
            try:
                _, final = self.publish_changes(chunk, abandon_before)
            except Exception:  # EventBridge or the ledger unreachable: the next hour tries again
                logger.exception("open requests not re-read", extra={"request_ids": chunk})
                break
            reread += len(chunk)
            closed |= final
        # A due_by that cannot be read (never written so) counts as due now: the alarm says so.
        still_open = [(r, instant(due_by) or now) for r, due_by in open_requests if r not in closed]
        due = [(r, due_by) for r, due_by in still_open if due_by <= now + self.margin]
        overdue = [request_id for request_id, due_by in due if due_by < now]
        # By service alone, as DeadlineAlarm watches it.
        for name, count in ((NEAR_DEADLINE_METRIC, len(due)), ("requests_overdue", len(overdue))):
            with single_metric(name=name, unit=MetricUnit.Count, value=count, default_dimensions={}):
                pass
        logger.info("open requests re-read", extra={"open": len(open_requests), "reread": reread})
        if due:
            logger.warning(
                "requests not final near their deadline",
                extra={"request_ids": sorted(r for r, _ in due)[:100], "overdue": sorted(overdue)[:100]},
            )


def receipts_handler(env: Mapping[str, str] = os.environ) -> Callable[[Any, Any], Mapping[str, Any] | None]:
    publisher = StatusPublisher(ReceiptsSettings.from_env(env))  # once, at cold start

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: Any, context: Any) -> Mapping[str, Any] | None:
        if is_record_batch(event, "eventID"):
            return publisher.handle_stream(event, context)
        if isinstance(event, dict) and event.get("source") == "aws.events":
            publisher.watch_deadlines(context)
            return None
        logger.warning("invocation is neither a DynamoDB stream batch nor a schedule")
        return None

    return handler


def _request_id(record: DynamoDBRecord) -> str | None:
    """The request a stream record is about, read without trusting its shape."""
    change = record.raw_event.get("dynamodb")
    keys = change.get("Keys") if isinstance(change, dict) else None
    key = keys.get("request_id") if isinstance(keys, dict) else None
    value = key.get("S") if isinstance(key, dict) else None
    return value if isinstance(value, str) else None


def _time_to_final(created_at: str | None) -> None:
    """Seconds from a request's creation to its first publication as final (every vendor's
    outcome and verification made): the dashboard shows it in days, against the statutory month."""
    started = instant(created_at) if created_at else None
    if started is not None:
        seconds = (datetime.now(UTC) - started).total_seconds()
        metrics.add_metric(name=TIME_TO_FINAL_METRIC, unit=MetricUnit.Seconds, value=round(seconds, 1))


def _watch_budget_s(context: Any) -> float:
    """The time the watch may spend re-reading: its invocation's, less a margin to report."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return max(1.0, (remaining() / 1000 if remaining else WATCH_BUDGET_S) - 10)


def _status_event(request_id: str, state: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    detail = {"request_id": request_id, **state, "previous": previous, "changed_at": utc_timestamp()}
    return {
        "Source": STATUS_EVENT_SOURCE,
        "DetailType": STATUS_EVENT_TYPE,
        "Detail": json.dumps(detail),
        "EventBusName": "default",
    }
