"""The vendor sandbox, exercised over real sockets as the relay's connectors will use it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import urllib3

from tools.vendor_sandbox import DEFAULT_SEED, VENDOR_CLASSES, SandboxError, VendorSandbox

HTTP = urllib3.PoolManager(maxsize=8)
REPO_ROOT = Path(__file__).resolve().parents[2]

BRAZE_AUTH = {"Authorization": "Bearer local-braze-key"}
CLEVERTAP_AUTH = {"X-CleverTap-Account-Id": "LOCAL-ACCOUNT", "X-CleverTap-Passcode": "local-passcode"}
INSIDER_AUTH = {"X-PARTNER-NAME": "localbrand", "X-REQUEST-TOKEN": "local-insider-token"}
DFINERY_AUTH = {"access_token": "local-dfinery-token"}
DFINERY_PATH = "/api/v1/identities/delete?service_id=local-service"
NOW_UTC = "2025-05-13T06:01:48.501Z"
# A vendor the sandbox does not play, whatever vendors are added to it.
UNKNOWN_VENDOR = "no-such-vendor"
assert UNKNOWN_VENDOR not in {cls.name for cls in VENDOR_CLASSES}

SEED: dict[str, Any] = {
    "braze": {
        "users": [
            {
                "primary": "u1",
                "deprecated": ["old-u1", "older-u1"],
                "braze_id": "b1",
                "email": "a@example.com",
                "phone": "+6598765432",
                "aliases": [{"alias_name": "crm-1", "alias_label": "crm"}],
            },
            {"primary": "u2"},
        ]
    },
    "clevertap": {
        "profiles": [
            {"identity": "u1", "guid": "g1"},
            {"identity": "u2", "guid": "g2"},
            {"identity": "u3", "guid": "g3"},
        ]
    },
    "insider": {
        "users": [
            {
                "email": "a@example.com",
                "phone_number": "+6598765432",
                "uuid": "u1",
                "custom": {"loyalty_id": "L1"},
            },
            {"uuid": "u2"},
        ]
    },
    "dfinery": {"profiles": ["u1", "u2"]},
}


@pytest.fixture
def sandbox() -> Iterator[VendorSandbox]:
    with VendorSandbox(port=0) as running:
        running.seed(SEED)
        yield running


def send(
    sandbox: VendorSandbox,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    *,
    raw: bytes | None = None,
    timeout: float = 5.0,
) -> urllib3.BaseHTTPResponse:
    payload = raw if raw is not None else None if body is None else json.dumps(body).encode()
    return HTTP.request(
        method,
        sandbox.url + path,
        body=payload,
        headers={"Content-Type": "application/json", **(headers or {})},
        timeout=timeout,
        retries=False,
    )


def braze_remove(
    sandbox: VendorSandbox, ids: list[Any], headers: dict[str, str] = BRAZE_AUTH
) -> urllib3.BaseHTTPResponse:
    return send(sandbox, "POST", "/users/external_ids/remove", {"external_ids": ids}, headers)


def clevertap_delete(
    sandbox: VendorSandbox, body: dict[str, Any], headers: dict[str, str] = CLEVERTAP_AUTH
) -> urllib3.BaseHTTPResponse:
    return send(sandbox, "POST", "/1/delete/profiles.json", body, headers)


def insider_delete_identifier(
    sandbox: VendorSandbox, identifiers: dict[str, Any], headers: dict[str, str] = INSIDER_AUTH
) -> urllib3.BaseHTTPResponse:
    return send(sandbox, "DELETE", "/api/user/v1/identity", {"identifiers": identifiers}, headers)


def dfinery_delete(
    sandbox: VendorSandbox,
    external_id: str,
    when: Any = NOW_UTC,
    headers: dict[str, str] = DFINERY_AUTH,
    path: str = DFINERY_PATH,
) -> urllib3.BaseHTTPResponse:
    body: dict[str, Any] = {"identity": {"external_id": external_id}}
    if when is not None:
        body["request_datetime"] = when
    return send(sandbox, "POST", path, body, headers)


def braze_export(
    sandbox: VendorSandbox, body: dict[str, Any], headers: dict[str, str] = BRAZE_AUTH
) -> urllib3.BaseHTTPResponse:
    return send(sandbox, "POST", "/users/export/ids", body, headers)


def clevertap_profile(
    sandbox: VendorSandbox, query: dict[str, str], headers: dict[str, str] = CLEVERTAP_AUTH
) -> urllib3.BaseHTTPResponse:
    return send(sandbox, "GET", f"/1/profile.json?{urlencode(query)}", headers=headers)


def insider_profile(
    sandbox: VendorSandbox, body: dict[str, Any], headers: dict[str, str] = INSIDER_AUTH
) -> urllib3.BaseHTTPResponse:
    return send(sandbox, "POST", "/api/user/v1/profile", body, headers)


# A call each vendor answers with success however often it is repeated: these vendors' contracts,
# so the tests parametrized by VENDORS cover the vendors named here (a new vendor's own tests cover
# it), and a vendor added to the sandbox changes nothing they expect.
HARMLESS_CALL: dict[str, Callable[[VendorSandbox], urllib3.BaseHTTPResponse]] = {
    "braze": lambda sb: braze_remove(sb, ["nobody"]),
    "clevertap": lambda sb: clevertap_delete(sb, {"identity": "nobody"}),
    "insider": lambda sb: send(
        sb, "POST", "/api/user/v1/delete", {"identifiers": {"email": "nobody@example.com"}}, INSIDER_AUTH
    ),
    "dfinery": lambda sb: dfinery_delete(sb, "nobody"),
}
VENDORS = sorted(HARMLESS_CALL)


def braze_user(sandbox: VendorSandbox, primary: str) -> dict[str, Any] | None:
    return next((u for u in sandbox.state()["braze"]["users"] if u.get("primary") == primary), None)


# -- Braze ---------------------------------------------------------------------------------------


def test_braze_removes_deprecated_ids_and_reports_the_rest_by_index_as_strings(sandbox):
    response = braze_remove(sandbox, ["old-u1", "u1", "ghost"])

    assert response.status == 201
    body = response.json()
    assert body["message"] == "success"
    assert body["removed_ids"] == ["old-u1"]
    primary_error, unknown_error = body["removal_errors"]
    assert "'u1'" in primary_error and "primary" in primary_error and "index 1" in primary_error
    assert "'ghost'" in unknown_error and "index 2" in unknown_error
    assert braze_user(sandbox, "u1")["deprecated"] == ["older-u1"]


def test_braze_removal_errors_can_be_arrays(sandbox):
    sandbox.configure("braze", removal_error_shape="array")

    body = braze_remove(sandbox, ["u2", "older-u1", "ghost"]).json()

    assert body["removed_ids"] == ["older-u1"]
    assert body["removal_errors"] == [
        ["primary external id cannot be removed", 0],
        ["external id not found", 2],
    ]


def test_braze_removing_an_id_twice_fails_the_second_time(sandbox):
    body = braze_remove(sandbox, ["old-u1", "old-u1"]).json()

    assert body["removed_ids"] == ["old-u1"]
    assert len(body["removal_errors"]) == 1 and "index 1" in body["removal_errors"][0]


@pytest.mark.parametrize("ids", [[], [f"id-{i}" for i in range(51)], "old-u1", [7]])
def test_braze_refuses_empty_oversized_or_malformed_batches(sandbox, ids):
    response = braze_remove(sandbox, ids)

    assert response.status == 400
    body = response.json()
    assert body["message"] and isinstance(body["errors"], list) and body["errors"]
    assert braze_user(sandbox, "u1")["deprecated"] == ["old-u1", "older-u1"]


def test_braze_accepts_exactly_fifty_ids(sandbox):
    response = braze_remove(sandbox, ["old-u1"] + [f"id-{i}" for i in range(49)])

    assert response.status == 201
    assert response.json()["removed_ids"] == ["old-u1"]


@pytest.mark.parametrize(
    "authorization", ["Bearer wrong-key", "local-braze-key", 'Bearer "local-braze-key"', None]
)
def test_braze_refuses_a_wrong_api_key_with_401(sandbox, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = braze_remove(sandbox, ["old-u1"], headers=headers)

    assert response.status == 401
    assert response.json()["message"].startswith("Invalid API key: ")
    assert braze_user(sandbox, "u1")["deprecated"] == ["old-u1", "older-u1"]


@pytest.mark.parametrize(
    ("key", "items"),
    [
        ("external_ids", ["u1"]),
        ("external_ids", ["old-u1"]),
        ("braze_ids", ["b1"]),
        ("email_addresses", [{"email": "a@example.com", "prioritization": ["identified"]}]),
        ("email_addresses", [{"email": "a@example.com", "prioritization": ["most_recently_updated"]}]),
        (
            "phone_numbers",
            [{"phone": "+6598765432", "prioritization": ["identified", "most_recently_updated"]}],
        ),
        ("user_aliases", [{"alias_name": "crm-1", "alias_label": "crm"}]),
    ],
)
def test_braze_delete_users_by_each_identifier_type(sandbox, key, items):
    response = send(sandbox, "POST", "/users/delete", {key: items}, BRAZE_AUTH)

    assert response.status == 201
    assert response.json() == {"deleted": 1}
    assert braze_user(sandbox, "u1") is None
    assert braze_user(sandbox, "u2") is not None


def test_braze_delete_users_counts_only_users_found(sandbox):
    response = send(sandbox, "POST", "/users/delete", {"external_ids": ["u2", "ghost"]}, BRAZE_AUTH)

    assert response.json() == {"deleted": 1}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"external_ids": ["u1"], "braze_ids": ["b1"]},
        {"external_ids": []},
        {"external_ids": [f"id-{i}" for i in range(51)]},
        {"user_aliases": ["crm-1"]},
    ],
)
def test_braze_delete_users_needs_exactly_one_identifier_type_and_a_valid_batch(sandbox, body):
    response = send(sandbox, "POST", "/users/delete", body, BRAZE_AUTH)

    assert response.status == 400
    assert "message" in response.json() and "errors" in response.json()
    assert braze_user(sandbox, "u1") is not None


def test_braze_announces_its_rate_window_and_answers_429_beyond_it(sandbox):
    sandbox.configure("braze", rate_limits={"remove": 2})
    before = int(time.time())

    first, second, third = (braze_remove(sandbox, ["ghost"]) for _ in range(3))

    assert [first.status, second.status, third.status] == [201, 201, 429]
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert [r.headers["X-RateLimit-Remaining"] for r in (first, second, third)] == ["1", "0", "0"]
    assert before <= int(third.headers["X-RateLimit-Reset"]) <= before + 61
    assert "message" in third.json()
    # The delete endpoint has its own window.
    assert send(sandbox, "POST", "/users/delete", {"external_ids": ["u2"]}, BRAZE_AUTH).status == 201


def test_braze_rate_headers_come_with_every_answer_even_a_401(sandbox):
    response = braze_remove(sandbox, ["old-u1"], headers={"Authorization": "Bearer nope"})

    assert response.status == 401
    assert response.headers["X-RateLimit-Limit"] == "1000"
    assert "X-RateLimit-Reset" in response.headers


def test_braze_export_answers_the_requested_fields_and_the_external_ids_it_does_not_know(sandbox):
    response = braze_export(
        sandbox,
        {
            "external_ids": ["u1", "u2", "ghost", "old-u1"],
            "fields_to_export": ["external_id", "braze_id", "user_aliases", "first_name"],
        },
    )

    assert response.status == 201
    generated = response.json()["users"][1]["braze_id"]  # Braze gives every user one: u2 was seeded without
    assert generated.startswith("bz-")
    assert response.json() == {
        "users": [
            {
                "braze_id": "b1",
                "external_id": "u1",
                "user_aliases": [{"alias_name": "crm-1", "alias_label": "crm"}],
            },
            {"braze_id": generated, "external_id": "u2"},
        ],
        "invalid_user_ids": ["ghost", "old-u1"],
        "message": "success",
    }


def test_braze_export_by_email_answers_every_user_holding_it(sandbox):
    sandbox.seed({"braze": {"users": [{"email": "a@example.com", "braze_id": "anon"}]}})

    response = braze_export(
        sandbox, {"email_address": "a@example.com", "fields_to_export": ["braze_id", "email"]}
    )

    assert response.status == 201
    assert response.json() == {
        "users": [
            {"braze_id": "b1", "email": "a@example.com"},
            {"braze_id": "anon", "email": "a@example.com"},
        ],
        "message": "success",
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("user_aliases", [{"alias_name": "crm-1", "alias_label": "crm"}]),
        ("braze_id", "b1"),
        ("phone", "+6598765432"),
    ],
)
def test_braze_export_finds_a_user_by_each_identifier_type(sandbox, key, value):
    response = braze_export(sandbox, {key: value, "fields_to_export": ["external_id", "phone"]})

    assert response.status == 201
    assert response.json() == {
        "users": [{"external_id": "u1", "phone": "+6598765432"}],
        "message": "success",
    }


@pytest.mark.parametrize(
    ("wanted", "answer"),
    [
        ({"braze_id": "ghost"}, {"users": [], "message": "success"}),
        # A deprecated id no longer finds its user: Braze exports by the current id.
        ({"external_ids": ["old-u1"]}, {"users": [], "invalid_user_ids": ["old-u1"], "message": "success"}),
    ],
)
def test_braze_export_answers_no_users_for_someone_it_does_not_find(sandbox, wanted, answer):
    response = braze_export(sandbox, {**wanted, "fields_to_export": ["braze_id"]})

    assert response.status == 201
    assert response.json() == answer


@pytest.mark.parametrize(
    "body",
    [
        {"fields_to_export": ["braze_id"]},
        {"external_ids": ["u1"], "braze_id": "b1", "fields_to_export": ["braze_id"]},
        {"email_address": "a@example.com", "phone": "+6598765432", "fields_to_export": ["braze_id"]},
        {"external_ids": [], "fields_to_export": ["braze_id"]},
        {"external_ids": [f"id-{i}" for i in range(51)], "fields_to_export": ["braze_id"]},
        {"user_aliases": ["crm-1"], "fields_to_export": ["braze_id"]},
        {"braze_id": 7, "fields_to_export": ["braze_id"]},
        {"external_ids": ["u1"], "fields_to_export": []},
        {"external_ids": ["u1"], "fields_to_export": "braze_id"},
    ],
)
def test_braze_export_refuses_bad_bodies_with_its_error_body(sandbox, body):
    response = braze_export(sandbox, body)

    assert response.status == 400
    assert response.json()["message"] and response.json()["errors"]


def test_braze_export_requires_fields_to_export(sandbox):
    response = braze_export(sandbox, {"external_ids": ["u1"]})

    assert response.status == 400
    assert "fields_to_export" in response.json()["message"]


def test_braze_export_refuses_a_wrong_api_key(sandbox):
    body = {"external_ids": ["u1"], "fields_to_export": ["braze_id"]}

    response = braze_export(sandbox, body, headers={"Authorization": "Bearer wrong-key"})

    assert response.status == 401
    assert "users" not in response.json()


def test_braze_export_has_its_own_rate_window(sandbox):
    assert sandbox.config()["braze"]["rate_limits"]["export"] == 250
    sandbox.configure("braze", rate_limits={"export": 2})
    body = {"external_ids": ["u1"], "fields_to_export": ["braze_id"]}
    before = int(time.time())

    first, second, third = (braze_export(sandbox, body) for _ in range(3))

    assert [first.status, second.status, third.status] == [201, 201, 429]
    assert [r.headers["X-RateLimit-Limit"] for r in (first, third)] == ["2", "2"]
    assert [r.headers["X-RateLimit-Remaining"] for r in (first, second, third)] == ["1", "0", "0"]
    assert before <= int(third.headers["X-RateLimit-Reset"]) <= before + 61
    assert third.json()["message"] == "API rate limit exceeded"
    # The deletion endpoints keep their own windows.
    assert braze_remove(sandbox, ["old-u1"]).status == 201


# -- CleverTap -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"identity": "u1"},
        {"identity": ["u1", "ghost"]},
        {"guid": "g1"},
        {"guid": ["g1"]},
    ],
)
def test_clevertap_deletes_profiles_by_identity_or_guid(sandbox, body):
    response = clevertap_delete(sandbox, body)

    assert response.status == 200
    assert response.json() == {"status": "success"}
    assert sandbox.state()["clevertap"]["profiles"] == [
        {"identity": "u2", "guid": "g2"},
        {"identity": "u3", "guid": "g3"},
    ]


def test_clevertap_does_not_tell_about_unknown_profiles(sandbox):
    response = clevertap_delete(sandbox, {"guid": ["ghost"]})

    assert response.json() == {"status": "success"}
    assert len(sandbox.state()["clevertap"]["profiles"]) == 3


@pytest.mark.parametrize(
    "body",
    [
        {"identity": "u1", "guid": "g2"},
        {},
        {"identity": [f"id-{i}" for i in range(101)]},
        {"guid": []},
        {"identity": 42},
    ],
)
def test_clevertap_refuses_bad_bodies_with_its_envelope(sandbox, body):
    response = clevertap_delete(sandbox, body)

    assert response.status == 400
    assert response.json()["status"] == "fail" and response.json()["code"] == 400
    assert len(sandbox.state()["clevertap"]["profiles"]) == 3


def test_clevertap_accepts_a_hundred_values(sandbox):
    response = clevertap_delete(sandbox, {"identity": ["u3"] + [f"id-{i}" for i in range(99)]})

    assert response.json() == {"status": "success"}
    assert len(sandbox.state()["clevertap"]["profiles"]) == 2


@pytest.mark.parametrize(
    "headers",
    [
        {"X-CleverTap-Account-Id": "LOCAL-ACCOUNT", "X-CleverTap-Passcode": "wrong"},
        {"X-CleverTap-Account-Id": "OTHER", "X-CleverTap-Passcode": "local-passcode"},
        {"X-CleverTap-Passcode": "local-passcode"},
    ],
)
def test_clevertap_refuses_wrong_credentials(sandbox, headers):
    response = clevertap_delete(sandbox, {"identity": "u1"}, headers=headers)

    assert response.status == 401
    body = response.json()
    assert body["status"] == "fail" and body["code"] == 401 and body["error"]
    assert len(sandbox.state()["clevertap"]["profiles"]) == 3


def test_clevertap_refuses_calls_beyond_its_concurrency_limit(sandbox):
    sandbox.configure("clevertap", concurrency_limit=1, latency=0.3)

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda i: clevertap_delete(sandbox, {"identity": f"x{i}"}), range(4)))

    statuses = [r.status for r in responses]
    assert 200 in statuses and 429 in statuses
    refused = next(r for r in responses if r.status == 429)
    assert refused.json() == {"status": "fail", "error": "Too many concurrent requests", "code": 429}
    assert not [name for name in refused.headers if "rate" in name.lower()]
    # Once the calls in flight are answered, there is room again.
    sandbox.configure("clevertap", latency=0)
    assert clevertap_delete(sandbox, {"identity": "u1"}).status == 200


@pytest.mark.parametrize(
    ("query", "record"),
    [
        ({"identity": "u1"}, {"identity": "u1", "objectId": "g1", "profileData": {}}),
        ({"objectId": "g2"}, {"identity": "u2", "objectId": "g2", "profileData": {}}),
        ({"email": "e@example.com"}, {"email": "e@example.com", "objectId": "g9", "profileData": {}}),
    ],
)
def test_clevertap_profile_finds_a_profile_by_identity_objectid_or_email(sandbox, query, record):
    sandbox.seed({"clevertap": {"profiles": [{"guid": "g9", "email": "e@example.com"}]}})

    response = clevertap_profile(sandbox, query)

    assert response.status == 200
    assert response.json() == {"status": "success", "record": record}


USER_NOT_FOUND = {"status": "fail", "error": "User not found", "code": 404}


@pytest.mark.parametrize(
    ("choice", "status", "body"),
    [
        (None, 200, USER_NOT_FOUND),  # the default
        ("fail_200", 200, USER_NOT_FOUND),
        ("no_record", 200, {"status": "success"}),
        ("404", 404, USER_NOT_FOUND),
    ],
)
def test_clevertap_profile_not_found_takes_the_configured_shape(sandbox, choice, status, body):
    if choice is not None:
        sandbox.configure("clevertap", profile_not_found=choice)

    response = clevertap_profile(sandbox, {"identity": "ghost"})

    assert response.status == status
    assert response.json() == body


@pytest.mark.parametrize(
    "query", [{}, {"identity": "u1", "objectId": "g1"}, {"identity": ""}, {"guid": "g1"}]
)
def test_clevertap_profile_needs_exactly_one_query_parameter(sandbox, query):
    response = clevertap_profile(sandbox, query)

    assert response.status == 400
    assert response.json()["status"] == "fail" and response.json()["code"] == 400


def test_clevertap_profile_refuses_wrong_credentials(sandbox):
    headers = {**CLEVERTAP_AUTH, "X-CleverTap-Passcode": "wrong"}

    response = clevertap_profile(sandbox, {"identity": "u1"}, headers=headers)

    assert response.status == 401
    assert response.json()["status"] == "fail"


def test_clevertap_counts_calls_in_flight_per_api(sandbox):
    sandbox.configure("clevertap", concurrency_limit=1, latency=0.3)
    calls = [
        lambda: clevertap_delete(sandbox, {"identity": "nobody"}),
        lambda: clevertap_profile(sandbox, {"identity": "u1"}),
        lambda: clevertap_profile(sandbox, {"identity": "u2"}),
    ]

    with ThreadPoolExecutor(max_workers=3) as pool:
        deletion, *reads = [r.status for r in pool.map(lambda call: call(), calls)]

    # The deletion has the delete API to itself; the two reads share the profile API's one slot.
    assert deletion == 200
    assert sorted(reads) == [200, 429]


def test_clevertap_keeps_a_deleted_profile_until_its_deletion_batch(sandbox):
    sandbox.configure("clevertap", deletion_delay_seconds=1.0)

    assert clevertap_delete(sandbox, {"identity": "u1"}).json() == {"status": "success"}

    assert clevertap_profile(sandbox, {"identity": "u1"}).json()["status"] == "success"
    assert "u1" in sandbox.held("clevertap")
    pending = sandbox.state()["clevertap"]["profiles"][0]
    assert pending["identity"] == "u1" and pending["deleted_at"] <= time.time()
    time.sleep(0.6)
    # Deleting it again does not put off the batch.
    assert clevertap_delete(sandbox, {"guid": "g1"}).json() == {"status": "success"}
    assert clevertap_profile(sandbox, {"identity": "u1"}).json()["status"] == "success"
    time.sleep(0.6)
    assert clevertap_profile(sandbox, {"identity": "u1"}).json()["status"] == "fail"
    assert sandbox.held("clevertap") == {"u2", "g2", "u3", "g3"}


def test_clevertap_profiles_awaiting_deletion_can_be_seeded(sandbox):
    sandbox.configure("clevertap", deletion_delay_seconds=60)
    now = time.time()

    sandbox.seed(
        {
            "clevertap": {
                "profiles": [
                    {"identity": "soon", "deleted_at": now},
                    {"identity": "long-gone", "deleted_at": now - 120},
                ]
            }
        }
    )

    assert "soon" in sandbox.held("clevertap")
    assert "long-gone" not in sandbox.held("clevertap")


# -- Insider -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifiers", "left"),
    [
        ({"email": "a@example.com"}, {"phone_number", "uuid", "custom"}),
        ({"phone_number": "+6598765432"}, {"email", "uuid", "custom"}),
        ({"uuid": "u1"}, {"email", "phone_number", "custom"}),
        ({"custom": {"loyalty_id": "L1"}}, {"email", "phone_number", "uuid"}),
    ],
)
def test_insider_deletes_the_value_of_one_identifier(sandbox, identifiers, left):
    response = insider_delete_identifier(sandbox, identifiers)

    assert response.status == 200
    assert response.json() == {}
    assert set(sandbox.state()["insider"]["users"][0]) == left


def test_insider_refuses_to_delete_a_users_sole_identifier(sandbox):
    response = insider_delete_identifier(sandbox, {"uuid": "u2"})

    assert response.status == 400
    assert response.json() == {
        "error": "you cannot delete the sole identifier specified for a user: bad request"
    }
    assert {"uuid": "u2"} in sandbox.state()["insider"]["users"]


def test_insider_answers_404_for_an_unknown_identifier(sandbox):
    response = insider_delete_identifier(sandbox, {"email": "nobody@example.com"})

    assert response.status == 404
    assert response.json() == {"error": "no such user for these identifiers: no data"}


@pytest.mark.parametrize(
    "identifiers",
    [
        {},
        {"phone_number": "98765432"},
        {"email": "a@example.com", "uuid": "u1"},
        {"nickname": "x"},
        {"custom": "L1"},
        {"custom": {}},
        "a@example.com",
    ],
)
def test_insider_needs_exactly_one_valid_identifier(sandbox, identifiers):
    response = insider_delete_identifier(sandbox, identifiers)

    assert response.status == 400
    assert response.json() == {"error": "no valid identifier: bad request"}
    assert sandbox.state()["insider"]["users"] == SEED["insider"]["users"]


def test_insider_deletes_a_whole_profile(sandbox):
    response = send(
        sandbox,
        "POST",
        "/api/user/v1/delete",
        {"identifiers": {"email": "a@example.com", "custom": {"loyalty_id": "L1"}}},
        INSIDER_AUTH,
    )

    assert response.status == 200
    assert response.json() == {}
    assert sandbox.state()["insider"]["users"] == [{"uuid": "u2"}]


def test_an_insider_user_delete_without_the_unifier_is_refused(sandbox):
    response = send(sandbox, "POST", "/api/user/v1/delete", {"identifiers": {"uuid": "u1"}}, INSIDER_AUTH)

    assert response.status == 400
    assert response.json() == {"error": "the unifier identifier email is required: bad request"}
    assert sandbox.state()["insider"]["users"] == SEED["insider"]["users"]


@pytest.mark.parametrize(
    ("prioritization", "left"),
    [
        (["identified"], ["anon"]),  # the identified user holding the address
        (["unidentified", "most_recently_updated"], ["u1"]),
        (["most_recently_updated"], ["u1"]),  # the latest one: seeded last
    ],
)
def test_braze_prioritization_picks_one_of_the_users_sharing_an_email(sandbox, prioritization, left):
    sandbox.seed({"braze": {"users": [{"email": "a@example.com", "braze_id": "anon"}]}})
    items = [{"email": "a@example.com", "prioritization": prioritization}]
    response = send(sandbox, "POST", "/users/delete", {"email_addresses": items}, BRAZE_AUTH)
    assert response.json() == {"deleted": 1}
    holders = [u for u in sandbox.state()["braze"]["users"] if u.get("email") == "a@example.com"]
    assert [u.get("primary") or u.get("braze_id") for u in holders] == left


def test_braze_deletes_no_one_when_the_prioritization_leaves_several(sandbox):
    sandbox.seed({"braze": {"users": [{"email": "a@example.com", "braze_id": "anon"}]}})
    sandbox.seed({"braze": {"users": [{"email": "a@example.com", "braze_id": "anon-2"}]}})
    items = [{"email": "a@example.com", "prioritization": ["unidentified"]}]
    response = send(sandbox, "POST", "/users/delete", {"email_addresses": items}, BRAZE_AUTH)
    assert response.json() == {"deleted": 0}
    assert len([u for u in sandbox.state()["braze"]["users"] if u.get("email") == "a@example.com"]) == 3


@pytest.mark.parametrize(
    "entry",
    [
        "a@example.com",
        {"email": "a@example.com"},
        {"email": "a@example.com", "prioritization": ["identified", "unidentified"]},
    ],
)
def test_braze_email_entries_need_a_valid_prioritization(sandbox, entry):
    response = send(sandbox, "POST", "/users/delete", {"email_addresses": [entry]}, BRAZE_AUTH)
    assert response.status == 400


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        (
            {**INSIDER_AUTH, "X-PARTNER-NAME": "LocalBrand"},
            400,
            {"success": False, "message": "Partner is invalid."},
        ),
        (
            {**INSIDER_AUTH, "X-PARTNER-NAME": "otherbrand"},
            400,
            {"success": False, "message": "Partner is invalid."},
        ),
        (
            {**INSIDER_AUTH, "X-REQUEST-TOKEN": "wrong"},
            401,
            {"success": False, "message": "Partner token authentication failed."},
        ),
    ],
)
def test_insider_checks_partner_name_and_token(sandbox, headers, status, body):
    response = insider_delete_identifier(sandbox, {"email": "a@example.com"}, headers=headers)

    assert response.status == status
    assert response.json() == body
    assert sandbox.state()["insider"]["users"] == SEED["insider"]["users"]


def test_insider_refuses_bodies_over_5_mb(sandbox):
    padding = "x" * (5 * 1024 * 1024)
    response = insider_delete_identifier(sandbox, {"email": "a@example.com", "pad": padding})

    assert response.status in (400, 413)
    assert sandbox.state()["insider"]["users"] == SEED["insider"]["users"]


def test_insider_throttles_with_retry_after(sandbox):
    sandbox.configure("insider", rate_limits={"identity": 1})

    first = insider_delete_identifier(sandbox, {"email": "a@example.com"})
    second = insider_delete_identifier(sandbox, {"uuid": "u1"})

    assert first.status == 200
    assert second.status == 429
    assert second.json() == {"error": "rejected: too many requests"}
    assert 1 <= int(second.headers["Retry-After"]) <= 60
    assert "uuid" in sandbox.state()["insider"]["users"][0]
    # The profile-erasure endpoint is limited separately.
    assert HARMLESS_CALL["insider"](sandbox).status == 200


@pytest.mark.parametrize(
    "identifiers",
    [
        {"email": "a@example.com"},
        {"phone_number": "+6598765432"},
        {"uuid": "u1"},
        {"custom": {"loyalty_id": "L1"}},
        {"email": "nobody@example.com", "uuid": "u1"},  # any identifier that finds the user
    ],
)
def test_insider_profile_answers_the_requested_attributes_the_user_has(sandbox, identifiers):
    body = {"identifiers": identifiers, "attributes": ["email", "uuid", "name"]}

    response = insider_profile(sandbox, body)

    assert response.status == 200
    assert response.json() == {"attributes": {"email": "a@example.com", "uuid": "u1"}}


def test_insider_profile_may_ask_for_events_alone(sandbox):
    body = {"identifiers": {"uuid": "u2"}, "events": {"wanted": []}}

    response = insider_profile(sandbox, body)

    assert response.status == 200
    assert response.json() == {"attributes": {}}


def test_insider_profile_reports_the_quota_used_when_asked(sandbox):
    sandbox.configure("insider", rate_limits={"profile": 5})
    body = {"identifiers": {"uuid": "u2"}, "attributes": ["uuid"]}

    first = insider_profile(sandbox, body)
    second = insider_profile(sandbox, {**body, "quota": True})

    assert "quota" not in first.json()
    assert second.json() == {"attributes": {"uuid": "u2"}, "quota": {"used": 2, "total": 5}}


def test_insider_profile_answers_404_for_someone_unknown(sandbox):
    body = {"identifiers": {"email": "nobody@example.com"}, "attributes": ["email"]}

    response = insider_profile(sandbox, body)

    assert response.status == 404
    assert response.json() == {"error": "no such user for these identifiers: no data"}


@pytest.mark.parametrize("identifiers", [{}, {"phone_number": "98765432"}, {"nickname": "x"}, "u1", None])
def test_insider_profile_needs_valid_identifiers(sandbox, identifiers):
    response = insider_profile(sandbox, {"identifiers": identifiers, "attributes": ["email"]})

    assert response.status == 400
    assert response.json() == {"error": "no valid identifier: bad request"}


@pytest.mark.parametrize(
    "wanted", [{}, {"attributes": "email"}, {"attributes": [7]}, {"events": ["purchase"]}]
)
def test_insider_profile_needs_attributes_or_events(sandbox, wanted):
    response = insider_profile(sandbox, {"identifiers": {"uuid": "u1"}, **wanted})

    assert response.status == 400
    assert response.json() == {"error": "attributes or events are required: bad request"}


def test_insider_profile_checks_the_token(sandbox):
    body = {"identifiers": {"uuid": "u1"}, "attributes": ["uuid"]}

    response = insider_profile(sandbox, body, headers={**INSIDER_AUTH, "X-REQUEST-TOKEN": "wrong"})

    assert response.status == 401
    assert response.json() == {"success": False, "message": "Partner token authentication failed."}


def test_insider_profile_throttles_on_its_own_quota(sandbox):
    assert sandbox.config()["insider"]["rate_limits"]["profile"] == 1000
    sandbox.configure("insider", rate_limits={"profile": 1})
    body = {"identifiers": {"uuid": "u1"}, "attributes": ["uuid"]}

    first = insider_profile(sandbox, body)
    second = insider_profile(sandbox, body)

    assert first.status == 200
    assert second.status == 429
    assert second.json() == {"error": "rejected: too many requests"}
    assert 1 <= int(second.headers["Retry-After"]) <= 60
    assert HARMLESS_CALL["insider"](sandbox).status == 200


# -- Dfinery -------------------------------------------------------------------------------------


def test_dfinery_deletes_a_profile_with_a_string_code(sandbox):
    response = dfinery_delete(sandbox, "u1")

    assert response.status == 200
    assert response.json() == {"status": True, "code": "20000", "message": "OK", "data": True}
    assert sandbox.state()["dfinery"]["profiles"] == ["u2"]


def test_dfinery_answers_ok_for_an_unknown_profile(sandbox):
    assert dfinery_delete(sandbox, "ghost").json()["code"] == "20000"
    assert sandbox.state()["dfinery"]["profiles"] == ["u1", "u2"]


@pytest.mark.parametrize(
    "when",
    [
        None,
        "2025-05-13T15:01:48.501+09:00",
        "2025-05-13 06:01:48Z",
        "yesterday",
        "2025-13-13T06:01:48Z",
        1747116108,
    ],
)
def test_dfinery_reports_validation_failure_inside_a_200(sandbox, when):
    response = dfinery_delete(sandbox, "u1", when=when)

    assert response.status == 200
    assert response.json() == {
        "status": False,
        "code": "40001",
        "message": "VALIDATION_FAILURE",
        "data": None,
    }
    assert sandbox.state()["dfinery"]["profiles"] == ["u1", "u2"]


@pytest.mark.parametrize(
    ("headers", "path", "code", "message"),
    [
        ({"access_token": "wrong"}, DFINERY_PATH, "40201", "INVALID_TOKEN"),
        ({}, DFINERY_PATH, "40201", "INVALID_TOKEN"),
        (DFINERY_AUTH, "/api/v1/identities/delete?service_id=other", "40101", "INVALID_SERVICE_ID"),
        (DFINERY_AUTH, "/api/v1/identities/delete", "40101", "INVALID_SERVICE_ID"),
    ],
)
def test_dfinery_reports_bad_credentials_inside_a_200(sandbox, headers, path, code, message):
    response = dfinery_delete(sandbox, "u1", headers=headers, path=path)

    assert response.status == 200
    assert response.json() == {"status": False, "code": code, "message": message, "data": None}
    assert sandbox.state()["dfinery"]["profiles"] == ["u1", "u2"]


def test_dfinery_announces_its_rate_window_and_throttles_with_429(sandbox):
    sandbox.configure("dfinery", rate_limits={"delete": 1})
    before = int(time.time())

    first = dfinery_delete(sandbox, "u1")
    second = dfinery_delete(sandbox, "u2")

    assert first.status == 200
    assert first.headers["X-Rate-Limit-Limit"] == "1m"
    assert first.headers["X-Rate-Limit-Remaining"] == "0"
    assert before <= int(first.headers["X-Rate-Limit-Reset"]) <= before + 61
    assert second.status == 429
    assert second.json() == {"status": False, "code": "40401", "message": "TOO_MANY_REQUEST", "data": None}
    assert sandbox.state()["dfinery"]["profiles"] == ["u2"]


def test_dfinery_can_throttle_inside_a_200(sandbox):
    sandbox.configure("dfinery", rate_limits={"delete": 0}, throttle_status=200)

    response = dfinery_delete(sandbox, "u1")

    assert response.status == 200
    assert response.json()["code"] == "40401"
    assert response.headers["X-Rate-Limit-Remaining"] == "0"


# -- shared routing ------------------------------------------------------------------------------


def test_unknown_paths_answer_404_and_wrong_methods_the_vendors_405(sandbox):
    assert send(sandbox, "POST", "/nowhere", {}).status == 404
    response = send(sandbox, "GET", "/users/external_ids/remove", headers=BRAZE_AUTH)
    assert response.status == 405
    assert "message" in response.json()


def test_a_body_that_is_not_a_json_object_is_a_400_in_the_vendors_format(sandbox):
    response = send(sandbox, "POST", "/1/delete/profiles.json", raw=b"{not json", headers=CLEVERTAP_AUTH)

    assert response.status == 400
    assert response.json()["status"] == "fail"


# -- faults --------------------------------------------------------------------------------------

STATUS_FAULT_BODY = {
    "braze": {"message": "Service Unavailable", "errors": ["Service Unavailable"]},
    "clevertap": {"status": "fail", "error": "Service Unavailable", "code": 503},
    "insider": {"error": "Service Unavailable"},
    "dfinery": {"status": False, "code": "50000", "message": "INTERNAL_SERVER_ERROR", "data": None},
}


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_status_fault_spoils_the_next_calls_with_the_vendors_error_body(sandbox, vendor):
    sandbox.inject_fault(vendor, "status", status=503, count=2)

    responses = [HARMLESS_CALL[vendor](sandbox) for _ in range(3)]

    assert [r.status for r in responses[:2]] == [503, 503]
    assert responses[0].json() == STATUS_FAULT_BODY[vendor]
    assert 200 <= responses[2].status < 300
    assert [c["fault"] for c in sandbox.calls(vendor)] == ["status", "status", None]


@pytest.mark.parametrize(
    ("vendor", "header", "value"),
    [
        ("braze", "X-RateLimit-Remaining", "0"),
        ("insider", "Retry-After", None),
        ("dfinery", "X-Rate-Limit-Remaining", "0"),
        ("clevertap", None, None),
    ],
)
def test_a_429_fault_comes_with_the_vendors_throttling_headers(sandbox, vendor, header, value):
    sandbox.inject_fault(vendor, "status", status=429)

    response = HARMLESS_CALL[vendor](sandbox)

    assert response.status == 429
    if header is not None:
        assert header in response.headers
        assert value is None or response.headers[header] == value
    assert response.json() != {}


def test_a_status_fault_does_not_apply_the_request(sandbox):
    sandbox.inject_fault("dfinery", "status", status=500)

    assert dfinery_delete(sandbox, "u1").status == 500
    assert sandbox.state()["dfinery"]["profiles"] == ["u1", "u2"]


def test_a_timeout_fault_answers_too_late_but_applies_the_request(sandbox):
    sandbox.inject_fault("dfinery", "timeout", seconds=0.5)

    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        send(
            sandbox,
            "POST",
            DFINERY_PATH,
            {"identity": {"external_id": "u1"}, "request_datetime": NOW_UTC},
            DFINERY_AUTH,
            timeout=0.1,
        )

    deadline = time.monotonic() + 5
    while not sandbox.calls("dfinery") and time.monotonic() < deadline:
        time.sleep(0.02)
    (call,) = sandbox.calls("dfinery")
    assert call["fault"] == "timeout" and call["status"] == 200
    assert sandbox.state()["dfinery"]["profiles"] == ["u2"]


def test_a_reset_fault_closes_the_socket_without_answering(sandbox):
    sandbox.inject_fault("braze", "reset")

    with pytest.raises(urllib3.exceptions.ProtocolError):
        braze_remove(sandbox, ["old-u1"])

    assert braze_user(sandbox, "u1")["deprecated"] == ["old-u1", "older-u1"]
    assert sandbox.calls("braze")[0]["status"] is None
    assert braze_remove(sandbox, ["old-u1"]).json()["removed_ids"] == ["old-u1"]


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_malformed_fault_answers_2xx_with_a_body_that_is_not_json(sandbox, vendor):
    sandbox.inject_fault(vendor, "malformed")

    response = HARMLESS_CALL[vendor](sandbox)

    assert 200 <= response.status < 300
    with pytest.raises(ValueError):
        json.loads(response.data)


@pytest.mark.parametrize(
    ("vendor", "status", "failed"),
    [
        (
            "dfinery",
            200,
            lambda body: (
                body == {"status": False, "code": "50000", "message": "INTERNAL_SERVER_ERROR", "data": None}
            ),
        ),
        ("clevertap", 200, lambda body: body["status"] == "fail"),
        ("braze", 201, lambda body: body["message"] != "success" and "removed_ids" not in body),
    ],
)
def test_a_fail_in_200_fault_says_failure_inside_a_success_status(sandbox, vendor, status, failed):
    sandbox.inject_fault(vendor, "fail_in_200")

    response = HARMLESS_CALL[vendor](sandbox)

    assert response.status == status
    assert failed(response.json())


def test_a_fail_in_200_fault_does_not_apply_the_request(sandbox):
    sandbox.inject_fault("dfinery", "fail_in_200")

    assert dfinery_delete(sandbox, "u1").json()["code"] == "50000"
    assert sandbox.state()["dfinery"]["profiles"] == ["u1", "u2"]


def test_a_fault_without_count_lasts_until_cleared(sandbox):
    sandbox.inject_fault("clevertap", "status", status=502, count=None)

    assert [HARMLESS_CALL["clevertap"](sandbox).status for _ in range(3)] == [502, 502, 502]
    sandbox.clear_faults("clevertap")
    assert HARMLESS_CALL["clevertap"](sandbox).status == 200


def test_faults_are_queued_in_order_per_vendor(sandbox):
    sandbox.inject_fault("insider", "status", status=520)
    sandbox.inject_fault("insider", "status", status=503)

    statuses = [HARMLESS_CALL["insider"](sandbox).status for _ in range(3)]
    braze = HARMLESS_CALL["braze"](sandbox)

    assert statuses == [520, 503, 200]
    assert braze.status == 201


@pytest.mark.parametrize(
    ("args", "options"),
    [
        (("insider", "fail_in_200"), {}),
        (("braze", "explode"), {}),
        (("braze", "status"), {"status": 200}),
        (("braze", "status"), {}),
        ((UNKNOWN_VENDOR, "reset"), {}),
        (("braze", "reset"), {"count": 0}),
        (("braze", "reset"), {"route": "profile"}),
    ],
)
def test_impossible_faults_are_refused(sandbox, args, options):
    with pytest.raises(SandboxError):
        sandbox.inject_fault(*args, **options)
    assert all(not queue for queue in sandbox.faults().values())


# A deletion of u1 and the lookup that finds u1 afterwards, per vendor with a lookup.
DELETE_U1: dict[str, Callable[[VendorSandbox], urllib3.BaseHTTPResponse]] = {
    "braze": lambda sb: send(sb, "POST", "/users/delete", {"external_ids": ["u1"]}, BRAZE_AUTH),
    "clevertap": lambda sb: clevertap_delete(sb, {"identity": "u1"}),
    "insider": lambda sb: send(
        sb, "POST", "/api/user/v1/delete", {"identifiers": {"email": "a@example.com"}}, INSIDER_AUTH
    ),
}
FINDS_U1: dict[str, Callable[[VendorSandbox], bool]] = {
    "braze": lambda sb: bool(
        braze_export(sb, {"external_ids": ["u1"], "fields_to_export": ["external_id"]}).json()["users"]
    ),
    "clevertap": lambda sb: "record" in clevertap_profile(sb, {"identity": "u1"}).json(),
    "insider": lambda sb: (
        insider_profile(sb, {"identifiers": {"uuid": "u1"}, "attributes": ["uuid"]}).status == 200
    ),
}
DELETED_U1 = {
    "braze": (201, {"deleted": 1}),
    "clevertap": (200, {"status": "success"}),
    "insider": (200, {}),
}


@pytest.mark.parametrize("vendor", sorted(DELETE_U1))
def test_a_keep_fault_answers_success_and_keeps_the_person(sandbox, vendor):
    sandbox.inject_fault(vendor, "keep")

    response = DELETE_U1[vendor](sandbox)

    assert (response.status, response.json()) == DELETED_U1[vendor]
    assert "u1" in sandbox.held(vendor)
    assert FINDS_U1[vendor](sandbox)
    assert sandbox.calls(vendor)[0]["fault"] == "keep"
    # Once spent, the next deletion does delete.
    assert DELETE_U1[vendor](sandbox).status == DELETED_U1[vendor][0]
    assert not FINDS_U1[vendor](sandbox)


def test_a_keep_fault_keeps_what_a_partial_call_would_change(sandbox):
    sandbox.inject_fault("braze", "keep")

    assert braze_remove(sandbox, ["old-u1"]).json()["removed_ids"] == ["old-u1"]
    assert braze_user(sandbox, "u1")["deprecated"] == ["old-u1", "older-u1"]
    sandbox.inject_fault("dfinery", "keep")
    assert dfinery_delete(sandbox, "u1").json()["code"] == "20000"
    assert sandbox.state()["dfinery"]["profiles"] == ["u1", "u2"]


def test_a_fault_for_one_route_is_left_pending_by_the_others(sandbox):
    sandbox.inject_fault("braze", "status", status=503, route="export")

    assert sandbox.faults()["braze"][0]["route"] == "export"
    assert braze_remove(sandbox, ["old-u1"]).status == 201
    assert braze_export(sandbox, {"braze_id": "b1", "fields_to_export": ["braze_id"]}).status == 503
    assert sandbox.faults()["braze"] == []
    assert [c["fault"] for c in sandbox.calls("braze")] == [None, "status"]


def test_a_call_takes_the_first_fault_meant_for_its_route(sandbox):
    sandbox.inject_fault("insider", "status", status=520, route="profile")
    sandbox.inject_fault("insider", "status", status=503)
    body = {"identifiers": {"uuid": "u1"}, "attributes": ["uuid"]}

    assert HARMLESS_CALL["insider"](sandbox).status == 503
    assert insider_profile(sandbox, body).status == 520
    assert insider_profile(sandbox, body).status == 200


def test_a_fault_for_an_unknown_route_is_refused_naming_the_routes(sandbox):
    with pytest.raises(SandboxError, match="identity, delete, profile"):
        sandbox.inject_fault("insider", "status", status=503, route="export")
    assert sandbox.faults()["insider"] == []


# -- seeding and inspection ----------------------------------------------------------------------


def test_calls_are_recorded_with_secrets_redacted(sandbox):
    for vendor in VENDORS:
        HARMLESS_CALL[vendor](sandbox)

    calls = sandbox.calls()

    assert [c["vendor"] for c in calls] == VENDORS
    dfinery = sandbox.calls("dfinery")[0]
    assert dfinery["method"] == "POST"
    assert dfinery["path"] == "/api/v1/identities/delete"
    assert dfinery["query"] == {"service_id": "local-service"}
    assert dfinery["body"] == {"identity": {"external_id": "nobody"}, "request_datetime": NOW_UTC}
    assert dfinery["status"] == 200 and dfinery["fault"] is None and dfinery["time"] > 0
    assert sandbox.calls("clevertap")[0]["headers"]["x-clevertap-account-id"] == "LOCAL-ACCOUNT"
    recorded = json.dumps(calls)
    for secret in ("local-braze-key", "local-passcode", "local-insider-token", "local-dfinery-token"):
        assert secret not in recorded
    assert recorded.count("[REDACTED]") == 4


def test_calls_name_their_route_and_lookups_the_identifiers_they_look_up(sandbox):
    braze_export(sandbox, {"email_address": "a@example.com", "fields_to_export": ["braze_id"]})
    aliases = [{"alias_name": "crm-1", "alias_label": "crm"}]
    braze_export(sandbox, {"user_aliases": aliases, "fields_to_export": ["braze_id"]})
    send(sandbox, "GET", "/users/export/ids", headers=BRAZE_AUTH)
    clevertap_profile(sandbox, {"objectId": "g1"})
    clevertap_delete(sandbox, {"identity": ["u3"]})
    insider_profile(
        sandbox, {"identifiers": {"uuid": "u1", "custom": {"loyalty_id": "L1"}}, "attributes": ["uuid"]}
    )
    HARMLESS_CALL["dfinery"](sandbox)
    send(sandbox, "POST", "/nowhere", {})

    logged = [(c["vendor"], c["route"], c["lookup"], c["identifiers"]) for c in sandbox.calls()]

    assert logged == [
        ("braze", "export", True, ["a@example.com"]),
        ("braze", "export", True, ["crm-1"]),
        ("braze", None, False, []),  # a wrong method finds no route
        ("clevertap", "profile", True, ["g1"]),
        ("clevertap", "delete", False, ["u3"]),
        ("insider", "profile", True, ["u1", "L1"]),
        ("dfinery", "delete", False, ["nobody"]),
        (None, None, False, []),
    ]
    lookup = sandbox.calls("clevertap")[0]
    assert lookup["method"] == "GET" and lookup["query"] == {"objectId": "g1"} and lookup["body"] is None


def test_seed_adds_people_and_state_round_trips(sandbox):
    sandbox.reset()
    sandbox.seed(DEFAULT_SEED)
    sandbox.seed({"dfinery": {"profiles": ["extra"]}})

    state = sandbox.state()

    assert state["dfinery"]["profiles"] == DEFAULT_SEED["dfinery"]["profiles"] + ["extra"]
    sandbox.reset()
    sandbox.seed(state)
    assert sandbox.state() == state


@pytest.mark.parametrize(
    "seed",
    [
        {UNKNOWN_VENDOR: {"users": []}},
        {"braze": {"users": [{"primary": "u9", "nickname": "x"}]}},
        {"braze": {"users": [{}]}},
        {"clevertap": {"profiles": [{}]}},
        {"clevertap": {"profiles": [{"deleted_at": 1}]}},
        {"clevertap": {"profiles": [{"identity": "u9", "deleted_at": "yesterday"}]}},
        {"clevertap": {"profiles": [{"identity": "u9", "email": 7}]}},
        {"insider": {"users": [{"phone_number": "98765432"}]}},
        {"dfinery": {"profiles": [{"external_id": "u9"}]}},
        {"dfinery": {"profiles": ["u9"]}, "insider": {"people": []}},
    ],
)
def test_invalid_seeds_are_refused_whole(sandbox, seed):
    before = sandbox.state()

    with pytest.raises(SandboxError):
        sandbox.seed(seed)

    assert sandbox.state() == before


def test_configure_refuses_unknown_or_ill_typed_settings(sandbox):
    before = sandbox.config()
    for vendor, settings in [
        ("braze", {"colour": "red"}),
        ("braze", {"removal_error_shape": "x"}),
        ("insider", {"rate_limits": {"identity": -1}}),
        ("dfinery", {"throttle_status": 503}),
        ("clevertap", {"latency": "slow"}),
    ]:
        with pytest.raises(SandboxError):
            sandbox.configure(vendor, **settings)
    assert sandbox.config() == before


def test_configured_credentials_replace_the_defaults(sandbox):
    sandbox.configure("braze", api_key="rotated")

    assert braze_remove(sandbox, ["ghost"]).status == 401
    assert braze_remove(sandbox, ["ghost"], headers={"Authorization": "Bearer rotated"}).status == 201


def test_reset_forgets_people_calls_faults_and_settings(sandbox):
    sandbox.configure("braze", api_key="rotated")
    sandbox.inject_fault("braze", "reset", count=None)
    HARMLESS_CALL["dfinery"](sandbox)

    sandbox.reset()

    # Every vendor the sandbox plays, by its own declared population key, holds no one.
    assert sandbox.state() == {cls.name: {cls.population_key: []} for cls in VENDOR_CLASSES}
    assert sandbox.calls() == []
    assert sandbox.config()["braze"]["api_key"] == "local-braze-key"
    assert braze_remove(sandbox, ["ghost"]).status == 201


def admin(sandbox: VendorSandbox, method: str, action: str, body: Any = None) -> urllib3.BaseHTTPResponse:
    return send(sandbox, method, f"/_sandbox/{action}", body)


def test_the_admin_http_api_drives_the_sandbox_from_another_process(sandbox):
    assert admin(sandbox, "POST", "reset").json() == {"reset": True}
    person = {"uuid": "a", "email": "a@x.io"}
    seeded = admin(sandbox, "POST", "seed", {"insider": {"users": [person]}})
    assert seeded.status == 200
    assert seeded.json()["insider"]["users"] == [person]
    assert admin(sandbox, "GET", "state").json() == sandbox.state()

    config = admin(
        sandbox, "POST", "config", {"braze": {"removal_error_shape": "array"}, "insider": {"latency": 0.01}}
    ).json()
    assert config["braze"]["removal_error_shape"] == "array"
    assert admin(sandbox, "GET", "config").json() == sandbox.config()

    faults = admin(
        sandbox, "POST", "faults", {"vendor": "insider", "kind": "status", "status": 503, "count": 1}
    ).json()
    assert faults["insider"][0]["status"] == 503
    assert admin(sandbox, "GET", "faults").json() == faults
    assert insider_delete_identifier(sandbox, {"email": "a@x.io"}).status == 503
    assert insider_delete_identifier(sandbox, {"email": "a@x.io"}).status == 200
    admin(sandbox, "POST", "faults", {"vendor": "braze", "kind": "reset", "count": None})
    assert admin(sandbox, "DELETE", "faults").json()["braze"] == []

    calls = admin(sandbox, "GET", "calls?vendor=insider").json()["calls"]
    assert [c["status"] for c in calls] == [503, 200]
    assert all(c["headers"]["x-request-token"] == "[REDACTED]" for c in calls)
    assert admin(sandbox, "GET", "calls").json()["calls"] == sandbox.calls()


def test_the_admin_http_api_scopes_a_fault_to_a_route(sandbox):
    body = {"vendor": "clevertap", "kind": "status", "status": 503, "route": "profile"}

    faults = admin(sandbox, "POST", "faults", body).json()

    assert faults["clevertap"] == [
        {"kind": "status", "status": 503, "seconds": 10.0, "remaining": 1, "route": "profile"}
    ]
    assert clevertap_delete(sandbox, {"identity": "u1"}).status == 200
    assert clevertap_profile(sandbox, {"identity": "u2"}).status == 503
    assert admin(sandbox, "GET", "faults").json()["clevertap"] == []


@pytest.mark.parametrize(
    ("method", "action", "body"),
    [
        ("POST", "seed", {UNKNOWN_VENDOR: {}}),
        ("POST", "seed", ["not", "an", "object"]),
        ("POST", "config", {"braze": {"colour": "red"}}),
        ("POST", "faults", {"vendor": "braze"}),
        ("POST", "faults", {"vendor": "braze", "kind": "status", "status": 999}),
        ("POST", "faults", {"vendor": "braze", "kind": "reset", "route": "profile"}),
        ("GET", f"calls?vendor={UNKNOWN_VENDOR}", None),
    ],
)
def test_the_admin_http_api_answers_400_to_bad_requests(sandbox, method, action, body):
    response = admin(sandbox, method, action, body)

    assert response.status == 400
    assert response.json()["error"]
    assert sandbox.state()["dfinery"]["profiles"] == ["u1", "u2"]


def test_the_admin_http_api_answers_404_to_unknown_actions(sandbox):
    assert admin(sandbox, "GET", "everything").status == 404
    assert admin(sandbox, "GET", "reset").status == 404


def test_the_command_line_serves_a_seed_until_sigterm(tmp_path):
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(json.dumps({"dfinery": {"profiles": ["from-file"]}}))
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.vendor_sandbox", "--port", "0", "--seed", str(seed_file)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        state = HTTP.request("GET", f"{url}/_sandbox/state", retries=False, timeout=5).json()
        assert state["dfinery"]["profiles"] == ["from-file"]
        assert state["braze"]["users"] == []
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        process.stdout.close()
