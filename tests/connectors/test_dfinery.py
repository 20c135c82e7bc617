"""Dfinery POST /api/v1/identities/delete against a real local server."""

import time
from dataclasses import replace

import pytest

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
