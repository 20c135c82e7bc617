"""CleverTap POST /1/delete/profiles.json against a real local server."""

import json

import pytest
from werkzeug import Response

from erasure.errors import ConfigError
from erasure.vendors import CONNECTORS
from tests.helpers import CREDENTIALS, outcomes, request, respond

PATH = "/1/delete/profiles.json"
HEADERS = {
    "X-CleverTap-Account-Id": CREDENTIALS["clevertap"]["account_id"],
    "X-CleverTap-Passcode": CREDENTIALS["clevertap"]["passcode"],
    "Content-Type": "application/json; charset=utf-8",
}
SUCCESS = {"status": "success"}


def test_identity_and_guid_never_share_a_call(httpserver, make_relay):
    httpserver.expect_oneshot_request(
        PATH, method="POST", headers=HEADERS, json={"identity": ["client-1", "client-2"]}
    ).respond_with_json(SUCCESS)
    httpserver.expect_oneshot_request(
        PATH, method="POST", headers=HEADERS, json={"guid": ["ctid-1"]}
    ).respond_with_json(SUCCESS)
    results = make_relay("clevertap").run(
        [request({"external_id": "client-1", "guid": "ctid-1"}), request({"external_id": "client-2"})]
    )
    httpserver.check_assertions()
    # CleverTap deletes in a later batch: its "success" is accepted, never a proven deletion.
    assert outcomes(results[0]) == [("external_id", "accepted"), ("guid", "accepted")]
    assert outcomes(results[1]) == [("external_id", "accepted")]


def test_more_than_100_identities_are_split(httpserver, make_relay):
    httpserver.expect_request(PATH).respond_with_json(SUCCESS)
    make_relay("clevertap").run([request({"external_id": f"client-{n}"}) for n in range(150)])
    assert sorted(len(req.get_json()["identity"]) for req, _ in httpserver.log) == [50, 100]


def test_too_many_concurrent_requests_is_throttled_and_stops_the_batch(httpserver, make_relay):
    httpserver.expect_oneshot_request(PATH).respond_with_json(
        {"status": "fail", "error": "Too many concurrent requests", "code": 429}, 429
    )
    results = make_relay("clevertap", concurrency=1).run(
        [request({"external_id": f"client-{n}"}) for n in range(150)]
    )
    assert {r[0].verdict.outcome for r in results} == {"throttled"}
    assert len(httpserver.log) == 1  # the second call was not sent into the limit


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, {"status": "fail", "error": "Invalid Passcode", "code": 401}, "unauthorized"),
        (200, {"status": "fail", "error": "Bad request", "code": 400}, "refused"),
        (200, {"status": "partial"}, "transient"),
        (200, {"status": "fail", "error": "Too many concurrent requests"}, "throttled"),
        (200, {"status": "fail", "error": "Something went wrong"}, "transient"),
        (200, "not json", "transient"),
        (400, {"status": "fail", "error": "identity and guid both present", "code": 400}, "refused"),
        (401, {"status": "fail", "error": "Unauthorized", "code": 401}, "unauthorized"),
        (403, {"status": "fail", "error": "Forbidden", "code": 403}, "unauthorized"),
        (404, {"status": "fail", "error": "Not found", "code": 404}, "unauthorized"),
        (409, {"status": "fail", "error": "Conflict", "code": 409}, "transient"),
        (500, {"status": "fail", "error": "Internal", "code": 500}, "transient"),
        (503, {"status": "fail", "error": "Unavailable", "code": 503}, "transient"),
    ],
)
def test_classifies_the_envelope_and_statuses(httpserver, make_relay, status, body, outcome):
    data = body if isinstance(body, str) else json.dumps(body)
    httpserver.expect_oneshot_request(PATH).respond_with_response(Response(data, status))
    (results,) = make_relay("clevertap").run([request({"external_id": "client-1"})])
    assert results[0].verdict.outcome == outcome


def test_a_refusal_of_a_whole_call_falls_only_on_the_identifier_it_is_about(httpserver, make_relay):
    def answer(req):
        if "client-bad" in req.get_json()["identity"]:
            return Response(json.dumps({"status": "fail", "error": "Invalid identity", "code": 400}), 400)
        return Response(json.dumps(SUCCESS), 200)

    httpserver.expect_request(PATH).respond_with_handler(answer)
    people = ["client-1", "client-2", "client-bad", "client-4", "client-5"]
    results = make_relay("clevertap").run([request({"external_id": p}) for p in people])
    assert [r[0].verdict.outcome for r in results] == [
        "accepted",
        "accepted",
        "refused",
        "accepted",
        "accepted",
    ]
    assert len(httpserver.log) <= 2 * len(people)


def test_identifier_removal_is_not_served(httpserver, make_relay):
    (results,) = make_relay("clevertap").run([request({"external_id": "c"}, action="remove_identifier")])
    assert outcomes(results) == [("external_id", "skipped")]
    assert httpserver.log == []


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({"CLEVERTAP_REGION": "in1"}, "https://in1.api.clevertap.com"),
        ({"CLEVERTAP_REGION": "SG1"}, "https://sg1.api.clevertap.com"),
        ({"CLEVERTAP_REGION": "mec1"}, "https://mec1.api.clevertap.com"),
        ({"CLEVERTAP_REGION": "eu1"}, "https://api.clevertap.com"),
        ({"CLEVERTAP_API_URL": "https://eu1.api.clevertap.com"}, "https://eu1.api.clevertap.com"),
    ],
)
def test_region_maps_to_its_host(env, url):
    assert CONNECTORS["clevertap"].base_url(env) == url


def test_an_unknown_region_names_the_setting():
    with pytest.raises(ConfigError, match="CLEVERTAP_REGION"):
        CONNECTORS["clevertap"].base_url({"CLEVERTAP_REGION": "mars1"})


# -- verification: GET /1/profile.json ---------------------------------------------------------

PROFILE = "/1/profile.json"


def test_profile_lookup_is_a_get_by_identity_or_object_id(httpserver, make_relay):
    read_headers = {k: v for k, v in HEADERS.items() if k != "Content-Type"}
    httpserver.expect_oneshot_request(
        PROFILE, method="GET", headers=read_headers, query_string={"identity": "client 1+"}
    ).respond_with_json({"status": "success", "record": {"identity": "client 1+"}})
    httpserver.expect_oneshot_request(
        PROFILE, method="GET", query_string={"objectId": "ctid-1"}
    ).respond_with_json({"status": "success"})
    (results,) = make_relay("clevertap").look_up([request({"external_id": "client 1+", "guid": "ctid-1"})])
    httpserver.check_assertions()
    assert [(r.identifier.label, r.verdict.outcome) for r in results] == [
        ("external_id", "still_present"),
        ("guid", "verified_absent"),
    ]
    assert not any(req.data for req, _ in httpserver.log)  # a GET without a body


@pytest.mark.parametrize(
    ("status", "body", "verification"),
    [
        (200, {"status": "success", "record": {"identity": "c1", "profileData": {}}}, "still_present"),
        (200, {"status": "success"}, "verified_absent"),
        (200, {"status": "success", "record": None}, "verified_absent"),
        (200, {"status": "fail", "error": "User not found", "code": 404}, "verified_absent"),
        # The not-found answer is undocumented: what does not say so plainly proves nothing.
        (200, {"status": "fail", "error": "Something went wrong"}, "unverifiable"),
        (200, {"status": "fail", "error": "Account not found"}, "unverifiable"),  # not the profile
        (200, {"status": "partial"}, "unverifiable"),
        (404, {"status": "fail", "error": "User not found", "code": 404}, "unverifiable"),
        (404, "<html>Not Found</html>", "unauthorized"),
        (200, {"status": "fail", "error": "Too many concurrent requests", "code": 429}, "throttled"),
        (200, {"status": "fail", "error": "Invalid Credentials", "code": 401}, "unauthorized"),
        (429, {"status": "fail", "error": "Too many concurrent requests"}, "throttled"),
        (200, "<html>oops</html>", "transient"),
        (503, "", "transient"),
    ],
)
def test_profile_answers_read_as_verifications(httpserver, make_relay, status, body, verification):
    respond(httpserver.expect_oneshot_request(PROFILE), status, body)
    (results,) = make_relay("clevertap").look_up([request({"external_id": "c1"})])
    assert results[0].verdict.outcome == verification
