"""CleverTap POST /1/delete/profiles.json against a real local server."""

import json
from dataclasses import replace

import pytest
from werkzeug import Response

from erasure.config import VendorSettings
from erasure.errors import ConfigError
from erasure.vendors import CONNECTORS
from tests.connectors.reads import (
    ACCEPTED,
    REFUSED,
    STILL_PRESENT,
    THROTTLED,
    TRANSIENT,
    UNAUTHORIZED,
    UNVERIFIABLE,
    VERIFIED_ABSENT,
    Reads,
    V,
    check_profiles,
    found,
    one_each,
    profile_rows,
    resolving,
    row,
)
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


# == How the connector reads each answer, without a socket ====================================
# READ_TABLES below: tests/unit/test_connector_reads.py runs every row, and the checks that hold
# for every call (tests/connectors/reads.py). Sources, cited per table: CleverTap's reference page,
# /work/shared/seeds/ "seed 003", and /work/shared/vendor-contracts.md ("contracts § <section>, <row>").

TWO_IDENTITIES = one_each("delete_profile", {"external_id": "client-1"}, {"external_id": "client-2"})
ONE_IDENTITY = one_each("delete_profile", {"external_id": "client-1"})


# -- CleverTap: POST /1/delete/profiles.json -------------------------------------------------------
# seed 003, "Example Response": {"status": "success"}. contracts § CleverTap: "success" 200 with
# {"status": "success"} (envelope status = success / partial / fail); "errors": envelope
# {"status": "fail", "error": <text>, "code": <int>}, codes 400, 401, 403, 404, 405, 409, 429,
# 500, 503; "body": identity and guid both in one request is a 400; "rate": a concurrency limit,
# over it 429 "Too many concurrent requests", no rate headers. Deletion is later, in a batch:
# `accepted`, never `deleted`.


def fail(error: str | None = None, code: object = None) -> dict:
    body: dict = {"status": "fail"}
    if error is not None:
        body["error"] = error
    if code is not None:
        body["code"] = code
    return body


CLEVERTAP_DELETE = [
    row("success", 200, {"status": "success"}, V(ACCEPTED, "within 48 hours")),
    # In a 200, the envelope's code decides.
    row("fail-400-in-200", 200, fail("Bad request", 400), V(REFUSED, "Bad request")),
    row("fail-401-in-200", 200, fail("Invalid Passcode", 401), V(UNAUTHORIZED, "Invalid Passcode")),
    row("fail-403-in-200", 200, fail("Forbidden", 403), V(UNAUTHORIZED)),
    row("fail-404-in-200", 200, fail("Not found", 404), V(UNAUTHORIZED)),
    row("fail-405-in-200", 200, fail("Method not allowed", 405), V(UNAUTHORIZED)),
    row("fail-409-in-200", 200, fail("Conflict", 409), V(TRANSIENT, "Conflict")),
    row("fail-429-in-200", 200, fail("Too many concurrent requests", 429), V(THROTTLED, "Too many")),
    row("fail-500-in-200", 200, fail("Internal error", 500), V(TRANSIENT)),
    row("fail-503-in-200", 200, fail("Unavailable", 503), V(TRANSIENT)),
    row("fail-too-many-without-code", 200, fail("Too many concurrent requests"), V(THROTTLED, "Too many")),
    # A failure that does not say which kind: retried, never given up on nor taken for success.
    row("fail-without-code", 200, fail("Something went wrong"), V(TRANSIENT, "Something went wrong")),
    row("fail-bare", 200, fail(), V(TRANSIENT, "failed without a code")),
    row("fail-code-as-text", 200, fail("Bad request", "400"), V(TRANSIENT, "Bad request")),
    row("fail-code-not-an-error", 200, fail("odd", 200), V(TRANSIENT, "odd")),
    # Partial: no per-profile detail is documented, so none is taken as done.
    row("partial", 200, {"status": "partial"}, V(TRANSIENT, "partial")),
    row(
        "partial-with-detail",
        200,
        {"status": "partial", "processed": 1, "unprocessed": [{"identity": "client-2"}]},
        V(TRANSIENT, "partial"),
    ),
    # A 2xx without the documented envelope.
    row("status-in-another-case", 200, {"status": "Success"}, V(TRANSIENT, "malformed")),
    row("status-true", 200, {"status": True}, V(TRANSIENT, "malformed")),
    row("status-missing", 200, {"message": "ok"}, V(TRANSIENT, "malformed")),
    row("empty-object", 200, {}, V(TRANSIENT, "malformed")),
    row("empty", 200, b"", V(TRANSIENT, "malformed")),
    row("json-null", 200, "null", V(TRANSIENT, "malformed")),
    row("not-json", 200, "not json", V(TRANSIENT, "malformed")),
    row("truncated", 200, b'{"status": "succ', V(TRANSIENT, "malformed")),
    # Errors by status: the HTTP status decides over any envelope.
    row(
        "400-identity-and-guid", 400, fail("identity and guid both present", 400), V(REFUSED, "both present")
    ),
    row("401", 401, fail("Unauthorized", 401), V(UNAUTHORIZED)),
    row("403", 403, fail("Forbidden", 403), V(UNAUTHORIZED)),
    row("404", 404, fail("Not found", 404), V(UNAUTHORIZED, "endpoint not found")),
    row("405", 405, fail("Method not allowed", 405), V(UNAUTHORIZED)),
    row("409", 409, fail("Conflict", 409), V(TRANSIENT)),
    row("429-no-headers", 429, fail("Too many concurrent requests", 429), V(THROTTLED, "Too many")),
    row("500", 500, fail("Internal", 500), V(TRANSIENT)),
    row("503-empty", 503, b"", V(TRANSIENT)),
    row("500-with-a-success-envelope", 500, {"status": "success"}, V(TRANSIENT)),
]


# -- CleverTap: GET /1/profile.json (verification) ----------------------------------------------
# contracts § "Verification", CleverTap row: the not-found answer is not documented; success is
# {"status": "success", "record": {...}}; clients read status "fail" or a missing record as not
# found: "Treat only that as gone, any non-2xx as an error". The connector reads a "fail" as gone
# only when its text says the person is not found (clevertap.py's docstring).

CLEVERTAP_PROFILE = [
    row(
        "record",
        200,
        {"status": "success", "record": {"identity": "client-1", "profileData": {}}},
        V(STILL_PRESENT),
    ),
    row("record-missing", 200, {"status": "success"}, V(VERIFIED_ABSENT, "no record")),
    row("record-null", 200, {"status": "success", "record": None}, V(VERIFIED_ABSENT)),
    row("fail-user-not-found", 200, fail("User not found"), V(VERIFIED_ABSENT, "User not found")),
    row("fail-404-user-not-found", 200, fail("User not found", 404), V(VERIFIED_ABSENT)),
    row("fail-profile-does-not-exist", 200, fail("Profile does not exist"), V(VERIFIED_ABSENT)),
    # What does not say the person is not found proves nothing.
    row("fail-404-not-found-of-no-one", 200, fail("Not found", 404), V(UNVERIFIABLE, "does not say")),
    row("fail-account-not-found", 200, fail("Account not found"), V(UNVERIFIABLE)),
    row("fail-other", 200, fail("Something went wrong"), V(UNVERIFIABLE, "Something went wrong")),
    row("fail-bare", 200, fail(), V(UNVERIFIABLE)),
    row(
        "fail-no-profile-identifier",
        200,
        fail("No profile identifier given"),
        V(UNVERIFIABLE),
    ),
    row("partial", 200, {"status": "partial"}, V(UNVERIFIABLE, "partial")),
    # Not the page's shape, but records all the same: never read as "gone".
    row("record-a-list", 200, {"status": "success", "record": [{"identity": "client-1"}]}, V(STILL_PRESENT)),
    row("record-a-string", 200, {"status": "success", "record": "client-1"}, V(UNVERIFIABLE)),
    *[
        row(
            f"record-{label}",
            200,
            {"status": "success", "record": garbled},
            V(frozenset({UNVERIFIABLE, TRANSIENT})),
        )
        for label, garbled in (("false", False), ("empty-string", ""), ("zero", 0))
    ],
    # Any other code decides, even over a not-found text.
    row("fail-400-in-200", 200, fail("User not found", 400), V(UNVERIFIABLE, "refused (400)")),
    row("fail-401-in-200", 200, fail("Invalid Credentials", 401), V(UNAUTHORIZED)),
    row("fail-429-in-200", 200, fail("Too many concurrent requests", 429), V(THROTTLED)),
    row("fail-500-in-200", 200, fail("Internal", 500), V(TRANSIENT)),
    row("fail-too-many-without-code", 200, fail("Too many concurrent requests"), V(THROTTLED)),
    row("status-missing", 200, {"record": {"identity": "client-1"}}, V(TRANSIENT, "malformed")),
    row("empty-object", 200, {}, V(TRANSIENT, "malformed")),
    row("empty", 200, b"", V(TRANSIENT, "malformed")),
    row("html", 200, "<html>oops</html>", V(TRANSIENT, "malformed")),
    row("truncated", 200, b'{"status": "success", "rec', V(TRANSIENT, "malformed")),
    # Any non-2xx is an error, never gone.
    row(
        "404-envelope", 404, fail("User not found", 404), V(UNVERIFIABLE, "not CleverTap's documented answer")
    ),
    row("404-html", 404, "<html>Not Found</html>", V(UNAUTHORIZED, "endpoint not found")),
    row("400", 400, fail("Invalid identity", 400), V(UNVERIFIABLE, "refused (400)")),
    row("400-user-not-found", 400, fail("User not found"), V(UNVERIFIABLE)),
    row("401", 401, fail("Invalid Credentials"), V(UNAUTHORIZED)),
    row("403", 403, fail("Forbidden", 403), V(UNAUTHORIZED)),
    row("429", 429, fail("Too many concurrent requests"), V(THROTTLED)),
    row("500-with-a-success-envelope", 500, {"status": "success"}, V(TRANSIENT)),
    row("503-empty", 503, b"", V(TRANSIENT)),
]


# -- CleverTap: GET /1/profile.json, to resolve (identity resolution) ----------------------------------
# contracts § "Identity resolution", CleverTap row: there is no delete by email; the profile found
# by email names its identity and its CleverTap ids (objectId, and each device's in platformInfo),
# in a shape the page does not fix: each is read only where it is text.

ONE_EMAIL_TO_RESOLVE = resolving(one_each("delete_profile", {"email": "jane@example.com"}))
JANE = {
    "identity": "client-1",
    "email": "jane@example.com",
    "objectId": "ct-1",
    "platformInfo": [{"objectId": "ct-1", "platform": "iOS"}, {"objectId": "ct-2", "platform": "Android"}],
    "profileData": {"loyalty": "gold"},
}
JANE_FOUND = found(
    ("external_id", "client-1"),
    ("email", "jane@example.com"),
    ("guid", "ct-1"),
    ("guid", "ct-2"),
    person="client-1",
)

CLEVERTAP_RESOLVE = [
    row(
        "resolve-one-record-its-guids-once",
        200,
        {"status": "success", "record": JANE},
        V(STILL_PRESENT, profiles=(JANE_FOUND,)),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    row(
        "resolve-records-of-two-identities",
        200,
        {"status": "success", "record": [JANE, {"identity": "client-2", "email": "jane@example.com"}]},
        V(
            STILL_PRESENT,
            profiles=(
                JANE_FOUND,
                found(("external_id", "client-2"), ("email", "jane@example.com"), person="client-2"),
            ),
        ),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    row(
        "resolve-an-anonymous-record",
        200,
        {"status": "success", "record": {"email": "jane@example.com", "objectId": "ct-9"}},
        V(STILL_PRESENT, profiles=(found(("email", "jane@example.com"), ("guid", "ct-9")),)),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    row(
        "resolve-garbled-fields",
        200,
        {
            "status": "success",
            "record": {
                "identity": 7,
                "email": None,
                "objectId": "",
                "platformInfo": [{"objectId": 5}, "ct-3", None],
            },
        },
        V(STILL_PRESENT, profiles=(found(),)),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    row(
        "resolve-platform-info-not-a-list",
        200,
        {"status": "success", "record": {"identity": "client-1", "platformInfo": {"objectId": "ct-2"}}},
        V(STILL_PRESENT, profiles=(found(("external_id", "client-1"), person="client-1"),)),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    row(
        "resolve-no-record",
        200,
        {"status": "success"},
        V(VERIFIED_ABSENT, profiles=()),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    row(
        "resolve-record-null",
        200,
        {"status": "success", "record": None},
        V(VERIFIED_ABSENT, profiles=()),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    row(
        "resolve-records-empty",
        200,
        {"status": "success", "record": []},
        V(frozenset({UNVERIFIABLE, TRANSIENT}), profiles=()),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    row(
        "resolve-fail-user-not-found",
        200,
        fail("User not found"),
        V(VERIFIED_ABSENT, profiles=()),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
]


@pytest.mark.parametrize(("status", "body", "expected", "targets"), profile_rows(CLEVERTAP_RESOLVE))
def test_a_resolving_lookup_lists_each_record_as_a_profile(status, body, expected, targets):
    check_profiles(CONNECTORS["clevertap"].lookup, status, body, expected, targets)


def test_a_profile_is_looked_up_by_email_the_same_to_resolve_as_to_verify():
    settings = VendorSettings("http://vendor.test", CREDENTIALS["clevertap"], 1, {}, 1.0, 1.0, {})
    lookup = CONNECTORS["clevertap"].lookup
    built = lookup.build(ONE_EMAIL_TO_RESOLVE, settings)
    assert (built.method, built.url, built.body) == (
        "GET",
        "http://vendor.test/1/profile.json?email=jane%40example.com",
        b"",
    )
    assert built == lookup.build([replace(t, resolving=False) for t in ONE_EMAIL_TO_RESOLVE], settings)


READ_TABLES: dict[str, Reads] = {
    "delete": Reads(TWO_IDENTITIES, CLEVERTAP_DELETE, success=b'{"status": "success"}'),
    "profile": Reads(
        ONE_IDENTITY, [*CLEVERTAP_PROFILE, *CLEVERTAP_RESOLVE], success=b'{"status": "success"}'
    ),
}
