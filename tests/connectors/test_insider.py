"""Insider DELETE /api/user/v1/identity against a real local server."""

import json

import pytest

from erasure.relay import _BatchSender
from erasure.request import Identifier, IdentifierType
from erasure.vendors.base import Target
from tests.helpers import CREDENTIALS, outcomes, request

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
    responder = httpserver.expect_oneshot_request(PATH, method="DELETE")
    if isinstance(body, str):
        responder.respond_with_data(body, status)
    else:
        responder.respond_with_json(body, status)
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
    call = relay.connector.build(
        [Target(target_request, huge)], "http://127.0.0.1", relay.settings.credentials
    )
    assert len(call.body) > relay.connector.max_body_bytes
    ((verdict, attempted_at),) = _BatchSender(relay, None)([Target(target_request, huge)])
    assert verdict.outcome == "refused" and "5242880 bytes" in verdict.reason
    assert attempted_at is None and httpserver.log == []


def test_profile_deletion_and_external_ids_are_skipped(httpserver, make_relay):
    results = make_relay("insider").run([request({"email": "a@example.com"}), removal({"external_id": "u1"})])
    assert [outcomes(r) for r in results] == [[("email", "skipped")], [("external_id", "skipped")]]
    assert httpserver.log == []
