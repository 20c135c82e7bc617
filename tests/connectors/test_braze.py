"""Braze POST /users/external_ids/remove against a real local server."""

import json
import time

import pytest
from werkzeug import Response

from erasure.config import ConfigError
from erasure.vendors import CONNECTORS
from tests.helpers import CREDENTIALS, outcomes, request

PATH = "/users/external_ids/remove"
HEADERS = {"Authorization": f"Bearer {CREDENTIALS['braze']['api_key']}", "Content-Type": "application/json"}


def removal(*ids):
    return [request({"external_id": i}, action="remove_identifier") for i in ids]


def test_sends_the_documented_request_and_reads_success(httpserver, make_relay):
    httpserver.expect_oneshot_request(
        PATH, method="POST", headers=HEADERS, json={"external_ids": ["old-1", "old-2"]}
    ).respond_with_json({"message": "success", "removed_ids": ["old-1", "old-2"], "removal_errors": []}, 201)
    results = make_relay("braze").run(removal("old-1", "old-2"))
    assert [outcomes(r) for r in results] == [[("external_id", "deleted")]] * 2
    assert results[0][0].verdict.http_status == 201
    httpserver.check_assertions()


@pytest.mark.parametrize(
    "errors",
    [
        ["'primary-9' is a primary external id and cannot be removed at index 1", "not found at index 2"],
        [["primary external id cannot be removed", 1], ["external id not found", 2]],
        [{"index": 1, "message": "primary external id"}, {"index": 2, "message": "does not exist"}],
    ],
    ids=["strings", "arrays", "objects"],
)
def test_reads_removal_errors_in_every_shape(httpserver, make_relay, errors):
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json(
        {"message": "success", "removed_ids": ["old-1"], "removal_errors": errors}, 201
    )
    results = make_relay("braze").run(removal("old-1", "primary-9", "gone-3"))
    assert [outcomes(r)[0][1] for r in results] == ["deleted", "refused", "already_absent"]
    assert "primary" in results[1][0].verdict.reason
    assert "primary-9" not in results[1][0].verdict.reason  # the vendor quoted the id: redacted


def test_an_error_quoting_an_id_is_pinned_on_that_whole_id(httpserver, make_relay):
    httpserver.expect_oneshot_request(PATH).respond_with_json(
        {"message": "success", "removed_ids": [], "removal_errors": ["could not remove 12: primary id"]}, 201
    )
    results = make_relay("braze").run(removal("1", "12"))
    assert [r[0].verdict.outcome for r in results] == ["transient", "refused"]


def test_an_unknown_error_is_not_taken_for_an_absent_id(httpserver, make_relay):
    httpserver.expect_oneshot_request(PATH).respond_with_json(
        {"message": "success", "removed_ids": [], "removal_errors": [["Unknown error, please retry", 0]]}, 201
    )
    (results,) = make_relay("braze").run(removal("old-1"))
    assert results[0].verdict.outcome != "already_absent"


def test_an_id_neither_removed_nor_in_error_is_not_claimed_deleted(httpserver, make_relay):
    httpserver.expect_oneshot_request(PATH).respond_with_json(
        {"message": "success", "removed_ids": [], "removal_errors": []}, 201
    )
    (results,) = make_relay("braze").run(removal("old-1"))
    assert results[0].verdict.outcome == "transient"
    assert results[0].verdict.reason == "removal not confirmed"


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (400, {"message": "Invalid external_ids: more than 50", "errors": []}, "refused"),
        (401, {"message": "Invalid API key"}, "unauthorized"),
        (403, {"message": "Insufficient permissions"}, "unauthorized"),
        (404, {"message": "Not found"}, "unauthorized"),
        (301, {"message": "Moved"}, "unauthorized"),  # redirects are not followed: a wrong host
        (500, {"message": "Internal error"}, "transient"),
        (503, None, "transient"),
    ],
)
def test_classifies_documented_error_statuses(httpserver, make_relay, status, body, outcome):
    response = httpserver.expect_oneshot_request(PATH)
    if body is None:
        response.respond_with_data("upstream unavailable", status)
    else:
        response.respond_with_json(body, status)
    (results,) = make_relay("braze").run(removal("old-1"))
    assert (results[0].verdict.outcome, results[0].verdict.http_status) == (outcome, status)


def test_429_keeps_the_reset_time_from_lowercase_rate_headers(httpserver, make_relay):
    reset = int(time.time()) + 40
    httpserver.expect_oneshot_request(PATH).respond_with_json(
        {"message": "Rate limit exceeded"},
        429,
        headers={"x-ratelimit-limit": "1000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
    )
    (results,) = make_relay("braze").run(removal("old-1"))
    verdict = results[0].verdict
    assert verdict.outcome == "throttled"
    assert 30 <= verdict.retry_after <= 41


def test_a_2xx_without_removed_ids_is_malformed(httpserver, make_relay):
    httpserver.expect_oneshot_request(PATH).respond_with_data("<html>ok</html>", 201)
    (results,) = make_relay("braze").run(removal("old-1"))
    assert results[0].verdict.outcome == "transient"


def test_120_ids_across_records_make_3_calls_of_at_most_50(httpserver, make_relay):
    def answer(req):
        ids = req.get_json()["external_ids"]
        return Response(json.dumps({"message": "success", "removed_ids": ids, "removal_errors": []}), 201)

    httpserver.expect_request(PATH).respond_with_handler(answer)
    results = make_relay("braze").run(removal(*[f"old-{n}" for n in range(120)]))
    sizes = sorted(len(req.get_json()["external_ids"]) for req, _ in httpserver.log)
    assert sizes == [20, 50, 50]
    assert all(r[0].verdict.outcome == "deleted" for r in results)


def test_profile_deletion_and_other_identifiers_are_skipped_without_a_call(httpserver, make_relay):
    results = make_relay("braze").run(
        [
            request({"external_id": "u1"}, action="delete_profile"),
            request({"email": "a@example.com"}, action="remove_identifier"),
        ]
    )
    assert [outcomes(r) for r in results] == [[("external_id", "skipped")], [("email", "skipped")]]
    assert "does not serve" in results[0][0].verdict.reason
    assert httpserver.log == []


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({"BRAZE_INSTANCE": "US-03"}, "https://rest.iad-03.braze.com"),
        ({"BRAZE_INSTANCE": "eu-01"}, "https://rest.fra-01.braze.eu"),
        ({"BRAZE_INSTANCE": "EU-02"}, "https://rest.fra-02.braze.eu"),
        ({"BRAZE_INSTANCE": "AU-01"}, "https://rest.au-01.braze.com"),
        ({"BRAZE_INSTANCE": "US-10"}, "https://rest.us-10.braze.com"),
        ({"BRAZE_INSTANCE": "KR-01"}, "https://rest.kr-01.braze.com"),
        ({"BRAZE_INSTANCE": "US-01", "BRAZE_REST_ENDPOINT": "http://127.0.0.1:9/"}, "http://127.0.0.1:9"),
    ],
)
def test_instance_maps_to_the_documented_host(env, url):
    assert CONNECTORS["braze"].base_url(env) == url


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "BRAZE_INSTANCE"),
        ({"BRAZE_INSTANCE": "EU-9"}, "BRAZE_INSTANCE"),
        ({"BRAZE_REST_ENDPOINT": "rest"}, "BRAZE_REST_ENDPOINT"),
    ],
)
def test_a_bad_host_setting_names_itself(env, named):
    with pytest.raises(ConfigError, match=named):
        CONNECTORS["braze"].base_url(env)
