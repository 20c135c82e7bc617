"""Entry points of the intake function (POST /v1/deletions and the intake queue) and of the
status function (GET /v1/deletions/{request_id})."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from erasure import api
from erasure.aws import ledger_table, ledger_ttl_days, sqs_batch_sender
from erasure.entry import delivery_id
from erasure.intake import FanOutFailed, Intake, Routing
from erasure.ledger import ConflictingRequest, Ledger
from erasure.observability import IdentifierHasher, logger, metrics
from erasure.request import (
    FieldError,
    InvalidRequest,
    decoded_json,
    parse,
    request_id_or_none,
    unknown_fields,
)
from erasure.settings import load_hash_key
from erasure.vendors import CONNECTORS

MAX_BULK_REQUESTS = 1000
KNOWN_VENDORS = frozenset(CONNECTORS)
Handler = Callable[[dict, Any], dict]


def intake_handler(env: Mapping[str, str] = os.environ) -> Handler:
    hasher = IdentifierHasher(load_hash_key(env))
    ledger = Ledger(ledger_table(env), hasher, ledger_ttl_days(env))
    intake = Intake(Routing.from_env(env), ledger, sqs_batch_sender())
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    app = APIGatewayRestResolver()
    api.register_error_handlers(app)

    @app.exception_handler(ConflictingRequest)
    def conflict(error: ConflictingRequest) -> Response:
        return api.json_response(409, conflict_body(str(error)))

    @app.exception_handler(FanOutFailed)
    def not_sent(error: FanOutFailed) -> Response:
        logger.error("fan-out failed", extra={"error": str(error), "request_ids": error.request_ids})
        body = {
            "message": "recorded but not yet sent to every vendor: submit the same requests again "
            "with these request_ids, and only what is missing is sent",
            "request_ids": error.request_ids,
        }
        return api.json_response(503, body, {"Retry-After": str(api.DEFAULT_RETRY_AFTER_SECONDS)})

    @app.post("/v1/deletions")
    def post_deletions() -> Response:
        event = app.current_event
        body = api.json_body(event)
        if isinstance(body, dict) and "requests" in body:
            return submit_bulk(body)
        key = event.headers.get("idempotency-key")
        if key and isinstance(body, dict) and body.get("request_id") not in (None, key):
            raise InvalidRequest([FieldError("request_id", "differs from the Idempotency-Key header")])
        request = parse(body, default_request_id=key, known_vendors=KNOWN_VENDORS)
        return api.json_response(202, intake.submit(request))

    def submit_bulk(body: dict) -> Response:
        requests = body["requests"]
        if set(body) != {"requests"}:
            raise InvalidRequest(unknown_fields(body, {"requests"}))
        if not isinstance(requests, list) or not 1 <= len(requests) <= MAX_BULK_REQUESTS:
            raise InvalidRequest(
                [FieldError("requests", f"must be a list of 1 to {MAX_BULK_REQUESTS} requests")]
            )
        answers: list[dict[str, Any]] = [{} for _ in requests]
        valid = []
        for index, item in enumerate(requests):
            try:
                valid.append((index, parse(item, known_vendors=KNOWN_VENDORS)))
            except InvalidRequest as invalid:
                answers[index] = {"status": 400, "errors": [e.as_dict() for e in invalid.errors]}
        for (index, _), answer in zip(valid, intake.submit_many([r for _, r in valid]), strict=True):
            if isinstance(answer, ConflictingRequest):
                answers[index] = {"status": 409, **conflict_body(str(answer))}
            else:
                answers[index] = {"status": 202, **answer}
        accepted = all(a["status"] == 202 for a in answers)
        return api.json_response(202 if accepted else 207, {"results": answers})

    def record_handler(record: SQSRecord) -> None:
        body = decoded_json(record.body)
        message_id = delivery_id(record.raw_event)
        try:
            request = parse(body, default_request_id=message_id, known_vendors=KNOWN_VENDORS)
        except InvalidRequest as invalid:
            # Kept in the ledger with its reasons; retrying cannot fix it, so it is not retried.
            request_id = request_id_or_none(body) or message_id
            ledger.reject(request_id, invalid.errors)
            logger.warning("intake message rejected", extra={"request_id": request_id})
            metrics.add_metric(name="rejected", unit="Count", value=1)
            return
        try:
            intake.submit(request)
        except ConflictingRequest:
            logger.warning(
                "request_id reused for a different request", extra={"request_id": request.request_id}
            )
            metrics.add_metric(name="conflicting", unit="Count", value=1)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: dict, context: Any) -> dict:
        if event.get("Records"):
            return process_partial_response(event, record_handler, processor, context)
        return app.resolve(event, context)

    return handler


def status_handler(env: Mapping[str, str] = os.environ) -> Handler:
    ledger = Ledger(ledger_table(env), None, ledger_ttl_days(env))
    app = APIGatewayRestResolver()

    @app.get("/v1/deletions/<request_id>")
    def get_deletion(request_id: str) -> Response:
        receipt = ledger.receipt(request_id)
        if receipt is None:
            return api.json_response(404, {"message": "no deletion request with this request_id"})
        return api.json_response(200, receipt)

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict, context: Any) -> dict:
        return app.resolve(event, context)

    return handler


def conflict_body(request_id: str) -> dict[str, Any]:
    return {"request_id": request_id, "message": "this request_id already names a different request"}
