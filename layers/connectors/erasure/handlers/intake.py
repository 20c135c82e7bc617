"""The intake function: POST /v1/deletions (one request or a bulk) and the intake queue."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from erasure.aws_clients import sqs_batch_sender
from erasure.config import IntakeSettings
from erasure.errors import ConflictingRequest
from erasure.handlers import http_answers
from erasure.handlers.sqs import delivery_id, entry_point, request_defaults
from erasure.intake import SENDERS, Intake, NotSent, Routing, Submitted
from erasure.ledger import RequestBook
from erasure.ledger.identities import IdentityBook
from erasure.observability import IdentifierHasher, correlated, logger, metrics
from erasure.request import (
    MAX_BULK_REQUESTS,
    DeletionRequest,
    FieldError,
    InvalidRequest,
    json_document,
    request_id_or_none,
    unknown_fields,
)
from erasure.sealing import Sealer
from erasure.vendors import CONNECTORS

BULK_CHUNK = 100  # the requests of a bulk recorded and fanned out together (one transaction)
# A bulk is answered within this many seconds (API Gateway answers 504 at 29 s): a chunk is begun
# only if twice the slowest chunk so far still fits. A chunk of 100 takes well under a second on
# DynamoDB; the margin is for one that is suddenly much slower than the others.
BULK_ANSWER_WITHIN_S = 20.0
NOT_BEGUN = "not begun within the time API Gateway allows a call"


def intake_handler(env: Mapping[str, str] = os.environ) -> Callable[[Any, Any], Mapping[str, Any]]:
    settings = IntakeSettings.from_env(list(CONNECTORS), env)  # once, at cold start
    ledger = RequestBook.from_settings(settings.ledger, IdentifierHasher(settings.hash_key))
    identities = IdentityBook(ledger.table, ledger.hasher, settings.ledger.max_lifetime_days, "intake")
    intake = Intake(
        Routing(settings.queue_urls),
        ledger,
        sqs_batch_sender(in_flight=SENDERS),
        settings.enrich_default,
        Sealer(identities),
    )
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    app = APIGatewayRestResolver()
    http_answers.register_error_handlers(app)

    @app.post("/v1/deletions")
    def post_deletions() -> Response:
        event = app.current_event
        body = http_answers.request_body(event)
        if isinstance(body, dict) and "requests" in body:
            return submit_bulk(intake, body)
        key = (event.headers or {}).get("idempotency-key")
        if key and isinstance(body, dict) and body.get("request_id") not in (None, key):
            raise InvalidRequest([FieldError("request_id", "differs from the Idempotency-Key header")])
        request = intake.read(body, default_request_id=key)
        logger.set_correlation_id(request.request_id)  # for the rest of this invocation
        return http_answers.json_response(202, intake.submit(request))

    def handle_sqs(event: dict, context: Any) -> Mapping[str, Any]:
        return process_partial_response(event, partial(take_message, intake, ledger), processor, context)

    return entry_point(handle_sqs, app)


def submit_bulk(intake: Intake, body: dict) -> Response:
    """Every request of a bulk answered with its index: 202, 400, 409 or 503 "resubmit"."""
    started = time.monotonic()
    answers, valid = _read_bulk(intake, body)
    # In chunks, so that a bulk API Gateway would cut off at 29 s answers instead: what was
    # accepted as accepted, what was not yet begun as 503 "resubmit" (never the reverse).
    slowest_chunk = 0.0
    for start in range(0, len(valid), BULK_CHUNK):
        chunk = valid[start : start + BULK_CHUNK]
        chunk_started = time.monotonic()
        if chunk_started - started + 2 * slowest_chunk > BULK_ANSWER_WITHIN_S:
            for index, request in chunk:
                answers[index].update(http_answers.bulk_item_not_sent(request.request_id, NOT_BEGUN))
            continue
        for (index, request), answer in zip(chunk, _submit_chunk(intake, [r for _, r in chunk]), strict=True):
            answers[index].update(http_answers.bulk_item(request.request_id, answer))
        slowest_chunk = max(slowest_chunk, time.monotonic() - chunk_started)
    return http_answers.bulk_response(answers)


def _read_bulk(intake: Intake, body: dict) -> tuple[list[dict[str, Any]], list[tuple[int, DeletionRequest]]]:
    """(an answer per request, 400s filled in; the valid requests with their index)."""
    requests = body["requests"]
    if set(body) != {"requests"}:
        raise InvalidRequest(unknown_fields(body, {"requests"}))
    if not isinstance(requests, list) or not 1 <= len(requests) <= MAX_BULK_REQUESTS:
        raise InvalidRequest([FieldError("requests", f"must be a list of 1 to {MAX_BULK_REQUESTS} requests")])
    answers: list[dict[str, Any]] = [{"index": index} for index in range(len(requests))]
    valid = []
    for index, item in enumerate(requests):
        try:
            valid.append((index, intake.read(item)))
        except InvalidRequest as invalid:
            stated = request_id_or_none(item)
            answers[index].update(
                status=400,
                errors=[e.as_dict() for e in invalid.errors],
                **({"request_id": stated} if stated else {}),
            )
    return answers, valid


def _submit_chunk(intake: Intake, requests: list[DeletionRequest]) -> list[Submitted]:
    """Each request's answer; a chunk that fails as a whole (the ledger unreachable, say) answers
    each of its requests "not sent, resubmit", and the bulk goes on."""
    try:
        return intake.submit_many(requests)
    except Exception as error:
        request_ids = [r.request_id for r in requests]
        logger.exception("bulk chunk not submitted", extra={"request_ids": request_ids})
        return [NotSent(r.request_id, f"not recorded ({type(error).__name__})") for r in requests]


def take_message(intake: Intake, ledger: RequestBook, record: SQSRecord) -> None:
    """One intake queue message: submitted, or recorded rejected with its reasons (retrying
    cannot fix it); a conflicting request_id is counted, not retried."""
    try:
        request = intake.read(json_document(record.get("body")), **request_defaults(record))
    except InvalidRequest as invalid:
        request_id = _stated_request_id(record) or delivery_id(record)
        with correlated(request_id):
            ledger.reject(request_id, invalid.errors)
            logger.warning("intake message rejected")
        metrics.add_metric(name="rejected", unit=MetricUnit.Count, value=1)
        return
    with correlated(request.request_id):
        try:
            intake.submit(request)
        except ConflictingRequest:
            logger.warning("request_id reused for a different request")
            metrics.add_metric(name="conflicting", unit=MetricUnit.Count, value=1)


def _stated_request_id(record: SQSRecord) -> str | None:
    """The request_id a rejected message states, when it is a valid one."""
    try:
        return request_id_or_none(json_document(record.get("body")))
    except InvalidRequest:
        return None
