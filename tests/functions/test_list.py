"""GET /v1/deletions: the requests, newest first, filtered and a page at a time, answered from
the list index; each summary without identifiers."""

from __future__ import annotations

import json

import pytest

from tests.helpers import VENDORS, relay_against


@pytest.fixture
def relay(aws, sandbox, monkeypatch):
    deployed = relay_against(sandbox, monkeypatch, verify=True)
    for request_id, vendors in (("first", ["dfinery"]), ("second", ["braze"]), ("third", ["dfinery"])):
        deployed.post({"request_id": request_id, "vendors": vendors, "identity": {"external_id": "ana-1"}})
    deployed.deliver("intake")
    deployed.deliver("dfinery")  # first and third are done; second waits at Braze
    deployed.publish()
    return deployed


def ids(answer) -> list[str]:
    return [r["request_id"] for r in answer[1]["requests"]]


def test_the_list_is_newest_first_with_each_requests_state_and_no_identifier(relay):
    status, answer = relay.list()
    assert status == 200 and ids((status, answer)) == ["third", "second", "first"]
    assert answer["next_token"] is None
    third = answer["requests"][0]
    assert (third["status"], third["final"], third["vendors"]) == ("completed", True, ["dfinery"])
    assert answer["requests"][1]["status"] == "pending" and answer["requests"][1]["final"] is False
    shown = json.dumps(answer)
    assert "ana-1" not in shown and "id_hash" not in shown and "identifiers" not in shown


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "completed"}, ["third", "first"]),
        ({"final": "false"}, ["second"]),
        ({"status": "pending"}, ["second"]),
        ({"vendor": "dfinery", "outcome": "deleted"}, ["third", "first"]),
        ({"vendor": "braze"}, []),  # Braze has answered nothing yet
        ({"due_before": "2000-01-31"}, []),
        ({"created_after": "2000-01-01", "status": "completed"}, ["third", "first"]),
        ({"created_before": "2000-01-01"}, []),
    ],
)
def test_filters(relay, params, expected):
    assert ids(relay.list(**params)) == expected


def test_pages_follow_each_other_by_their_token_without_gaps_or_repeats(relay):
    seen, token = [], None
    for _ in range(4):
        status, answer = relay.list(limit=1, **({"next_token": token} if token else {}))
        assert status == 200
        seen += ids((status, answer))
        token = answer["next_token"]
        if token is None:
            break
    assert seen == ["third", "second", "first"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "done"}, "status"),
        ({"final": "yes"}, "final"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"due_before": "soon"}, "due_before"),
        ({"outcome": "deleted"}, "outcome"),
        ({"vendor": "Braze!"}, "vendor"),
        ({"next_token": "not-a-token"}, "next_token"),
        ({"email": "ana@example.com"}, "email"),
    ],
)
def test_a_bad_parameter_is_named_and_its_value_never_echoed(relay, params, field):
    status, answer = relay.list(**params)
    assert status == 400 and [e["field"] for e in answer["errors"]] == [field]
    assert "ana@example.com" not in json.dumps(answer)


def test_the_vendors_list_holds_every_vendor_the_relay_has(relay):
    # The filter takes any vendor name; a vendor the relay does not have matches nothing.
    assert ids(relay.list(vendor="nobody")) == [] and set(VENDORS) >= {"dfinery", "braze"}
