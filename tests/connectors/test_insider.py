"""Insider against a real local server: DELETE /api/user/v1/identity and POST /api/user/v1/delete."""

import json

import pytest

from erasure.config import VendorSettings
from erasure.relay import _BatchSender
from erasure.request import Identifier, IdentifierType
from erasure.vendors import CONNECTORS
from erasure.vendors.base import Target
from tests.connectors.reads import (
    ACCEPTED,
    ALREADY_ABSENT,
    DELETED,
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
    everyone_in,
    found,
    one_each,
    person,
    profile_rows,
    resolving,
    row,
)
from tests.helpers import CREDENTIALS, outcomes, request, respond

PATH = "/api/user/v1/identity"
HEADERS = {
    "X-PARTNER-NAME": CREDENTIALS["insider"]["partner_name"].lower(),
    "X-REQUEST-TOKEN": CREDENTIALS["insider"]["request_token"],
    "Content-Type": "application/json",
}


def removal(identity):
    return request(identity, action="remove_identifier")


def test_one_call_per_identifier_with_a_lowercase_partner_name(httpserver, make_relay):
    for identifiers in (
        {"email": "sample@example.com"},
        {"phone_number": "+6598765432"},
        {"custom": {"user_loyalty_id": "xyz123"}},
    ):
        httpserver.expect_oneshot_request(
            PATH, method="DELETE", headers=HEADERS, json={"identifiers": identifiers}
        ).respond_with_json({})
    (results,) = make_relay("insider").run(
        [
            removal(
                {
                    "email": "sample@example.com",
                    "phone_number": "+6598765432",
                    "custom": {"user_loyalty_id": "xyz123"},
                }
            )
        ]
    )
    httpserver.check_assertions()
    assert outcomes(results) == [
        ("custom.user_loyalty_id", "deleted"),
        ("email", "deleted"),
        ("phone_number", "deleted"),
    ]


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, "", "deleted"),
        (200, {}, "deleted"),
        (200, {"success": False, "message": "Partner token authentication failed."}, "transient"),
        (200, {"error": "rejected: too many requests"}, "transient"),
        # An upstream HTML error page, or any body but the documented ones, proves nothing.
        (200, "<html><body>502 Bad Gateway</body></html>", "transient"),
        (200, {"success": True}, "transient"),
        (200, "null", "transient"),
        (
            400,
            {"error": "you cannot delete the sole identifier specified for a user: bad request"},
            "refused",
        ),
        (400, {"error": "no valid identifier: bad request"}, "refused"),
        (400, {"success": False, "message": "Partner is invalid."}, "unauthorized"),
        (401, {"success": False, "message": "Partner token authentication failed."}, "unauthorized"),
        (403, {"message": "Request limit exceeded"}, "throttled"),
        (403, {"message": "Access denied"}, "unauthorized"),
        (404, {"error": "no such user for these identifiers: no data"}, "already_absent"),
        (404, "<html>Not Found</html>", "unauthorized"),
        (500, {"error": "internal"}, "transient"),
        (520, "", "transient"),
    ],
)
def test_classifies_documented_answers(httpserver, make_relay, status, body, outcome):
    respond(httpserver.expect_oneshot_request(PATH, method="DELETE"), status, body)
    (results,) = make_relay("insider").run([removal({"uuid": "user-1"})])
    assert results[0].verdict.outcome == outcome


def test_the_sole_identifier_refusal_keeps_the_vendor_reason(httpserver, make_relay):
    httpserver.expect_oneshot_request(PATH).respond_with_json(
        {"error": "you cannot delete the sole identifier specified for a user: bad request"}, 400
    )
    (results,) = make_relay("insider").run([removal({"email": "solo@example.com"})])
    assert results[0].verdict.reason.startswith("you cannot delete the sole identifier")


def test_an_identifier_echoed_json_escaped_is_redacted(httpserver, make_relay):
    name = "Zoë-Müller-88/x"
    httpserver.expect_oneshot_request(PATH).respond_with_data(
        '{"error": "no such user for these identifiers '
        + json.dumps(name)[1:-1].replace("/", "\\/")
        + ': no data"}',
        404,
    )
    (results,) = make_relay("insider").run([removal({"custom": {"name": name}})])
    reason = results[0].verdict.reason
    assert results[0].verdict.outcome == "already_absent"
    assert "<identifier>" in reason and "M\\u00fcller" not in reason and "Müller" not in reason


def test_429_keeps_retry_after_and_sends_nothing_more(httpserver, make_relay):
    httpserver.expect_oneshot_request(PATH).respond_with_json(
        {"error": "rejected: too many requests"}, 429, headers={"Retry-After": "17"}
    )
    (results,) = make_relay("insider", concurrency=1).run(
        [removal({"email": "a@example.com", "phone_number": "+6598765432", "uuid": "u-1"})]
    )
    assert {(r.verdict.outcome, r.verdict.retry_after) for r in results} == {("throttled", 17.0)}
    assert len(httpserver.log) == 1


def test_a_body_over_5_mb_is_refused_without_a_call(httpserver, make_relay):
    relay = make_relay("insider")
    huge = Identifier(IdentifierType.CUSTOM, "x" * (5 * 1024 * 1024), "blob")
    target_request = request({"uuid": "u"}, action="remove_identifier")
    operation = relay.connector.operation_for(target_request.action)
    call = operation.build([Target(target_request, huge)], relay.settings)
    assert len(call.body) > operation.max_body_bytes
    ((verdict, attempted_at),) = _BatchSender(relay, None)(operation, [Target(target_request, huge)])
    assert verdict.outcome == "refused" and "5242880 bytes" in verdict.reason
    assert attempted_at is None and httpserver.log == []


def test_identifiers_insider_does_not_know_are_skipped(httpserver, make_relay):
    results = make_relay("insider").run([request({"guid": "ct-1"}), removal({"external_id": "u1"})])
    assert [outcomes(r) for r in results] == [[("guid", "skipped")], [("external_id", "skipped")]]
    assert httpserver.log == []


# -- delete_profile: POST /api/user/v1/delete ------------------------------------------------------
DELETE = "/api/user/v1/delete"


def test_one_call_a_person_carrying_every_identifier_insider_knows(httpserver, make_relay):
    jane = {
        "email": "jane@example.com",
        "phone_number": "+6591234567",
        "uuid": "j-1",
        "custom": {"crm": "c9"},
    }
    httpserver.expect_oneshot_request(
        DELETE, method="POST", headers=HEADERS, json={"identifiers": jane}
    ).respond_with_json({})
    httpserver.expect_oneshot_request(
        DELETE, method="POST", json={"identifiers": {"email": "ana@example.com"}}
    ).respond_with_json({})
    results = make_relay("insider").run(
        [request({**jane, "external_id": "jane-2024"}), request({"email": "ana@example.com"})]
    )
    httpserver.check_assertions()
    assert outcomes(results[0]) == [
        ("custom.crm", "accepted"),
        ("email", "accepted"),
        ("external_id", "skipped"),
        ("phone_number", "accepted"),
        ("uuid", "accepted"),
    ]
    assert outcomes(results[1]) == [("email", "accepted")]


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, {}, "accepted"),
        (200, "", "accepted"),
        (200, "<html>upstream</html>", "transient"),
        (200, {"success": False, "message": "Access Denied"}, "transient"),
        (400, {"error": "unifier identifier is required: bad request"}, "refused"),
        (400, {"success": False, "message": "Partner is invalid."}, "unauthorized"),
        (401, {"success": False, "message": "Partner token authentication failed."}, "unauthorized"),
        (403, {"success": False, "message": "Access Denied for this partner"}, "unauthorized"),
        (403, {"message": "Request limit exceeded"}, "throttled"),
        (404, {"error": "no such user for these identifiers: no data"}, "already_absent"),
        (429, {"error": "rejected: too many requests"}, "throttled"),
        (500, {"success": False, "message": "Internal error"}, "transient"),
    ],
)
def test_classifies_the_delete_answers(httpserver, make_relay, status, body, outcome):
    respond(httpserver.expect_oneshot_request(DELETE), status, body)
    (results,) = make_relay("insider").run([request({"email": "a@example.com", "uuid": "u-1"})])
    assert {r.verdict.outcome for r in results} == {outcome}


def test_a_refused_person_is_refused_whole_never_split(httpserver, make_relay):
    httpserver.expect_request(DELETE).respond_with_json(
        {"error": "unifier identifier is required: bad request"}, 400
    )
    (results,) = make_relay("insider").run([request({"phone_number": "+6591234567", "uuid": "u-1"})])
    assert {(r.verdict.outcome, r.verdict.reason) for r in results} == {
        ("refused", "unifier identifier is required: bad request")
    }
    assert len(httpserver.log) == 1


# -- verification: POST /api/user/v1/profile ---------------------------------------------------

PROFILE = "/api/user/v1/profile"


def test_profile_lookup_reads_one_identifier_a_call_with_one_attribute(httpserver, make_relay):
    for identifiers in ({"email": "jane@example.com"}, {"custom": {"loyalty_id": "L1"}}):
        httpserver.expect_oneshot_request(
            PROFILE,
            method="POST",
            headers=HEADERS,
            json={"identifiers": identifiers, "attributes": ["email"], "quota": True},
        ).respond_with_json({"error": "no such user for these identifiers: no data"}, 404)
    (results,) = make_relay("insider").look_up(
        [request({"email": "jane@example.com", "custom": {"loyalty_id": "L1"}})]
    )
    httpserver.check_assertions()
    assert [r.verdict.outcome for r in results] == ["verified_absent", "verified_absent"]


@pytest.mark.parametrize(
    ("status", "body", "verification"),
    [
        (
            200,
            {"attributes": {"email": "jane@example.com"}, "quota": {"used": 3, "total": 1000}},
            "still_present",
        ),
        (404, {"error": "no such user for these identifiers: no data"}, "verified_absent"),
        (404, "<html>Not Found</html>", "unauthorized"),
        (200, {}, "transient"),
        (200, "", "transient"),
        (200, {"error": "rejected: too many requests"}, "transient"),
        (400, {"error": "no valid identifier: bad request"}, "unverifiable"),
        (400, {"success": False, "message": "Partner is invalid."}, "unauthorized"),
        (403, {"message": "Request limit exceeded"}, "throttled"),
        (429, {"error": "rejected: too many requests"}, "throttled"),
        (500, {"error": "internal"}, "transient"),
    ],
)
def test_profile_answers_read_as_verifications(httpserver, make_relay, status, body, verification):
    respond(httpserver.expect_oneshot_request(PROFILE, method="POST"), status, body)
    (results,) = make_relay("insider").look_up([request({"email": "jane@example.com"})])
    assert results[0].verdict.outcome == verification


# == How the connector reads each answer, without a socket ====================================
# READ_TABLES below: tests/unit/test_connector_reads.py runs every row, and the checks that hold
# for every call (tests/connectors/reads.py). Sources, cited per table: Insider's reference page,
# /work/shared/seeds/ "seed 001", and /work/shared/vendor-contracts.md ("contracts § <section>, <row>").

ONE_EMAIL_TO_REMOVE = one_each("remove_identifier", {"email": "sample@useinsider.com"})
WHOLE_PERSON = everyone_in(person("req-p", email="sample@useinsider.com", uuid="u-1"))
ONE_EMAIL = one_each("delete_profile", {"email": "jane@example.com"})


# -- Insider: DELETE /api/user/v1/identity -----------------------------------------------------------
# seed 001, "Sample Responses": 400 {"error": "you cannot delete the sole identifier specified for
# a user: bad request"}, 429 {"error": "rejected: too many requests"}. contracts § Insider:
# "success" 200, body {} or empty; "errors": 400 no valid identifier, 400 {"success": false,
# "message": "Partner is invalid."}, 401 token, 403 access denied, 404 {"error": "no such user for
# these identifiers: no data"}, 5xx / 520 retryable; "rate": 429 possibly with Retry-After
# (seconds), some hosts throttle with 403 "Request limit exceeded".

SOLE = {"error": "you cannot delete the sole identifier specified for a user: bad request"}
TOO_MANY = {"error": "rejected: too many requests"}
NO_SUCH_USER = {"error": "no such user for these identifiers: no data"}
PARTNER_INVALID = {"success": False, "message": "Partner is invalid."}
TOKEN_FAILED = {"success": False, "message": "Partner token authentication failed."}

INSIDER_ERRORS = [
    row(
        "400-no-valid-identifier",
        400,
        {"error": "no valid identifier: bad request"},
        V(REFUSED, "no valid identifier"),
    ),
    row("400-partner-invalid", 400, PARTNER_INVALID, V(UNAUTHORIZED, "Partner is invalid")),
    row("401-token", 401, TOKEN_FAILED, V(UNAUTHORIZED, "authentication failed")),
    row(
        "403-access-denied",
        403,
        {"success": False, "message": "Access Denied"},
        V(UNAUTHORIZED, "Access Denied"),
    ),
    row(
        "403-request-limit",
        403,
        {"message": "Request limit exceeded"},
        V(THROTTLED, "limit", 30),
        {"Retry-After": "30"},
    ),
    row("404-html", 404, "<html>Not Found</html>", V(UNAUTHORIZED, "endpoint not found")),
    row("429-retry-after", 429, TOO_MANY, V(THROTTLED, "too many requests", 12), {"Retry-After": "12"}),
    row("429-without-retry-after", 429, TOO_MANY, V(THROTTLED, "too many requests")),
    row("500", 500, {"success": False, "message": "Internal error"}, V(TRANSIENT, "Internal error")),
    row("520-empty", 520, b"", V(TRANSIENT)),
    # A 2xx with anything but the documented {} or empty body proves nothing.
    row("200-success-false", 200, TOKEN_FAILED, V(TRANSIENT, "without the documented success body")),
    row("200-error-envelope", 200, TOO_MANY, V(TRANSIENT)),
    row("200-no-such-user", 200, NO_SUCH_USER, V(TRANSIENT)),  # absence is a 404's, not a 200's
    row("200-json-null", 200, "null", V(TRANSIENT)),
    row("200-array", 200, "[]", V(TRANSIENT)),
    row("200-html", 200, "<html><body>502 Bad Gateway</body></html>", V(TRANSIENT)),
    row("200-truncated", 200, b'{"', V(TRANSIENT)),
]

INSIDER_IDENTITY = [
    row("200-empty-object", 200, {}, V(DELETED)),
    row("200-empty", 200, b"", V(DELETED)),
    row("200-whitespace", 200, b" \r\n", V(DELETED)),
    row("200-success-true", 200, {"success": True}, V(TRANSIENT)),
    row("400-sole-identifier", 400, SOLE, V(REFUSED, "sole identifier")),
    row("404-no-such-user", 404, NO_SUCH_USER, V(ALREADY_ABSENT, "no such user")),
    row(
        "202-empty-object",
        202,
        {},
        V(frozenset({ACCEPTED, TRANSIENT})),
    ),
    *INSIDER_ERRORS,
]


# -- Insider: POST /api/user/v1/delete -------------------------------------------------------------
# contracts § Insider, "profile erasure": 200 {}, one person a call, the unifier identifier
# required; "Profile erasure details": 403 / 500 {"success": false, "message": ...}, the answer for
# an unknown person is not documented. {} says nothing of when: `accepted` for every identifier.

INSIDER_DELETE = [
    row("200-empty-object", 200, {}, V(ACCEPTED, "says no more")),
    row("200-empty", 200, b"", V(ACCEPTED)),
    row("200-success-true", 200, {"success": True}, V(TRANSIENT)),
    row(
        "400-no-unifier", 400, {"error": "unifier identifier is required: bad request"}, V(REFUSED, "unifier")
    ),
    row("404-no-such-user", 404, NO_SUCH_USER, V(ALREADY_ABSENT, "no such user")),
    *INSIDER_ERRORS,
]


# -- Insider: POST /api/user/v1/profile (verification) ------------------------------------------------
# contracts § "Verification", Insider row: gone is 404 {"error": "no such user for these
# identifiers: no data"}; present is a 200 with the profile's attributes (and the quota asked
# for); 429 when the quota is spent. § "Identity resolution", Insider row: 404 "no such user"
# when none.

INSIDER_PROFILE = [
    row(
        "200-profile",
        200,
        {"attributes": {"email": "sample@useinsider.com"}, "quota": {"used": 1, "total": 1000}},
        V(STILL_PRESENT),
    ),
    row("404-no-such-user", 404, NO_SUCH_USER, V(VERIFIED_ABSENT, "no such user")),
    # An empty 2xx is no profile either way: not proof of absence.
    row("200-empty-object", 200, {}, V(TRANSIENT, "empty answer")),
    row("200-empty", 200, b"", V(TRANSIENT, "empty answer")),
    *[
        row(
            f"200-{label}",
            200,
            envelope,
            V(TRANSIENT),
        )
        for label, envelope in (
            ("success-false-alone", {"success": False}),
            ("success-true", {"success": True}),
        )
    ],
    *[
        # Lookup refusals are `unverifiable` (lookup_verdict_for_status), not `refused`.
        pytest.param(*p.values[:3], V(UNVERIFIABLE, "refused (400)"), p.values[4], id=p.id, marks=p.marks)
        if p.values[3].outcome is REFUSED
        else p
        for p in INSIDER_ERRORS
    ],
]


# -- Insider: POST /api/user/v1/profile, to resolve (identity resolution) -----------------------------
# contracts § "Identity resolution", Insider row: the delete must carry the account's unifier, so
# the person's identifiers are read first: email, phone_number, uuid and the configured custom
# identifiers (INSIDER_CUSTOM_IDENTIFIERS), custom ones under "custom" or by their own name (the
# page does not show which); 404 "no such user" when none. The person is the uuid.

ONE_EMAIL_TO_RESOLVE = resolving(ONE_EMAIL)
JANE = {"email": "jane@example.com", "phone_number": "+6591234567", "uuid": "u-jane"}
JANE_FOUND = found(
    ("email", "jane@example.com"),
    ("phone_number", "+6591234567"),
    ("uuid", "u-jane"),
    ("custom", "L1", "loyalty"),
    person="u-jane",
)

INSIDER_RESOLVE = [
    row(
        "resolve-custom-under-custom",
        200,
        {"attributes": {**JANE, "custom": {"loyalty": "L1"}}, "quota": {"used": 4, "total": 1000}},
        V(STILL_PRESENT, profiles=(JANE_FOUND,)),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    row(
        "resolve-custom-by-name",
        200,
        {"attributes": {**JANE, "loyalty": "L1"}},
        V(STILL_PRESENT, profiles=(JANE_FOUND,)),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    row(
        "resolve-without-uuid",
        200,
        {"attributes": {"email": "jane@example.com"}},
        V(STILL_PRESENT, profiles=(found(("email", "jane@example.com")),)),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    row(
        "resolve-garbled-fields",
        200,
        {
            "attributes": {
                "email": None,
                "phone_number": 6591234567,
                "uuid": "",
                "custom": ["L1"],
                "loyalty": 1,
            }
        },
        V(STILL_PRESENT, profiles=(found(),)),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    row(
        "resolve-no-such-user",
        404,
        NO_SUCH_USER,
        V(VERIFIED_ABSENT, profiles=()),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
    row(
        "resolve-attributes-not-an-object",
        200,
        {"attributes": []},
        V(TRANSIENT),
        targets=ONE_EMAIL_TO_RESOLVE,
    ),
]


@pytest.mark.parametrize(("status", "body", "expected", "targets"), profile_rows(INSIDER_RESOLVE))
def test_a_resolving_lookup_reads_the_identifiers_among_the_attributes(status, body, expected, targets):
    check_profiles(CONNECTORS["insider"].lookup, status, body, expected, targets)


def test_a_resolving_lookup_asks_every_identifier_a_verifying_one_a_single_attribute():
    options = CONNECTORS["insider"].options({"INSIDER_CUSTOM_IDENTIFIERS": "loyalty, crm_id"})
    settings = VendorSettings("http://vendor.test", CREDENTIALS["insider"], 1, {}, 1.0, 1.0, options)
    lookup = CONNECTORS["insider"].lookup
    resolve, verify = (json.loads(lookup.build(t, settings).body) for t in (ONE_EMAIL_TO_RESOLVE, ONE_EMAIL))
    identifiers = {"email": "jane@example.com"}
    assert resolve == {
        "identifiers": identifiers,
        "attributes": ["email", "phone_number", "uuid", "loyalty", "crm_id"],
        "quota": True,
    }
    assert verify == {"identifiers": identifiers, "attributes": ["email"], "quota": True}


READ_TABLES: dict[str, Reads] = {
    "identity": Reads(ONE_EMAIL_TO_REMOVE, INSIDER_IDENTITY, success=b"{}"),
    "delete": Reads(WHOLE_PERSON, INSIDER_DELETE, success=b"{}"),
    "profile": Reads(
        ONE_EMAIL,
        [*INSIDER_PROFILE, *INSIDER_RESOLVE],
        success=json.dumps(NO_SUCH_USER).encode(),
        success_status=404,
    ),
}
