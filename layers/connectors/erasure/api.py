"""HTTP answers of the API routes: domain errors and outcomes mapped to statuses, in one place."""

from __future__ import annotations

import json
import math
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from erasure.observability import IdentifierHasher, logger
from erasure.outcomes import Outcome
from erasure.relay import IdentifierResult, outcome_view
from erasure.request import InvalidRequest, decoded_json

# When the vendor gave no wait, how long a caller should hold off before asking again.
DEFAULT_RETRY_AFTER_SECONDS = 30

# The first outcome present decides the status: anything to retry outranks a refusal.
_STATUS_BY_OUTCOME = [
    (Outcome.THROTTLED, 429),
    (Outcome.TRANSIENT, 503),
    (Outcome.UNAUTHORIZED, 502),  # our credentials or settings: the caller's input is fine
    (Outcome.REFUSED, 422),
]


def json_body(event: Any) -> Any:
    """The decoded JSON body; None when it is not JSON, which parse() reports as a bad body."""
    return decoded_json(event.decoded_body)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, content_types.APPLICATION_JSON, json.dumps(body), headers or {})


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(InvalidRequest)
    def invalid_request(error: InvalidRequest) -> Response:
        logger.info("request rejected", extra={"errors": [e.as_dict() for e in error.errors]})
        return json_response(
            400, {"message": "invalid request", "errors": [e.as_dict() for e in error.errors]}
        )


def outcomes_response(
    request_id: str, vendor: str, results: list[IdentifierResult], hasher: IdentifierHasher
) -> Response:
    present = {r.verdict.outcome for r in results}
    status = next((code for outcome, code in _STATUS_BY_OUTCOME if outcome in present), 200)
    headers = {}
    if status in (429, 502, 503):
        waits = [r.verdict.retry_after for r in results if r.verdict.retry_after is not None]
        headers["Retry-After"] = str(math.ceil(max(waits)) if waits else DEFAULT_RETRY_AFTER_SECONDS)
    body = {
        "request_id": request_id,
        "vendor": vendor,
        "outcomes": [outcome_view(r, hasher) for r in results],
    }
    return json_response(status, body, headers)
