"""Braze against a real local server: POST /users/external_ids/remove and POST /users/delete."""

import json
import time

import pytest
from werkzeug import Response

from erasure.config import VendorSettings
from erasure.errors import ConfigError
from erasure.vendors import CONNECTORS
from tests.connectors.reads import (
    ACCEPTED,
    ALREADY_ABSENT,
    DELETED,
    FAILED,
    REFUSED,
    STILL_PRESENT,
    THROTTLED,
    TRANSIENT,
    UNAUTHORIZED,
    UNVERIFIABLE,
    VERIFIED_ABSENT,
    In,
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


def test_identifiers_an_operation_does_not_take_are_skipped_without_a_call(httpserver, make_relay):
    results = make_relay("braze").run(
        [
            request({"guid": "ct-1"}, action="delete_profile"),
            request({"email": "a@example.com"}, action="remove_identifier"),
        ]
    )
    assert [outcomes(r) for r in results] == [[("guid", "skipped")], [("email", "skipped")]]
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


# -- delete_profile: POST /users/delete -------------------------------------------------------------
DELETE = "/users/delete"
PRIORITIZED = ["identified", "most_recently_updated"]


def test_profiles_go_one_identifier_type_a_call_50_at_most(httpserver, make_relay):
    httpserver.expect_request(DELETE, method="POST", headers=HEADERS).respond_with_json({"deleted": 1}, 201)
    people = [request({"external_id": f"u{n}"}) for n in range(120)]
    people.append(
        request(
            {
                "external_id": "jane",
                "braze_id": "b-jane",
                "email": "jane@example.com",
                "phone_number": "+6591234567",
                "user_alias": {"alias_name": "jane-crm", "alias_label": "crm"},
            }
        )
    )
    results = make_relay("braze").run(people)
    bodies = [req.get_json() for req, _ in httpserver.log]
    assert sorted(len(b["external_ids"]) for b in bodies if "external_ids" in b) == [21, 50, 50]
    assert {"braze_ids": ["b-jane"]} in bodies
    assert {"email_addresses": [{"email": "jane@example.com", "prioritization": PRIORITIZED}]} in bodies
    assert {"phone_numbers": [{"phone": "+6591234567", "prioritization": PRIORITIZED}]} in bodies
    assert {"user_aliases": [{"alias_name": "jane-crm", "alias_label": "crm"}]} in bodies
    assert all(len(body) == 1 for body in bodies)  # one identifier type a call
    assert len(bodies) == 3 + 4
    assert {o for per in results for _, o in outcomes(per)} == {"accepted"}
    assert "Braze does not say which" in results[-1][0].verdict.reason


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (201, {"deleted": 2}, "accepted"),
        (200, {"deleted": 0}, "accepted"),  # queued nothing it says: still no proof either way
        (201, {"message": "success"}, "transient"),
        (201, {"deleted": "2"}, "transient"),
        (201, "<html>gateway</html>", "transient"),
        (400, {"message": "Invalid request", "errors": ["bad"]}, "refused"),
        (401, {"message": "Invalid API key"}, "unauthorized"),
        (403, {"message": "no users.delete permission"}, "unauthorized"),
        (500, {"message": "internal"}, "transient"),
    ],
)
def test_classifies_the_delete_answers(httpserver, make_relay, status, body, outcome):
    responder = httpserver.expect_request(DELETE)
    if isinstance(body, str):
        responder.respond_with_data(body, status)
    else:
        responder.respond_with_json(body, status)
    (results,) = make_relay("braze").run([request({"external_id": "u1", "email": "u1@example.com"})])
    assert {r.verdict.outcome for r in results} == {outcome}


def test_a_throttled_delete_keeps_the_reset_and_holds_back_the_other_calls(httpserver, make_relay):
    reset = str(int(time.time()) + 30)
    httpserver.expect_request(DELETE).respond_with_json(
        {"message": "rate"}, 429, {"x-ratelimit-reset": reset}
    )
    (results,) = make_relay("braze", concurrency=1).run(
        [request({"external_id": "u1", "email": "a@example.com"})]
    )
    assert {r.verdict.outcome for r in results} == {"throttled"}
    assert all(25 <= r.verdict.retry_after <= 30 for r in results)
    assert len(httpserver.log) == 1


@pytest.mark.parametrize(
    ("setting", "prioritization"),
    [("", PRIORITIZED), ("unidentified, most_recently_updated", ["unidentified", "most_recently_updated"])],
)
def test_the_prioritization_is_a_setting(setting, prioritization):
    options = CONNECTORS["braze"].options({"BRAZE_DELETE_PRIORITIZATION": setting})
    assert list(options["prioritization"]) == prioritization


@pytest.mark.parametrize("setting", ["identified,unidentified", "newest", "identified,identified"])
def test_a_bad_prioritization_names_its_setting(setting):
    with pytest.raises(ConfigError, match="BRAZE_DELETE_PRIORITIZATION"):
        CONNECTORS["braze"].options({"BRAZE_DELETE_PRIORITIZATION": setting})


# -- verification: POST /users/export/ids ------------------------------------------------------

EXPORT = "/users/export/ids"
FIELDS = ["braze_id", "external_id"]


def looked_up(results):
    return [
        (r.identifier.label, str(r.verdict.outcome)) for request_results in results for r in request_results
    ]


def test_export_asks_50_external_ids_a_call_and_one_email_with_minimal_fields(httpserver, make_relay):
    ids = [f"crm-{n}" for n in range(60)]
    httpserver.expect_oneshot_request(
        EXPORT, method="POST", headers=HEADERS, json={"external_ids": ids[:50], "fields_to_export": FIELDS}
    ).respond_with_json({"users": [], "invalid_user_ids": ids[:50], "message": "success"}, 201)
    httpserver.expect_oneshot_request(
        EXPORT, method="POST", json={"external_ids": ids[50:], "fields_to_export": FIELDS}
    ).respond_with_json({"users": [{"external_id": "crm-55", "braze_id": "b55"}], "message": "success"}, 201)
    httpserver.expect_oneshot_request(
        EXPORT, method="POST", json={"email_address": "jane@example.com", "fields_to_export": FIELDS}
    ).respond_with_json({"users": [], "message": "success"}, 201)
    results = make_relay("braze", concurrency=1).look_up(
        [request({"external_id": i}) for i in ids] + [request({"email": "jane@example.com"})]
    )
    httpserver.check_assertions()
    found = looked_up(results)
    assert found.count(("external_id", "verified_absent")) == 59
    assert found[55] == ("external_id", "still_present")
    assert found[-1] == ("email", "verified_absent")
    assert results[0][0].verdict.evidence.http_status == 201


@pytest.mark.parametrize(
    ("status", "body", "verification"),
    [
        (201, {"users": [], "message": "success"}, "verified_absent"),
        # invalid_user_ids says nothing the empty users list does not: judged from users.
        (201, {"users": [], "invalid_user_ids": ["x"], "message": "success"}, "verified_absent"),
        # By email several users can match: any user means the person is not gone.
        (201, {"users": [{"braze_id": "b1"}, {"braze_id": "b2"}], "message": "success"}, "still_present"),
        (201, {"message": "success"}, "transient"),
        (201, "<html>oops</html>", "transient"),
        (400, {"message": "Invalid email address"}, "unverifiable"),
        (401, {"message": "Invalid API key"}, "unauthorized"),
        (429, {"message": "rate limited"}, "throttled"),
        (500, {"message": "internal"}, "transient"),
    ],
)
def test_export_answers_read_as_verifications(httpserver, make_relay, status, body, verification):
    respond(httpserver.expect_oneshot_request(EXPORT, method="POST"), status, body)
    (results,) = make_relay("braze").look_up([request({"email": "jane@example.com"})])
    assert looked_up([results]) == [("email", verification)]


def test_an_exported_user_naming_none_of_the_ids_proves_none_gone(httpserver, make_relay):
    httpserver.expect_oneshot_request(EXPORT).respond_with_json(
        {"users": [{"external_id": "crm-1"}, {"braze_id": "b-unknown"}], "message": "success"}, 201
    )
    results = make_relay("braze").look_up(
        [request({"external_id": "crm-1"}), request({"external_id": "crm-2"})]
    )
    assert looked_up(results) == [("external_id", "still_present"), ("external_id", "unverifiable")]


def test_aliases_are_looked_up_with_their_labels_and_mapped_back(httpserver, make_relay):
    httpserver.expect_oneshot_request(
        EXPORT,
        json={
            "user_aliases": [
                {"alias_name": "n1", "alias_label": "crm"},
                {"alias_name": "n2", "alias_label": "crm"},
            ],
            "fields_to_export": [*FIELDS, "user_aliases"],
        },
    ).respond_with_json({"users": [{"user_aliases": [{"alias_name": "n2", "alias_label": "crm"}]}]}, 201)
    alias = {"alias_label": "crm"}
    results = make_relay("braze").look_up(
        [
            request({"user_alias": {**alias, "alias_name": "n1"}}),
            request({"user_alias": {**alias, "alias_name": "n2"}}),
        ]
    )
    httpserver.check_assertions()
    assert looked_up(results) == [("user_alias.crm", "verified_absent"), ("user_alias.crm", "still_present")]


def test_a_lookup_answer_quoting_the_identifier_keeps_it_out_of_the_reason(httpserver, make_relay):
    httpserver.expect_oneshot_request(EXPORT).respond_with_json(
        {"message": "Invalid email address: 'jane@example.com'"},
        400,
        headers={"X-Request-Id": "jane@example.com"},
    )
    (results,) = make_relay("braze").look_up([request({"email": "jane@example.com"})])
    verdict = results[0].verdict
    assert verdict.outcome == "unverifiable"
    assert "jane@example.com" not in verdict.reason and "<identifier>" in verdict.reason
    assert verdict.evidence.vendor_request_id == "<identifier>"  # even the vendor's request id


def test_a_lookup_refused_for_one_bad_id_is_halved_until_the_refusal_falls_on_it(httpserver, make_relay):
    def answer(req):
        ids = req.get_json()["external_ids"]
        if "bad id" in ids:
            return Response(json.dumps({"message": "Invalid external id"}), 400)
        return Response(json.dumps({"users": [], "message": "success"}), 201)

    httpserver.expect_request(EXPORT).respond_with_handler(answer)
    results = make_relay("braze").look_up(
        [request({"external_id": i}) for i in ("crm-1", "bad id", "crm-3", "crm-4")]
    )
    assert [r[0].verdict.outcome for r in results] == [
        "verified_absent",
        "unverifiable",
        "verified_absent",
        "verified_absent",
    ]


# == How the connector reads each answer, without a socket ====================================
# READ_TABLES below: tests/unit/test_connector_reads.py runs every row, and the checks that hold
# for every call (tests/connectors/reads.py). Sources, cited per table: Braze's reference page,
# /work/shared/seeds/ "seed 002", and /work/shared/vendor-contracts.md ("contracts § <section>, <row>").

TWO_OLD_IDS = one_each("remove_identifier", {"external_id": "old-1"}, {"external_id": "old-2"})
TWO_EMAILS = one_each("delete_profile", {"email": "jane@example.com"}, {"email": "ana@example.com"})
ONE_EMAIL = one_each("delete_profile", {"email": "jane@example.com"})
TWO_EXTERNAL_IDS = one_each("delete_profile", {"external_id": "ext-a"}, {"external_id": "ext-b"})
TWO_ALIASES = one_each(
    "delete_profile",
    {"user_alias": {"alias_name": "n1", "alias_label": "crm"}},
    {"user_alias": {"alias_name": "n2", "alias_label": "crm"}},
)


# -- Braze: POST /users/external_ids/remove ----------------------------------------------------------
# seed 002, "## 응답": {"message", "removed_ids", "removal_errors"}; each removal error refers to an
# index of the request's array; `message` is an error for a bad key, an empty or >50 array, or a
# rate limit. contracts § Braze, "remove response": an id is removed iff it is in removed_ids; the
# error element's format is not documented (seen as strings and as arrays); "errors": 400 bad
# syntax, 401 key, 403 permission, 404 bad URL, 429, 5xx; "accept any 2xx"; "rate headers":
# X-RateLimit-Reset in epoch seconds, names possibly lowercase, no Retry-After.


def removal_answer(removed, errors=()) -> dict:
    return {"message": "success", "removed_ids": list(removed), "removal_errors": list(errors)}


BRAZE_REMOVE = [
    row("success-201", 201, removal_answer(["old-1", "old-2"]), V(DELETED)),
    row("success-200", 200, removal_answer(["old-1", "old-2"]), V(DELETED)),
    row("success-in-another-order", 201, removal_answer(["old-2", "old-1"]), V(DELETED)),
    # Per-id failures inside a 2xx, in every shape the element has been seen in.
    row(
        "error-as-message-then-index",
        201,
        removal_answer(["old-1"], [["external id does not exist", 1]]),
        [V(DELETED), V(ALREADY_ABSENT, "does not exist")],
    ),
    row(
        "error-as-index-then-message",
        201,
        removal_answer(["old-2"], [[0, "deprecated external id not found"]]),
        [V(ALREADY_ABSENT, "not found"), V(DELETED)],
    ),
    row(
        "errors-as-strings-naming-the-index",
        201,
        removal_answer([], ["index 0: cannot remove a primary external id", "index 1: unknown external id"]),
        [V(REFUSED, "primary external id"), V(ALREADY_ABSENT, "unknown external id")],
    ),
    row(
        "error-as-object",
        201,
        removal_answer(["old-2"], [{"index": 0, "message": "external id does not exist"}]),
        [V(ALREADY_ABSENT, "does not exist"), V(DELETED)],
    ),
    row(
        "error-quoting-the-id",
        201,
        removal_answer(["old-1"], ["old-2 not found"]),
        [V(DELETED), V(ALREADY_ABSENT, "not found")],
    ),
    # An error that does not say the id is absent is not absence.
    row(
        "error-asking-for-a-retry",
        201,
        removal_answer([], [["Unknown error, please retry", 0]]),
        [V(FAILED, "please retry"), V(TRANSIENT, "removal not confirmed")],
    ),
    row(
        "error-without-text",
        201,
        removal_answer([], [[1]]),
        [V(TRANSIENT, "removal not confirmed"), V(FAILED)],
    ),
    # Not in removed_ids: never deleted.
    row("neither-removed-nor-in-error", 201, removal_answer([]), V(TRANSIENT, "removal not confirmed")),
    row(
        "removed-ids-name-someone-else", 201, removal_answer(["old-3"]), V(TRANSIENT, "removal not confirmed")
    ),
    row("removed-ids-not-strings", 201, removal_answer([None, 1]), V(TRANSIENT, "removal not confirmed")),
    row(
        "error-index-out-of-range",
        201,
        removal_answer(["old-1"], [["not found", 5]]),
        [V(DELETED), V(TRANSIENT, "removal not confirmed")],
    ),
    row(
        "error-without-index-or-id",
        201,
        removal_answer([], ["not found"]),
        V(TRANSIENT, "removal not confirmed"),
    ),
    # In removed_ids and in an error: removed_ids decides (iff).
    row("removed-and-in-error", 201, removal_answer(["old-1", "old-2"], [["not found", 0]]), V(DELETED)),
    # A 2xx without the documented body.
    row("fatal-message-in-2xx", 201, {"message": "Invalid API key"}, V(TRANSIENT, "malformed")),
    row("message-only", 201, {"message": "success"}, V(TRANSIENT, "malformed")),
    row(
        "removed-ids-a-string", 201, {"message": "success", "removed_ids": "old-1"}, V(TRANSIENT, "malformed")
    ),
    row("delete-endpoint-body", 201, {"deleted": 2}, V(TRANSIENT, "malformed")),
    row("empty", 201, b"", V(TRANSIENT, "malformed")),
    row("json-null", 201, "null", V(TRANSIENT, "malformed")),
    row("html", 200, "<html><body>OK</body></html>", V(TRANSIENT, "malformed")),
    row("truncated", 201, b'{"message": "success", "removed_ids": ["old-1", "ol', V(TRANSIENT, "malformed")),
    # Errors by status, Braze's envelope {"message": <fatal>, "errors": [...]}.
    row(
        "400-over-50",
        400,
        {"message": "'external_ids' must have at most 50 items", "errors": []},
        V(REFUSED, "at most 50"),
    ),
    row(
        "400-empty-array",
        400,
        {"message": "'external_ids' must not be empty"},
        V(REFUSED, "must not be empty"),
    ),
    row("401-invalid-key", 401, {"message": "Invalid API key"}, V(UNAUTHORIZED, "Invalid API key")),
    row(
        "403-permission",
        403,
        {"message": "users.external_ids.remove not allowed"},
        V(UNAUTHORIZED, "not allowed"),
    ),
    row("404-bad-url", 404, {"message": "Not found"}, V(UNAUTHORIZED, "endpoint not found")),
    row(
        "429-lowercase-rate-headers",
        429,
        {"message": "Rate limit exceeded"},
        V(THROTTLED, "Rate limit exceeded", wait=40),
        {"x-ratelimit-limit": "1000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": In(40)},
    ),
    row(
        "429-rate-headers",
        429,
        {"message": "Rate limit exceeded"},
        V(THROTTLED, wait=25),
        {"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": In(25)},
    ),
    row("429-without-headers", 429, {"message": "Rate limit exceeded"}, V(THROTTLED)),
    row("500", 500, {"message": "Internal server error"}, V(TRANSIENT, "Internal server error")),
    row("502-html", 502, "<html>Bad Gateway</html>", V(TRANSIENT)),
    row("503-empty", 503, b"", V(TRANSIENT)),
]


# -- Braze: POST /users/delete ---------------------------------------------------------------------
# contracts § Braze, "profile erasure": one identifier type a call, answers {"deleted": n} = the
# number *queued* (asynchronous); "Profile erasure details": the count has been seen to count
# unknown ids too. So a count is `accepted` for every id of the call, never `deleted`.

BRAZE_DELETE = [
    row("all-queued", 201, {"deleted": 2}, V(ACCEPTED, "2 of the 2")),
    row("some-queued", 200, {"deleted": 1}, V(ACCEPTED, "does not say which")),
    row("count-as-text", 201, {"deleted": "2"}, V(TRANSIENT, "malformed")),
    row("count-negative", 201, {"deleted": -1}, V(TRANSIENT, "malformed")),
    row("count-fraction", 201, {"deleted": 1.5}, V(TRANSIENT, "malformed")),
    row("count-boolean", 201, {"deleted": True}, V(TRANSIENT, "malformed")),
    row("count-null", 201, {"deleted": None}, V(TRANSIENT, "malformed")),
    row("message-only", 201, {"message": "success"}, V(TRANSIENT, "malformed")),
    row("remove-endpoint-body", 201, removal_answer([]), V(TRANSIENT, "malformed")),
    row("array", 201, "[]", V(TRANSIENT, "malformed")),
    row("empty", 201, b"", V(TRANSIENT, "malformed")),
    row("html", 200, "<html>gateway</html>", V(TRANSIENT, "malformed")),
    row("truncated", 201, b'{"deleted": ', V(TRANSIENT, "malformed")),
    row(
        "400",
        400,
        {"message": "Invalid request", "errors": ["prioritization"]},
        V(REFUSED, "Invalid request"),
    ),
    row("401", 401, {"message": "Invalid API key"}, V(UNAUTHORIZED, "Invalid API key")),
    row("403", 403, {"message": "no users.delete permission"}, V(UNAUTHORIZED, "users.delete")),
    row("404", 404, {"message": "Not found"}, V(UNAUTHORIZED, "endpoint not found")),
    row("429", 429, {"message": "Rate limit exceeded"}, V(THROTTLED, wait=30), {"x-ratelimit-reset": In(30)}),
    row("500", 500, {"message": "internal"}, V(TRANSIENT, "internal")),
    row("503-empty", 503, b"", V(TRANSIENT)),
]


# -- Braze: POST /users/export/ids (verification) ------------------------------------------------------
# contracts § "Verification", Braze row: gone is a 2xx (201 seen) with "users": [], possibly with
# invalid_user_ids; by email or phone several profiles can match: gone means no user; judge from
# `users`, never from invalid_user_ids; "one third party expects 404 instead" (not the documented
# answer). § "Identity resolution", Braze row: users without external_id are anonymous profiles.


def users(*found: dict, **extra) -> dict:
    return {"users": list(found), "message": "success", **extra}


BRAZE_EXPORT = [
    row("gone", 201, users(), V(VERIFIED_ABSENT), targets=ONE_EMAIL),
    row(
        "gone-with-invalid-user-ids",
        201,
        users(invalid_user_ids=["x"]),
        V(VERIFIED_ABSENT),
        targets=ONE_EMAIL,
    ),
    row(
        "one-user",
        201,
        users({"braze_id": "b1", "external_id": "jane-1"}),
        V(STILL_PRESENT),
        targets=ONE_EMAIL,
    ),
    row(
        "anonymous-users",
        201,
        users({"braze_id": "b1"}, {"braze_id": "b2"}),
        V(STILL_PRESENT),
        targets=ONE_EMAIL,
    ),
    # A batch of external ids (or aliases): each user is mapped back to the id it names.
    row(
        "batch-one-found",
        201,
        users({"braze_id": "b1", "external_id": "ext-a"}),
        [V(STILL_PRESENT), V(VERIFIED_ABSENT)],
        targets=TWO_EXTERNAL_IDS,
    ),
    row(
        "batch-both-found",
        201,
        users({"external_id": "ext-b"}, {"external_id": "ext-a"}),
        V(STILL_PRESENT),
        targets=TWO_EXTERNAL_IDS,
    ),
    row("batch-none-found", 201, users(), V(VERIFIED_ABSENT), targets=TWO_EXTERNAL_IDS),
    row(
        "batch-user-naming-none",
        201,
        users({"braze_id": "b9"}),
        V(UNVERIFIABLE, "naming none"),
        targets=TWO_EXTERNAL_IDS,
    ),
    row(
        "batch-user-naming-another-id",
        201,
        users({"external_id": "ext-z"}),
        V(UNVERIFIABLE, "naming none"),
        targets=TWO_EXTERNAL_IDS,
    ),
    row(
        "batch-found-and-unnamed",
        201,
        users({"external_id": "ext-a"}, {"braze_id": "b9"}),
        [V(STILL_PRESENT), V(UNVERIFIABLE)],
        targets=TWO_EXTERNAL_IDS,
    ),
    row(
        "aliases-one-found",
        201,
        users({"braze_id": "b1", "user_aliases": [{"alias_name": "n1", "alias_label": "crm"}]}),
        [V(STILL_PRESENT), V(VERIFIED_ABSENT)],
        targets=TWO_ALIASES,
    ),
    row(
        "alias-name-under-another-label",
        201,
        users({"braze_id": "b1", "user_aliases": [{"alias_name": "n1", "alias_label": "other"}]}),
        V(UNVERIFIABLE),
        targets=TWO_ALIASES,
    ),
    # A 2xx without a users list proves nothing.
    row("users-missing", 201, {"message": "success"}, V(TRANSIENT, "malformed"), targets=ONE_EMAIL),
    row("users-not-a-list", 201, {"users": "none"}, V(TRANSIENT, "malformed"), targets=TWO_EXTERNAL_IDS),
    row("users-not-objects", 201, {"users": [1]}, V(TRANSIENT, "malformed"), targets=ONE_EMAIL),
    row("users-null", 201, {"users": None}, V(TRANSIENT, "malformed"), targets=ONE_EMAIL),
    row("empty", 201, b"", V(TRANSIENT, "malformed"), targets=ONE_EMAIL),
    row("html", 200, "<html>oops</html>", V(TRANSIENT, "malformed"), targets=ONE_EMAIL),
    row("truncated", 201, b'{"users": [', V(TRANSIENT, "malformed"), targets=TWO_EXTERNAL_IDS),
    row(
        "400", 400, {"message": "Invalid email address"}, V(UNVERIFIABLE, "refused (400)"), targets=ONE_EMAIL
    ),
    row("401", 401, {"message": "Invalid API key"}, V(UNAUTHORIZED), targets=ONE_EMAIL),
    row("403", 403, {"message": "no users.export.ids permission"}, V(UNAUTHORIZED), targets=ONE_EMAIL),
    # The third party's 404 is not Braze's documented "gone": a wrong URL until shown otherwise.
    row("404", 404, {"message": "Not found"}, V(UNAUTHORIZED, "endpoint not found"), targets=ONE_EMAIL),
    row(
        "429",
        429,
        {"message": "Rate limit exceeded"},
        V(THROTTLED, wait=50),
        {"X-RateLimit-Reset": In(50)},
        targets=TWO_EXTERNAL_IDS,
    ),
    row("500", 500, {"message": "internal"}, V(TRANSIENT), targets=ONE_EMAIL),
    row("503-empty", 503, b"", V(TRANSIENT), targets=ONE_EMAIL),
    row(
        "one-user-aliases-not-a-list",
        201,
        users({"braze_id": "b1", "user_aliases": 5}),
        V(STILL_PRESENT),
        targets=ONE_EMAIL,
    ),
    # Aliases not a list in a batch: ignored; the user is still found by its external id.
    row(
        "batch-user-aliases-not-a-list",
        201,
        users({"external_id": "ext-a", "user_aliases": 5}),
        [V(STILL_PRESENT), V(VERIFIED_ABSENT)],
        targets=TWO_EXTERNAL_IDS,
    ),
]


# -- Braze: POST /users/export/ids, to resolve (identity resolution) ---------------------------------
# contracts § "Identity resolution", Braze row: by email or phone the export lists every user
# holding it; users without external_id are anonymous profiles. Each is deleted by its braze_id,
# so a resolving export that names a user without one cannot be acted on: transient.

ONE_EMAIL_TO_RESOLVE = resolving(ONE_EMAIL)
JANE = {
    "braze_id": "b-jane",
    "external_id": "jane-1",
    "email": "jane@example.com",
    "phone": "+6591234567",
    "user_aliases": [{"alias_name": "jane-crm", "alias_label": "crm"}],
}
LEAD = {"braze_id": "b-lead", "email": "jane@example.com"}
JANE_FOUND = found(
    ("braze_id", "b-jane"),
    ("external_id", "jane-1"),
    ("email", "jane@example.com"),
    ("phone_number", "+6591234567"),
    ("user_alias", "jane-crm", "crm"),
    person="jane-1",
)
LEAD_FOUND = found(("braze_id", "b-lead"), ("email", "jane@example.com"))

BRAZE_RESOLVE = [
    row(
        "resolve-identified-and-anonymous",
        201,
        users(JANE, LEAD),
        V(STILL_PRESENT, profiles=(JANE_FOUND, LEAD_FOUND)),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    row("resolve-no-one", 201, users(), V(VERIFIED_ABSENT, profiles=()), targets=ONE_EMAIL_TO_RESOLVE),
    row(
        "resolve-no-one-but-invalid-user-ids",
        201,
        users(invalid_user_ids=["jane@example.com"]),
        V(VERIFIED_ABSENT, profiles=()),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    *[
        row(
            f"resolve-a-user-{label}",
            201,
            users(JANE, user),
            V(TRANSIENT, "without its braze_id"),
            targets=ONE_EMAIL_TO_RESOLVE,
        )
        for label, user in (
            ("without-braze-id", {"external_id": "jane-2", "email": "jane@example.com"}),
            ("with-a-blank-braze-id", {"braze_id": "", "email": "jane@example.com"}),
            ("with-a-numeric-braze-id", {"braze_id": 7, "email": "jane@example.com"}),
            ("with-a-null-braze-id", {"braze_id": None}),
        )
    ],
    # Fields of another type than documented name nothing: ignored, the rest read.
    row(
        "resolve-garbled-fields",
        201,
        users(
            {
                "braze_id": "b-1",
                "external_id": 42,
                "email": None,
                "phone": ["+6591234567"],
                "user_aliases": [{"alias_name": 5, "alias_label": "crm"}, "jane-crm", None],
            }
        ),
        V(STILL_PRESENT, profiles=(found(("braze_id", "b-1")),)),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    row(
        "resolve-blank-fields",
        201,
        users({"braze_id": "b-1", "external_id": "", "email": " ", "phone": ""}),
        V(STILL_PRESENT, profiles=(found(("braze_id", "b-1")),)),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    row(
        "resolve-aliases-not-a-list",
        201,
        users({"braze_id": "b-1", "user_aliases": 5}),
        V(STILL_PRESENT, profiles=(found(("braze_id", "b-1")),)),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    # A batch (a dry run's or an enriched request's external ids): each user is its id's profile.
    row(
        "resolve-batch-one-found",
        201,
        users({"braze_id": "b-a", "external_id": "ext-a", "email": "a@example.com"}),
        [
            V(
                STILL_PRESENT,
                profiles=(
                    found(
                        ("braze_id", "b-a"),
                        ("external_id", "ext-a"),
                        ("email", "a@example.com"),
                        person="ext-a",
                    ),
                ),
            ),
            V(VERIFIED_ABSENT, profiles=()),
        ],
        targets=resolving(TWO_EXTERNAL_IDS),
    ),
    row(
        "resolve-batch-user-without-braze-id",
        201,
        users({"external_id": "ext-a"}),
        V(TRANSIENT, "without its braze_id"),
        targets=resolving(TWO_EXTERNAL_IDS),
    ),
    row("resolve-429", 429, {"message": "Rate limit exceeded"}, V(THROTTLED), targets=ONE_EMAIL_TO_RESOLVE),
]


@pytest.mark.parametrize(("status", "body", "expected", "targets"), profile_rows(BRAZE_RESOLVE))
def test_a_resolving_export_lists_each_user_as_a_profile(status, body, expected, targets):
    check_profiles(CONNECTORS["braze"].lookup, status, body, expected, targets)


def test_a_blank_external_id_names_no_person():
    check_profiles(
        CONNECTORS["braze"].lookup,
        201,
        users({"braze_id": "b-1", "external_id": "  "}),
        V(STILL_PRESENT, profiles=(found(("braze_id", "b-1")),)),
        ONE_EMAIL_TO_RESOLVE,
    )


def _built(targets) -> dict:
    settings = VendorSettings(
        "http://vendor.test", CREDENTIALS["braze"], 1, {}, 1.0, 1.0, CONNECTORS["braze"].options({})
    )
    return json.loads(CONNECTORS["braze"].lookup.build(targets, settings).body)


def test_a_resolving_export_asks_every_id_a_profile_is_known_by_a_verifying_one_the_fewest():
    every = ["braze_id", "external_id", "email", "phone", "user_aliases"]
    assert _built(ONE_EMAIL_TO_RESOLVE) == {"email_address": "jane@example.com", "fields_to_export": every}
    assert _built(resolving(TWO_EXTERNAL_IDS)) == {
        "external_ids": ["ext-a", "ext-b"],
        "fields_to_export": every,
    }
    assert _built(ONE_EMAIL) == {"email_address": "jane@example.com", "fields_to_export": FIELDS}
    assert _built(TWO_EXTERNAL_IDS) == {"external_ids": ["ext-a", "ext-b"], "fields_to_export": FIELDS}


READ_TABLES: dict[str, Reads] = {
    "remove": Reads(
        TWO_OLD_IDS,
        BRAZE_REMOVE,
        success=json.dumps(removal_answer(["old-1", "old-2"])).encode(),
        unreadable={
            # removal_errors not a list: the reading raises.
            "errors-a-number": (
                201,
                {"message": "success", "removed_ids": [], "removal_errors": 7},
                TWO_OLD_IDS,
            ),
        },
    ),
    "delete": Reads(TWO_EMAILS, BRAZE_DELETE, success=b'{"deleted": 2}'),
    "export": Reads(
        ONE_EMAIL,
        [*BRAZE_EXPORT, *BRAZE_RESOLVE],
        success=b'{"users": [], "message": "success"}',
    ),
}
