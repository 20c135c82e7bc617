"""How each connector reads its vendor's answers, without a socket: tables of the documented
answers, and of what the documents do not promise, against the Verdict given to each target.

`Call.read(answer, targets)` is pure: the relay hands it the HttpAnswer (status, headers, body)
of one call and the targets that call carried, and takes one Verdict per target, in order
(erasure/relay.py, `_read`). The socket tests in tests/connectors/ prove the wire; these tables
are the fast, exhaustive layer of the reading itself. The rule above all: only an explicit
documented success is `deleted`, `accepted`, `already_absent` or `verified_absent`; a garbled,
partial or unknown answer is retryable, or reported as what it is, never a success.

Sources, cited per table: the vendors' reference pages in /work/shared/seeds/ ("seed 000" is
Dfinery, 001 Insider, 002 Braze, 003 CleverTap) and /work/shared/vendor-contracts.md
("contracts § <vendor>, <row>").

A row given `wrong=` (a strict xfail) is an answer the connector reads as more than it says; its
reason names what the document says instead. The code is left as it is: once the reading is
fixed, the row passes unexpectedly (a strict failure) and its `wrong=` goes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest

from erasure.http_client import HttpAnswer
from erasure.outcomes import Outcome, Verdict, Verification
from erasure.relay import _read as guarded_read
from erasure.request import DeletionRequest, parse
from erasure.vendors import CONNECTORS
from erasure.vendors.base import Call, Lookup, Target

DELETED, ACCEPTED, ALREADY_ABSENT = Outcome.DELETED, Outcome.ACCEPTED, Outcome.ALREADY_ABSENT
REFUSED, UNAUTHORIZED = Outcome.REFUSED, Outcome.UNAUTHORIZED
THROTTLED, TRANSIENT = Outcome.THROTTLED, Outcome.TRANSIENT
VERIFIED_ABSENT, STILL_PRESENT = Verification.VERIFIED_ABSENT, Verification.STILL_PRESENT
UNVERIFIABLE = Verification.UNVERIFIABLE
# What a reading may only say of an explicit documented success.
SUCCESSES = frozenset({DELETED, ACCEPTED, ALREADY_ABSENT, VERIFIED_ABSENT})
RETRYABLE = frozenset({THROTTLED, TRANSIENT, UNAUTHORIZED})
# An error the documents give no kind for: failed, for now or for good, never a success.
FAILED = frozenset({REFUSED, TRANSIENT})

CALLS: dict[tuple[str, str], Call] = {
    (vendor, call.key): call for vendor, connector in CONNECTORS.items() for call in connector.calls
}


# -- building answers and targets ----------------------------------------------------------------


@dataclass(frozen=True)
class In:
    """A rate window's reset `seconds` from now, as epoch seconds: made when the answer is built."""

    seconds: int

    def __str__(self) -> str:
        return str(int(time.time()) + self.seconds)


def answer(status: int, body: object = b"", headers: dict | None = None) -> HttpAnswer:
    """An HttpAnswer as http_client makes it: bytes are sent as they are, str as UTF-8, anything
    else as JSON."""
    if isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = json.dumps(body).encode()
    return HttpAnswer(status, {name: str(value) for name, value in (headers or {}).items()}, data)


def person(request_id: str, action: str = "delete_profile", **identity) -> DeletionRequest:
    return parse(
        {
            "request_id": request_id,
            "action": action,
            "identity": identity,
            "requested_at": "2025-05-13T06:01:48.501Z",
        }
    )


def one_each(action: str, *identities: dict) -> list[Target]:
    """One target per identifier, one request per identity: a call batched across people."""
    return [
        Target(request, identifier)
        for n, identity in enumerate(identities)
        for request in [person(f"req-{n}", action, **identity)]
        for identifier in request.identifiers
    ]


def everyone_in(request: DeletionRequest) -> list[Target]:
    """Every identifier of one request: a call that carries one whole person."""
    return [Target(request, identifier) for identifier in request.identifiers]


TWO_OLD_IDS = one_each("remove_identifier", {"external_id": "old-1"}, {"external_id": "old-2"})
TWO_EMAILS = one_each("delete_profile", {"email": "jane@example.com"}, {"email": "ana@example.com"})
ONE_EMAIL = one_each("delete_profile", {"email": "jane@example.com"})
TWO_EXTERNAL_IDS = one_each("delete_profile", {"external_id": "ext-a"}, {"external_id": "ext-b"})
TWO_ALIASES = one_each(
    "delete_profile",
    {"user_alias": {"alias_name": "n1", "alias_label": "crm"}},
    {"user_alias": {"alias_name": "n2", "alias_label": "crm"}},
)
TWO_IDENTITIES = one_each("delete_profile", {"external_id": "client-1"}, {"external_id": "client-2"})
ONE_IDENTITY = one_each("delete_profile", {"external_id": "client-1"})
ONE_EXTERNAL_ID = one_each("delete_profile", {"external_id": "dfn-user-123"})
ONE_EMAIL_TO_REMOVE = one_each("remove_identifier", {"email": "sample@useinsider.com"})
WHOLE_PERSON = everyone_in(person("req-p", email="sample@useinsider.com", uuid="u-1"))


# -- expectations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class V:
    """An expected verdict: its outcome (or the outcomes allowed), a fragment of its reason (any
    case), and the wait in seconds it carries (None: none)."""

    outcome: Outcome | Verification | frozenset
    reason: str = ""
    wait: float | None = None


def check(verdicts: list[Verdict], expected: V | list[V], given: HttpAnswer) -> None:
    expected = expected if isinstance(expected, list) else [expected] * len(verdicts)
    assert len(verdicts) == len(expected), verdicts
    for n, (verdict, want) in enumerate(zip(verdicts, expected, strict=True)):
        allowed = want.outcome if isinstance(want.outcome, frozenset) else {want.outcome}
        assert verdict.outcome in allowed, (n, verdict)
        assert want.reason.lower() in verdict.reason.lower(), (n, verdict)
        if want.wait is None:
            assert verdict.retry_after is None, (n, verdict)
        else:
            assert verdict.retry_after == pytest.approx(want.wait, abs=2), (n, verdict)
        assert verdict.http_status == given.status, (n, verdict)


def row(label, status, body, expected, headers=None, targets=None, wrong=None):
    """One answer of a table; `wrong`: why the connector's reading of it is wrong today (the row
    is then a strict xfail)."""
    marks = [pytest.mark.xfail(strict=True, reason=wrong)] if wrong else []
    return pytest.param(status, body, headers, expected, targets, id=label, marks=marks)


# -- Braze: POST /users/external_ids/remove ----------------------------------------------------------
# seed 002, "## 응답": {"message", "removed_ids", "removal_errors"}; each removal error refers to an
# index of the request's array; `message` is an error for a bad key, an empty or >50 array, or a
# rate limit. contracts § Braze, "remove response": an id is removed iff it is in removed_ids; the
# error element's format is not documented (seen as strings and as arrays); "errors": 400 bad
# syntax, 401 key, 403 permission, 404 bad URL, 429, 5xx; "accept any 2xx"; "rate headers":
# X-RateLimit-Reset in epoch seconds, names possibly lowercase, no Retry-After.


def removal(removed, errors=()) -> dict:
    return {"message": "success", "removed_ids": list(removed), "removal_errors": list(errors)}


BRAZE_REMOVE = [
    row("success-201", 201, removal(["old-1", "old-2"]), V(DELETED)),
    row("success-200", 200, removal(["old-1", "old-2"]), V(DELETED)),
    row("success-in-another-order", 201, removal(["old-2", "old-1"]), V(DELETED)),
    # Per-id failures inside a 2xx, in every shape the element has been seen in.
    row(
        "error-as-message-then-index",
        201,
        removal(["old-1"], [["external id does not exist", 1]]),
        [V(DELETED), V(ALREADY_ABSENT, "does not exist")],
    ),
    row(
        "error-as-index-then-message",
        201,
        removal(["old-2"], [[0, "deprecated external id not found"]]),
        [V(ALREADY_ABSENT, "not found"), V(DELETED)],
    ),
    row(
        "errors-as-strings-naming-the-index",
        201,
        removal([], ["index 0: cannot remove a primary external id", "index 1: unknown external id"]),
        [V(REFUSED, "primary external id"), V(ALREADY_ABSENT, "unknown external id")],
    ),
    row(
        "error-as-object",
        201,
        removal(["old-2"], [{"index": 0, "message": "external id does not exist"}]),
        [V(ALREADY_ABSENT, "does not exist"), V(DELETED)],
    ),
    row(
        "error-quoting-the-id",
        201,
        removal(["old-1"], ["old-2 not found"]),
        [V(DELETED), V(ALREADY_ABSENT, "not found")],
    ),
    # An error that does not say the id is absent is not absence.
    row(
        "error-asking-for-a-retry",
        201,
        removal([], [["Unknown error, please retry", 0]]),
        [V(FAILED, "please retry"), V(TRANSIENT, "removal not confirmed")],
    ),
    row(
        "error-without-text",
        201,
        removal([], [[1]]),
        [V(TRANSIENT, "removal not confirmed"), V(FAILED)],
    ),
    # Not in removed_ids: never deleted.
    row("neither-removed-nor-in-error", 201, removal([]), V(TRANSIENT, "removal not confirmed")),
    row("removed-ids-name-someone-else", 201, removal(["old-3"]), V(TRANSIENT, "removal not confirmed")),
    row("removed-ids-not-strings", 201, removal([None, 1]), V(TRANSIENT, "removal not confirmed")),
    row(
        "error-index-out-of-range",
        201,
        removal(["old-1"], [["not found", 5]]),
        [V(DELETED), V(TRANSIENT, "removal not confirmed")],
    ),
    row(
        "error-without-index-or-id",
        201,
        removal([], ["not found"]),
        V(TRANSIENT, "removal not confirmed"),
    ),
    # In removed_ids and in an error: removed_ids decides (iff).
    row("removed-and-in-error", 201, removal(["old-1", "old-2"], [["not found", 0]]), V(DELETED)),
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
    row("remove-endpoint-body", 201, removal([]), V(TRANSIENT, "malformed")),
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
]


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
    row("record-a-list", 200, {"status": "success", "record": [{"identity": "client-1"}]}, V(UNVERIFIABLE)),
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


# -- Dfinery: POST /api/v1/identities/delete -------------------------------------------------------
# seed 000, "응답 예시 / 정상 응답": 200 {"status": true, "code": "20000", "message": "OK",
# "data": true}; "실패 응답" refers to the response page. contracts § Dfinery: "success" (code a
# string); "failure inside HTTP 200": read status/code, 40000 BAD_REQUEST, 40001
# VALIDATION_FAILURE, 40101 INVALID_SERVICE_ID, 40201 INVALID_TOKEN, 40401 TOO_MANY_REQUEST,
# 40402 TOO_MANY_EVENTS, 40403 TOO_MANY_USER_PROFILES, 50000 INTERNAL_SERVER_ERROR; "HTTP codes":
# 200, 400, 429, 500; "rate": X-Rate-Limit-Limit (a window code), -Remaining, -Reset (epoch s).

OK = {"status": True, "code": "20000", "message": "OK", "data": True}
RATE = {"X-Rate-Limit-Limit": "1m", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": In(30)}


def failure(code: str, message: str) -> dict:
    return {"status": False, "code": code, "message": message}


DFINERY = [
    row("success", 200, OK, V(DELETED)),
    row("success-numeric-code", 200, {**OK, "code": 20000}, V(DELETED)),
    row("200-40000", 200, failure("40000", "BAD_REQUEST"), V(REFUSED, "40000 BAD_REQUEST")),
    row("200-40001", 200, failure("40001", "VALIDATION_FAILURE"), V(REFUSED, "VALIDATION_FAILURE")),
    row("200-40101", 200, failure("40101", "INVALID_SERVICE_ID"), V(UNAUTHORIZED, "INVALID_SERVICE_ID")),
    row("200-40201", 200, failure("40201", "INVALID_TOKEN"), V(UNAUTHORIZED, "INVALID_TOKEN")),
    row("200-40401", 200, failure("40401", "TOO_MANY_REQUEST"), V(THROTTLED, "TOO_MANY_REQUEST", 30), RATE),
    row("200-40401-no-headers", 200, failure("40401", "TOO_MANY_REQUEST"), V(THROTTLED)),
    row("200-40402", 200, failure("40402", "TOO_MANY_EVENTS"), V(THROTTLED, "TOO_MANY_EVENTS")),
    row("200-40403", 200, failure("40403", "TOO_MANY_USER_PROFILES"), V(THROTTLED, "TOO_MANY_USER_PROFILES")),
    row("200-50000", 200, failure("50000", "INTERNAL_SERVER_ERROR"), V(TRANSIENT, "INTERNAL_SERVER_ERROR")),
    row("200-undocumented-code", 200, failure("49999", "SOMETHING_NEW"), V(TRANSIENT, "unknown code 49999")),
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
    row("400-validation", 400, failure("40001", "VALIDATION_FAILURE"), V(REFUSED, "40001")),
    row("429-too-many", 429, failure("40401", "TOO_MANY_REQUEST"), V(THROTTLED, "40401", 30), RATE),
    row("429-empty", 429, b"", V(THROTTLED, wait=20), {"X-Rate-Limit-Reset": In(20)}),
    row("500-internal", 500, failure("50000", "INTERNAL_SERVER_ERROR"), V(TRANSIENT, "50000")),
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

TABLES = {
    ("braze", "remove"): (TWO_OLD_IDS, BRAZE_REMOVE),
    ("braze", "delete"): (TWO_EMAILS, BRAZE_DELETE),
    ("braze", "export"): (ONE_EMAIL, BRAZE_EXPORT),
    ("clevertap", "delete"): (TWO_IDENTITIES, CLEVERTAP_DELETE),
    ("clevertap", "profile"): (ONE_IDENTITY, CLEVERTAP_PROFILE),
    ("dfinery", "delete"): (ONE_EXTERNAL_ID, DFINERY),
    ("insider", "identity"): (ONE_EMAIL_TO_REMOVE, INSIDER_IDENTITY),
    ("insider", "delete"): (WHOLE_PERSON, INSIDER_DELETE),
    ("insider", "profile"): (ONE_EMAIL, INSIDER_PROFILE),
}


def _table_params():
    for (vendor, key), (table_targets, rows) in TABLES.items():
        for p in rows:
            status, body, headers, expected, targets = p.values
            yield pytest.param(
                vendor,
                key,
                status,
                body,
                headers,
                expected,
                targets or table_targets,
                id=f"{vendor}-{key}-{p.id}",
                marks=p.marks,
            )


@pytest.mark.parametrize(
    ("vendor", "key", "status", "body", "headers", "expected", "targets"), list(_table_params())
)
def test_reads_the_documented_answers(vendor, key, status, body, headers, expected, targets):
    given = answer(status, body, headers)
    check(CALLS[vendor, key].read(given, targets), expected, given)


def test_every_call_of_every_connector_has_a_table():
    assert set(TABLES) == set(CALLS)
    for vendor, connector in CONNECTORS.items():
        assert {(vendor, op.key) for op in connector.operations} <= set(TABLES)
        if connector.lookup is not None:
            assert (vendor, connector.lookup.key) in TABLES
    for (vendor, key), (default, rows) in TABLES.items():
        call = CALLS[vendor, key]
        for targets in [default, *(p.values[4] for p in rows if p.values[4])]:
            # Targets the call serves, of one batch group, as many as one call carries.
            assert {t.identifier.type for t in targets} <= call.serves
            (group,) = {call.batch_group(t) for t in targets}
            assert len(targets) <= call.max_batch_for(group)


# -- sweeps: every call, every garbled answer ----------------------------------------------------------

# The documented success of each call (a lookup's: its documented "gone" answer), as sent.
DOCUMENTED_SUCCESS = {
    ("braze", "remove"): json.dumps(removal(["old-1", "old-2"])).encode(),
    ("braze", "delete"): b'{"deleted": 2}',
    ("braze", "export"): b'{"users": [], "message": "success"}',
    ("clevertap", "delete"): b'{"status": "success"}',
    ("clevertap", "profile"): b'{"status": "success"}',
    ("dfinery", "delete"): json.dumps(OK).encode(),
    ("insider", "identity"): b"{}",
    ("insider", "delete"): b"{}",
    ("insider", "profile"): json.dumps(NO_SUCH_USER).encode(),
}
DOCUMENTED_STATUS = {("insider", "profile"): 404}
GARBLED = [
    b"null",
    b"[]",
    b"{",
    b'{"',
    b"{}{}",
    b'"success"',
    b"true",
    b"0",
    b"<html><body>OK</body></html>",
    b"\xff\xfe\x00\x01 not text",
    b"\x00",
]


def default_targets(vendor: str, key: str) -> list[Target]:
    return TABLES[vendor, key][0]


def _cut(body: bytes) -> list[bytes]:
    """The documented body cut short: a partial answer (a connection closed mid-body)."""
    return sorted({body[: len(body) // 2], body[:-1]} - {b""})


CALL_IDS = [f"{vendor}-{key}" for vendor, key in CALLS]


@pytest.mark.parametrize(("vendor", "key"), list(CALLS), ids=CALL_IDS)
def test_each_documented_success_reads_as_one(vendor, key):
    given = answer(DOCUMENTED_STATUS.get((vendor, key), 200), DOCUMENTED_SUCCESS[vendor, key])
    verdicts = CALLS[vendor, key].read(given, default_targets(vendor, key))
    assert len(verdicts) == len(default_targets(vendor, key))
    assert {v.outcome for v in verdicts} <= SUCCESSES, verdicts


@pytest.mark.parametrize("status", [200, 201, 202, 204])
@pytest.mark.parametrize(("vendor", "key"), list(CALLS), ids=CALL_IDS)
def test_a_garbled_or_partial_2xx_is_retried_never_a_success(vendor, key, status):
    call, targets = CALLS[vendor, key], default_targets(vendor, key)
    for body in [*GARBLED, *_cut(DOCUMENTED_SUCCESS[vendor, key])]:
        given = answer(status, body)
        verdicts = call.read(given, targets)
        assert len(verdicts) == len(targets)
        assert {v.outcome for v in verdicts} == {TRANSIENT}, (body, verdicts)
        assert all(v.http_status == status and v.retry_after is None for v in verdicts)


# What an error status means with no body a connector documents (outcomes.verdict_for_status):
# a deletion's 4xx refusal is a lookup's `unverifiable`.
BY_STATUS = {
    301: UNAUTHORIZED,  # redirects are not followed: a wrong host setting
    302: UNAUTHORIZED,
    400: REFUSED,
    401: UNAUTHORIZED,
    403: UNAUTHORIZED,
    404: UNAUTHORIZED,  # the endpoint, not the person: only a documented 404 body says absent
    405: UNAUTHORIZED,
    408: TRANSIENT,
    409: TRANSIENT,
    413: REFUSED,
    422: REFUSED,
    429: THROTTLED,
    500: TRANSIENT,
    502: TRANSIENT,
    503: TRANSIENT,
    504: TRANSIENT,
    520: TRANSIENT,
}


@pytest.mark.parametrize("status", list(BY_STATUS))
@pytest.mark.parametrize(("vendor", "key"), list(CALLS), ids=CALL_IDS)
def test_an_error_status_without_a_documented_body_reads_by_its_status(vendor, key, status):
    call, targets = CALLS[vendor, key], default_targets(vendor, key)
    expected = BY_STATUS[status]
    if expected is REFUSED and isinstance(call, Lookup):
        expected = UNVERIFIABLE
    for body in (b"", b"<html><body>Error</body></html>", b"null", b'{"unexpected": true}'):
        verdicts = call.read(answer(status, body), targets)
        assert [v.outcome for v in verdicts] == [expected] * len(targets), (body, verdicts)


# Another vendor's success is not this one's: a misrouted URL setting must never read as done.
FOREIGN_SUCCESSES = sorted({(vendor, body) for (vendor, _), body in DOCUMENTED_SUCCESS.items()})


@pytest.mark.parametrize(("vendor", "key"), list(CALLS), ids=CALL_IDS)
def test_another_vendors_success_is_never_this_ones(vendor, key):
    call, targets = CALLS[vendor, key], default_targets(vendor, key)
    for other, body in FOREIGN_SUCCESSES:
        if other == vendor:
            continue
        for status in (200, 201):
            verdicts = call.read(answer(status, body), targets)
            assert not {v.outcome for v in verdicts} & SUCCESSES, (other, body, verdicts)


@pytest.mark.parametrize(
    ("vendor", "key", "body", "targets"),
    [
        # removal_errors not a list: the reading raises; the relay's guard makes it transient.
        ("braze", "remove", {"message": "success", "removed_ids": [], "removal_errors": 7}, TWO_OLD_IDS),
        # user_aliases not a list in a batch export.
        ("braze", "export", users({"external_id": "ext-a", "user_aliases": 5}), TWO_EXTERNAL_IDS),
    ],
    ids=["braze-remove-errors-a-number", "braze-export-aliases-a-number"],
)
def test_an_answer_that_breaks_the_reading_is_transient_for_every_target(vendor, key, body, targets):
    given = answer(201, body)
    verdicts = guarded_read(CONNECTORS[vendor], CALLS[vendor, key], given, targets)
    check(verdicts, V(TRANSIENT, "unreadable answer"), given)
