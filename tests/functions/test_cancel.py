"""Cancelling a request (DELETE /v1/deletions/{request_id}): what no vendor has been sent is
never sent; what a vendor took is not undone, and the receipt says which, per vendor."""

from __future__ import annotations

import pytest

from tests.helpers import VENDORS, relay_against


@pytest.fixture
def relay(aws, sandbox, monkeypatch):
    return relay_against(sandbox, monkeypatch, max_receive_count=20)


def deletions(sandbox, vendor=None) -> list[dict]:
    return [c for c in sandbox.calls(vendor) if not c["lookup"]]


def test_a_request_cancelled_before_any_vendor_took_it_sends_nothing(relay, sandbox):
    relay.post({"request_id": "oops", "identity": {"external_id": "ana-1", "email": "ana@example.com"}})
    relay.deliver("intake")
    status, cancelled = relay.cancel("oops")
    assert status == 200 and cancelled["cancelled_at"] and cancelled["final"] is False
    for vendor in VENDORS:
        assert relay.deliver(vendor) == {"batchItemFailures": []}
    receipt = relay.get("oops")[1]

    assert sandbox.calls() == []  # not even a lookup
    assert (receipt["status"], receipt["final"]) == ("cancelled", True)
    assert receipt["cancelled_at"] == cancelled["cancelled_at"]
    outcomes = {o["outcome"] for items in receipt["vendors"].values() for o in items}
    assert outcomes <= {"cancelled", "skipped"} and "cancelled" in outcomes


def test_what_a_vendor_took_before_the_cancel_stands_and_the_rest_is_not_sent(relay, sandbox):
    relay.post({"request_id": "half", "identity": {"external_id": "ana-1"}})
    relay.deliver("intake")
    relay.deliver("dfinery")  # taken before the cancel
    assert relay.cancel("half")[0] == 200
    for vendor in VENDORS:
        relay.deliver(vendor)
    receipt = relay.get("half")[1]

    by_vendor = {v: {o["outcome"] for o in items} for v, items in receipt["vendors"].items()}
    assert by_vendor["dfinery"] == {"deleted"}  # not undone, and said so
    assert all(outcomes == {"cancelled"} for v, outcomes in by_vendor.items() if v != "dfinery")
    assert [c["vendor"] for c in deletions(sandbox)] == ["dfinery"]
    assert (receipt["status"], receipt["verification"]) == ("cancelled", "unverifiable")  # Dfinery: no lookup


def test_cancelling_twice_is_harmless_and_a_final_or_unknown_request_cannot_be_cancelled(relay, sandbox):
    relay.post({"request_id": "twice", "identity": {"external_id": "ana-1"}})
    first = relay.cancel("twice")
    again = relay.cancel("twice")
    assert first[0] == again[0] == 200 and first[1]["cancelled_at"] == again[1]["cancelled_at"]

    relay.post({"request_id": "done", "vendors": ["dfinery"], "identity": {"external_id": "ana-1"}})
    relay.deliver("intake")
    relay.deliver("dfinery")
    assert relay.get("done")[1]["final"] is True
    status, answer = relay.cancel("done")
    assert status == 409 and "final" in answer["message"]
    assert relay.get("done")[1]["status"] == "completed"  # nothing changed
    assert relay.cancel("never-submitted")[0] == 404
    assert relay.cancel("bad id with spaces")[0] == 404


def test_a_cancelled_request_still_present_after_its_last_check_is_not_sent_again(aws, sandbox, monkeypatch):
    for name, value in (("VERIFY_AFTER_S", "0"), ("VERIFY_BACKOFF_S", "0"), ("VERIFY_MAX_CHECKS", "1")):
        monkeypatch.setenv(name, value)
    relay = relay_against(sandbox, monkeypatch, max_receive_count=20, verify=True)
    sandbox.inject_fault("insider", "keep", count=None, route="delete")  # "{}", and she stays
    relay.post({"request_id": "kept", "vendors": ["insider"], "identity": {"email": "ana@example.com"}})
    relay.deliver("intake")
    relay.deliver("insider")  # resolved and deleted (kept); its check is due at once
    assert relay.cancel("kept")[0] == 200
    relay.deliver("insider")  # the last check finds her: after the cancel, nothing is sent again
    email = next(o for o in relay.get("kept")[1]["vendors"]["insider"] if o["identifier"] == "email")

    assert [c["route"] for c in sandbox.calls("insider")] == ["profile", "delete", "profile"]
    assert email["verification"] == "still_present"
    assert "not sent again: the request was cancelled" in email["verification_reason"]
