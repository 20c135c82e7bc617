"""HTTP answers of the API routes: every domain error and outcome mapped to a status, here only."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from erasure.errors import ConflictingRequest, FanOutFailed
from erasure.observability import logger
from erasure.outcomes import IdentifierResult, Outcome, outcome_view
from erasure.request import FieldError, Identifier, InvalidRequest, json_document

# When the vendor gave no wait, how long a caller should hold off before asking again.
DEFAULT_RETRY_AFTER_SECONDS = 30
NO_SUCH_REQUEST = {"message": "no deletion request with this request_id", "field": "request_id"}

# The first outcome present decides the status: anything to retry outranks a refusal.
_STATUS_BY_OUTCOME = [
    (Outcome.THROTTLED, 429),
    (Outcome.TRANSIENT, 503),
    (Outcome.UNAUTHORIZED, 502),  # our credentials or settings: the caller's input is fine
    (Outcome.REFUSED, 422),
]


def request_body(event: Any) -> Any:
    """The decoded JSON body; InvalidRequest naming the body when it cannot be read."""
    try:
        text = event.decoded_body  # base64-decoded and UTF-8-decoded when isBase64Encoded
    except (ValueError, TypeError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise InvalidRequest([FieldError("body", "is not valid base64-encoded UTF-8")]) from None
    return json_document(text)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, content_types.APPLICATION_JSON, json.dumps(body), headers or {})


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    """400 for a bad request, 409 for a reused request_id, 503 for a fan-out not completed."""
    app.exception_handler(InvalidRequest)(invalid_request)
    app.exception_handler(ConflictingRequest)(lambda error: json_response(409, conflict(str(error))))
    app.exception_handler(FanOutFailed)(not_yet_sent)


def invalid_request(error: InvalidRequest) -> Response:
    errors = [e.as_dict() for e in error.errors]
    logger.info("request rejected", extra={"errors": errors})
    return json_response(400, {"message": "invalid request", "errors": errors})


def conflict(request_id: str) -> dict[str, Any]:
    """The 409 body, also an item of a bulk answer."""
    return {"request_id": request_id, "message": "this request_id already names a different request"}


def not_yet_sent(error: FanOutFailed) -> Response:
    """Recorded, but a vendor queue did not take it: the same submission completes it."""
    logger.error("fan-out failed", extra={"error": str(error), "request_ids": error.request_ids})
    body = {
        "message": "recorded but not yet sent to every vendor: submit the same requests again "
        "with these request_ids, and only what is missing is sent",
        "request_ids": error.request_ids,
    }
    return json_response(503, body, {"Retry-After": str(DEFAULT_RETRY_AFTER_SECONDS)})


def bulk_item(request_id: str, answer: Any) -> dict[str, Any]:
    """One request of a bulk, answered: 202 with its first answer, 409, or 503 "resubmit"."""
    from erasure.intake import NotSent  # the intake function's own path: status never loads it

    if isinstance(answer, ConflictingRequest):
        return {"status": 409, **conflict(str(answer))}
    if isinstance(answer, NotSent):
        return bulk_item_not_sent(request_id, f"recorded but not yet sent to every vendor ({answer.reason})")
    return {"status": 202, **answer}


def bulk_item_not_sent(request_id: str, why: str) -> dict[str, Any]:
    return {"status": 503, "request_id": request_id, "message": f"{why}: resubmit it with this request_id"}


def bulk_response(answers: list[dict[str, Any]]) -> Response:
    """202 when every request was accepted, else 207 with each one's own status (and Retry-After
    when any may be resubmitted)."""
    if all(a["status"] == 202 for a in answers):
        return json_response(202, {"results": answers})
    retry = any(a["status"] == 503 for a in answers)
    headers = {"Retry-After": str(DEFAULT_RETRY_AFTER_SECONDS)} if retry else {}
    return json_response(207, {"results": answers}, headers)


def already_final(request_id: str) -> dict[str, Any]:
    """The 409 of a cancellation that comes too late."""
    return {
        "request_id": request_id,
        "message": "the request is final: every vendor has answered, nothing to cancel",
    }


def no_such_request(*_: Any) -> Response:
    return json_response(404, NO_SUCH_REQUEST)


def proxy_answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """An answer in the Lambda proxy form, for what is answered before the router."""
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def not_an_api_event() -> dict[str, Any]:
    """What a function answers an invocation that is neither an API Gateway nor an SQS event."""
    return proxy_answer(400, {"message": "not an API Gateway REST or SQS event"})


def outcomes_response(
    request_id: str, vendor: str, results: list[IdentifierResult], hasher: Callable[[Identifier], str]
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
