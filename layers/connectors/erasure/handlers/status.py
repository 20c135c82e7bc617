"""The status function: GET /v1/deletions/{request_id}, the receipt from the ledger;
GET /v1/deletions, the list of requests; and DELETE /v1/deletions/{request_id}, which cancels
what no vendor has been sent yet.

It imports only its own path (no vendor code, no HTTP client): its cold start stays small.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from erasure.config import ReceiptsSettings
from erasure.errors import AlreadyFinal
from erasure.handlers import http_answers
from erasure.handlers.listing import list_query
from erasure.ledger import ReceiptBook
from erasure.ledger.listing import RequestList
from erasure.observability import logger
from erasure.request import is_request_id

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def status_handler(env: Mapping[str, str] = os.environ) -> Callable[[Any, Any], dict]:
    ledger = ReceiptBook.from_settings(ReceiptsSettings.from_env(env).ledger)
    listing = RequestList(ledger.table)
    app = APIGatewayRestResolver()
    http_answers.register_error_handlers(app)
    # An id the route's pattern cannot match (quotes, control characters, ...) names no request.
    app.not_found(http_answers.no_such_request)

    @app.get("/v1/deletions/<request_id>")
    def get_deletion(request_id: str) -> Response:
        # An id that could never have been accepted is not looked up (DynamoDB would refuse it),
        # nor logged.
        if not is_request_id(request_id):
            return http_answers.no_such_request()
        logger.set_correlation_id(request_id)  # for the rest of this invocation
        receipt = ledger.receipt(request_id)
        if receipt is None:
            return http_answers.no_such_request()
        return http_answers.json_response(200, receipt.as_json())

    @app.get("/v1/deletions")
    def list_deletions() -> Response:
        wanted, limit, token = list_query(app.current_event.query_string_parameters)
        page = listing.page(wanted, limit, token)
        return http_answers.json_response(200, {"requests": page.requests, "next_token": page.next_token})

    @app.delete("/v1/deletions/<request_id>")
    def cancel_deletion(request_id: str) -> Response:
        if not is_request_id(request_id):
            return http_answers.no_such_request()
        logger.set_correlation_id(request_id)
        try:
            receipt = ledger.cancel(request_id)
        except AlreadyFinal:
            return http_answers.json_response(409, http_answers.already_final(request_id))
        if receipt is None:
            return http_answers.no_such_request()
        logger.info("request cancelled", extra={"cancelled_at": receipt.cancelled_at})
        return http_answers.json_response(200, receipt.as_json())

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: Any, context: Any) -> dict:
        if not isinstance(event, dict) or not isinstance(event.get("httpMethod"), str):
            return http_answers.not_an_api_event()
        # A control character names no request; left in, a trailing newline would let the
        # router's `$` take /v1/deletions/%0A for the list's route.
        if _CONTROL.search(str(event.get("path") or "")):
            return http_answers.proxy_answer(404, http_answers.NO_SUCH_REQUEST)
        return app.resolve(event, context)

    return handler
