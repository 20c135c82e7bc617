"""Dfinery POST /api/v1/identities/delete against a real local server."""

import json
import time
from dataclasses import replace

import pytest

from tests.connectors.reads import (
    DELETED,
    REFUSED,
    THROTTLED,
    TRANSIENT,
    UNAUTHORIZED,
    In,
    Reads,
    V,
    one_each,
    row,
)
from tests.helpers import CREDENTIALS, outcomes, request
from tests.recording_server import RecordingServer

PATH = "/api/v1/identities/delete"
# `access_token` has an underscore: werkzeug would drop it, so RecordingServer checks headers.
HEADERS = {"access_token": CREDENTIALS["dfinery"]["access_token"], "Content-Type": "application/json"}
OK = {"status": True, "code": "20000", "message": "OK", "data": True}


def failure(code, message):
    return {"status": False, "code": code, "message": message, "data": None}


def test_sends_the_documented_request_one_profile_a_call(make_relay):
    users = ("dfn-user-1", "dfn-user-2")
    with RecordingServer(body=OK) as server:
        relay = make_relay("dfinery")
        relay.settings = replace(relay.settings, base_url=server.url)
        results = relay.run(
            [request({"external_id": u}, requested_at="2024-06-24T06:42:25.394+00:00") for u in users]
        )
    assert [outcomes(r) for r in results] == [[("external_id", "deleted")]] * 2
    assert sorted(r.json()["identity"]["external_id"] for r in server.requests) == list(users)
    for sent in server.requests:
        assert (sent.method, sent.path) == (
            "POST",
            f"{PATH}?service_id={CREDENTIALS['dfinery']['service_id']}",
        )
        assert {k: sent.headers.get(k) for k in HEADERS} == HEADERS
        assert sent.json()["request_datetime"] == "2024-06-24T06:42:25.394Z"
        assert set(sent.json()) == {"identity", "request_datetime"}


def test_request_datetime_is_utc_with_milliseconds_and_z(httpserver, make_relay):
    httpserver.expect_oneshot_request(PATH).respond_with_json(OK)
    make_relay("dfinery").run([request({"external_id": "u"}, requested_at="2025-05-13T15:01:48.5+09:00")])
    ((sent, _),) = httpserver.log
    assert sent.get_json()["request_datetime"] == "2025-05-13T06:01:48.500Z"


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, {**OK, "code": 20000}, "deleted"),  # a numeric code is read the same
        (200, {**OK, "data": False}, "deleted"),  # undocumented; the code says OK
        (200, failure("40000", "BAD_REQUEST"), "refused"),
        (200, failure("40001", "VALIDATION_FAILURE"), "refused"),
        (200, failure("40101", "INVALID_SERVICE_ID"), "unauthorized"),
        (200, failure("40201", "INVALID_TOKEN"), "unauthorized"),
        (200, failure("40402", "TOO_MANY_EVENTS"), "throttled"),
        (200, failure("40403", "TOO_MANY_USER_PROFILES"), "throttled"),
        (200, failure("50000", "INTERNAL_SERVER_ERROR"), "transient"),
        (200, failure("49999", "SOMETHING_NEW"), "transient"),  # undocumented: not proof of anything
        (429, {"code": "429", "message": "Too Many Requests"}, "throttled"),  # a gateway's body
        (401, {"code": "401", "message": "Unauthorized"}, "unauthorized"),
        (200, {"unexpected": True}, "transient"),
        (400, failure("40001", "VALIDATION_FAILURE"), "refused"),
        (429, None, "throttled"),
        (500, None, "transient"),
    ],
)
def test_failure_inside_http_200_is_read_from_the_code(httpserver, make_relay, status, body, outcome):
    responder = httpserver.expect_oneshot_request(PATH)
    if body is None:
        responder.respond_with_data("", status)
    else:
        responder.respond_with_json(body, status)
    (results,) = make_relay("dfinery").run([request({"external_id": "u"})])
    assert (results[0].verdict.outcome, results[0].verdict.http_status) == (outcome, status)


def test_too_many_requests_keeps_the_window_reset(httpserver, make_relay):
    reset = int(time.time()) + 25
    httpserver.expect_oneshot_request(PATH).respond_with_json(
        failure("40401", "TOO_MANY_REQUEST"),
        429,
        headers={"X-Rate-Limit-Limit": "1m", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": str(reset)},
    )
    (results,) = make_relay("dfinery").run([request({"external_id": "u"})])
    assert results[0].verdict.outcome == "throttled"
    assert 15 <= results[0].verdict.retry_after <= 26


def test_identifier_removal_and_emails_are_skipped(httpserver, make_relay):
    results = make_relay("dfinery").run(
        [request({"external_id": "u"}, action="remove_identifier"), request({"email": "a@example.com"})]
    )
    assert [outcomes(r) for r in results] == [[("external_id", "skipped")], [("email", "skipped")]]
    assert httpserver.log == []


# == How the connector reads each answer, without a socket ====================================
# READ_TABLES below: tests/unit/test_connector_reads.py runs every row, and the checks that hold
# for every call (tests/connectors/reads.py). Sources, cited per table: Dfinery's reference page,
# /work/shared/seeds/ "seed 000", and /work/shared/vendor-contracts.md ("contracts § <section>, <row>").

ONE_EXTERNAL_ID = one_each("delete_profile", {"external_id": "dfn-user-123"})


# -- Dfinery: POST /api/v1/identities/delete -------------------------------------------------------
# seed 000, "응답 예시 / 정상 응답": 200 {"status": true, "code": "20000", "message": "OK",
# "data": true}; "실패 응답" refers to the response page. contracts § Dfinery: "success" (code a
# string); "failure inside HTTP 200": read status/code, 40000 BAD_REQUEST, 40001
# VALIDATION_FAILURE, 40101 INVALID_SERVICE_ID, 40201 INVALID_TOKEN, 40401 TOO_MANY_REQUEST,
# 40402 TOO_MANY_EVENTS, 40403 TOO_MANY_USER_PROFILES, 50000 INTERNAL_SERVER_ERROR; "HTTP codes":
# 200, 400, 429, 500; "rate": X-Rate-Limit-Limit (a window code), -Remaining, -Reset (epoch s).

# OK (above) is that documented success.
RATE = {"X-Rate-Limit-Limit": "1m", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": In(30)}


def failed(code: str, message: str) -> dict:
    """A failure envelope without `data` (failure(), above, carries "data": null)."""
    return {"status": False, "code": code, "message": message}


DFINERY = [
    row("success", 200, OK, V(DELETED)),
    row("success-numeric-code", 200, {**OK, "code": 20000}, V(DELETED)),
    row("200-40000", 200, failed("40000", "BAD_REQUEST"), V(REFUSED, "40000 BAD_REQUEST")),
    row("200-40001", 200, failed("40001", "VALIDATION_FAILURE"), V(REFUSED, "VALIDATION_FAILURE")),
    row("200-40101", 200, failed("40101", "INVALID_SERVICE_ID"), V(UNAUTHORIZED, "INVALID_SERVICE_ID")),
    row("200-40201", 200, failed("40201", "INVALID_TOKEN"), V(UNAUTHORIZED, "INVALID_TOKEN")),
    row("200-40401", 200, failed("40401", "TOO_MANY_REQUEST"), V(THROTTLED, "TOO_MANY_REQUEST", 30), RATE),
    row("200-40401-no-headers", 200, failed("40401", "TOO_MANY_REQUEST"), V(THROTTLED)),
    row("200-40402", 200, failed("40402", "TOO_MANY_EVENTS"), V(THROTTLED, "TOO_MANY_EVENTS")),
    row("200-40403", 200, failed("40403", "TOO_MANY_USER_PROFILES"), V(THROTTLED, "TOO_MANY_USER_PROFILES")),
    row("200-50000", 200, failed("50000", "INTERNAL_SERVER_ERROR"), V(TRANSIENT, "INTERNAL_SERVER_ERROR")),
    row("200-undocumented-code", 200, failed("49999", "SOMETHING_NEW"), V(TRANSIENT, "unknown code 49999")),
    # The success code without status true, or either alone, is not the documented success.
    row("success-code-status-false", 200, {**OK, "status": False}, V(TRANSIENT, "unknown code 20000")),
    row("success-code-status-text", 200, {**OK, "status": "true"}, V(TRANSIENT)),
    row("success-code-alone", 200, {"code": "20000", "message": "OK"}, V(TRANSIENT)),
    row("status-true-alone", 200, {"status": True, "message": "OK", "data": True}, V(TRANSIENT, "malformed")),
    row("code-null", 200, {"code": None, "message": "?"}, V(TRANSIENT)),
    row("empty", 200, b"", V(TRANSIENT, "malformed")),
    row("json-null", 200, "null", V(TRANSIENT, "malformed")),
    row("array", 200, "[]", V(TRANSIENT, "malformed")),
    row("html", 200, "<html>OK</html>", V(TRANSIENT, "malformed")),
    row("truncated", 200, b'{"status": true, "code": "200', V(TRANSIENT, "malformed")),
    # The documented HTTP statuses, with and without Dfinery's envelope.
    row("400-validation", 400, failed("40001", "VALIDATION_FAILURE"), V(REFUSED, "40001")),
    row("429-too-many", 429, failed("40401", "TOO_MANY_REQUEST"), V(THROTTLED, "40401", 30), RATE),
    row("429-empty", 429, b"", V(THROTTLED, wait=20), {"X-Rate-Limit-Reset": In(20)}),
    row("500-internal", 500, failed("50000", "INTERNAL_SERVER_ERROR"), V(TRANSIENT, "50000")),
    row("500-empty", 500, b"", V(TRANSIENT)),
    # A gateway's own body: an undocumented code, so its HTTP status decides.
    row("401-gateway", 401, {"code": "401", "message": "Unauthorized"}, V(UNAUTHORIZED, "Unauthorized")),
    row("429-gateway", 429, {"code": "429", "message": "Too Many Requests"}, V(THROTTLED)),
    row("502-html", 502, "<html>Bad Gateway</html>", V(TRANSIENT)),
    row(
        "500-with-the-success-envelope",
        500,
        OK,
        V(TRANSIENT),
    ),
    row(
        "429-with-the-success-envelope",
        429,
        OK,
        V(THROTTLED),
    ),
]


READ_TABLES: dict[str, Reads] = {
    "delete": Reads(ONE_EXTERNAL_ID, DFINERY, success=json.dumps(OK).encode()),
}
