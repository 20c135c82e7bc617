"""The receipts function: it tells callers when a request's overall state changes, and watches the
statutory deadlines.

- From the ledger's stream (DynamoDB Streams, keys only): each request whose items changed has its
  receipt read again; if its state (status, verification, final, due_by) differs from the one
  last published, an event goes to EventBridge (source STATUS_EVENT_SOURCE, detail-type
  STATUS_EVENT_TYPE) and the state is noted. At least once: a publication whose note fails is
  published again. A final request leaves the deadline index.
- Hourly (an EventBridge schedule): the requests not final whose `due_by` falls within
  DEADLINE_MARGIN_DAYS are counted in the metric NEAR_DEADLINE_METRIC, which an alarm watches.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from erasure.aws_clients import eventbridge_client
from erasure.config import deadline_margin_days
from erasure.ledger import Ledger
from erasure.observability import CORRELATION_ID, logger, metrics
from erasure.request import utc_timestamp

STATUS_EVENT_SOURCE = "erasure-relay"
STATUS_EVENT_TYPE = "Erasure request status changed"
NEAR_DEADLINE_METRIC = "requests_near_deadline"
PUT_EVENTS_MAX = 10  # PutEvents' most entries a call


class NotPublished(Exception):
    """Raised for a stream record whose request's change could not be published (retried)."""


def receipts_handler(env: Mapping[str, str] = os.environ) -> Callable[[Any, Any], dict | None]:
    ledger = Ledger.from_env(env, None)
    events = eventbridge_client()
    margin = timedelta(days=deadline_margin_days(env))
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)

    def publish_changes(request_ids: list[str]) -> set[str]:
        """Publish each request's change, if any; the request_ids whose change is not published."""
        changes = []
        for request_id in request_ids:
            change = ledger.status_change(request_id)
            if change:
                changes.append((request_id, *change))
        failed: set[str] = set()
        for start in range(0, len(changes), PUT_EVENTS_MAX):
            chunk = changes[start : start + PUT_EVENTS_MAX]
            answer = events.put_events(Entries=[_status_event(*change) for change in chunk])
            for (request_id, state, previous), entry in zip(chunk, answer["Entries"], strict=True):
                if entry.get("ErrorCode"):
                    failed.add(request_id)
                    continue
                # Noted after it is published: a change is published at least once, never lost.
                ledger.mark_published(request_id, state, previous)
                logger.info(
                    "status published",
                    extra={CORRELATION_ID: request_id, "status": state["status"], "final": state["final"]},
                )
        return failed

    def handle_stream(event: dict, context: Any) -> dict:
        records = [DynamoDBRecord(r) for r in event["Records"]]
        # An item TTL removes (REMOVE) changes no state worth telling: the receipt is expiring.
        request_ids = sorted(
            {_request_id(r) for r in records if r.raw_event.get("eventName") != "REMOVE"} - {None}
        )
        try:
            failed = publish_changes(request_ids)
        except Exception as error:  # the ledger or EventBridge unreachable: the batch comes again
            logger.exception("status changes not published", extra={"request_ids": request_ids})
            failed = set(request_ids)
            reason = type(error).__name__
        else:
            reason = "EventBridge refused the event"

        def record_handler(record: DynamoDBRecord) -> None:
            if _request_id(record) in failed:
                raise NotPublished(reason)

        return process_partial_response(event, record_handler, processor, context)

    def watch_deadlines() -> None:
        now = datetime.now(UTC)
        due = ledger.open_due_by(utc_timestamp(now + margin))
        overdue = [request_id for request_id, due_by in due if due_by < utc_timestamp(now)]
        # By service alone, as DeadlineAlarm watches it.
        for name, count in ((NEAR_DEADLINE_METRIC, len(due)), ("requests_overdue", len(overdue))):
            with single_metric(name=name, unit=MetricUnit.Count, value=count, default_dimensions={}):
                pass
        if due:
            logger.warning(
                "requests not final near their deadline",
                extra={"request_ids": sorted(r for r, _ in due)[:100], "overdue": sorted(overdue)[:100]},
            )

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: Any, context: Any) -> dict | None:
        if isinstance(event, dict) and isinstance(event.get("Records"), list) and event["Records"]:
            return handle_stream(event, context)
        if isinstance(event, dict) and event.get("source") == "aws.events":
            watch_deadlines()
            return None
        logger.warning("invocation is neither a DynamoDB stream batch nor a schedule")
        return None

    return handler


def _request_id(record: DynamoDBRecord) -> str | None:
    keys = record.dynamodb.keys if record.dynamodb else None
    value = (keys or {}).get("request_id")
    return value if isinstance(value, str) else None


def _status_event(request_id: str, state: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    detail = {"request_id": request_id, **state, "previous": previous, "changed_at": utc_timestamp()}
    return {
        "Source": STATUS_EVENT_SOURCE,
        "DetailType": STATUS_EVENT_TYPE,
        "Detail": json.dumps(detail),
        "EventBusName": "default",
    }
