"""Verified erasure, end to end: the deployed relay (every function, its queues and ledger under
moto) against the vendor sandbox over real sockets, each vendor function checking its deletions
through its own queue with the vendor's read API.

Done when a delete_profile for a person at every vendor ends verified_absent where the vendor's
lookup can tell (Braze, Insider and CleverTap) and unverifiable (with its reason) where none can
(Dfinery); a vendor that keeps the
profile ends still_present with the alarm's metric; the receipt carries the deadline and the
evidence; and the receipts function publishes each change of the request's state.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter

import pytest

from erasure.request import parse
from erasure.vendors import CONNECTORS
from erasure.vendors.base import Target
from erasure.verification import Check
from tests.helpers import (
    VENDORS,
    FakeContext,
    configure_functions,
    deploy_relay,
    event,
    json_lines,
    load_function,
    sandbox_credentials,
)
from tools.vendor_sandbox import VendorSandbox, seed_of

JANE = {
    "external_id": "jane-2024",
    "guid": "ct-jane",
    "email": "jane@example.com",
    "uuid": "jane-uuid",
}
JANE_REQUEST = {
    "request_id": "jane-erasure",
    "requested_at": "2026-01-31T09:00:00Z",
    "identity": {"external_id": "jane-2024", "guid": "ct-jane", "email": "jane@example.com"},
}
HASH = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def sandbox():
    with VendorSandbox() as running:
        running.seed(seed_of([JANE]))
        yield running


@pytest.fixture
def checks_at_once(monkeypatch):
    """Checks due as soon as the deletion is recorded, and again at once: time is not the point."""
    monkeypatch.setenv("VERIFY_AFTER_S", "0")
    monkeypatch.setenv("VERIFY_BACKOFF_S", "0")


@pytest.fixture
def relay(aws, sandbox, monkeypatch):
    configure_functions(monkeypatch, sandbox.url, sandbox_credentials(sandbox))
    return deploy_relay(load_function, monkeypatch, max_receive_count=20, verify=True)


def lookups(sandbox, vendor):
    """The vendor's verification lookups: those after its first deletion call (the ones before
    it resolve whom to delete)."""
    calls = sandbox.calls(vendor)
    first = next((n for n, c in enumerate(calls) if not c["lookup"]), len(calls))
    return [c for c in calls[first:] if c["lookup"]]


def by_identifier(receipt, vendor):
    return {o["identifier"]: o for o in receipt["vendors"][vendor]}


def expected_verification(vendor, identifier) -> str | None:
    """What JANE_REQUEST's deletion of an identifier at a vendor ends as, by the connector's own
    declarations: nothing for one it does not serve, unverifiable where no lookup can show it
    gone, else verified_absent (the sandbox deletes her)."""
    connector, action = CONNECTORS[vendor], parse(JANE_REQUEST).action
    if connector.skip_reason(action, identifier):
        return None
    return "unverifiable" if connector.unverifiable_reason(action, identifier) else "verified_absent"


def checked(vendor) -> list:
    """JANE_REQUEST's identifiers that the vendor deletes and its lookup can show gone."""
    return [
        i for i in parse(JANE_REQUEST).identifiers if expected_verification(vendor, i) == "verified_absent"
    ]


def lookup_calls(vendor) -> int:
    """The lookups one check of JANE_REQUEST makes at the vendor: its checked identifiers by the
    lookup's batch group, as many in one call as the lookup takes."""
    lookup, deletion = CONNECTORS[vendor].lookup, parse(JANE_REQUEST)
    groups = Counter(lookup.batch_group(Target(deletion, i)) for i in checked(vendor))
    return sum(-(-count // lookup.max_batch_for(group)) for group, count in groups.items())


def test_a_person_erased_at_every_vendor_is_verified_gone_where_a_lookup_can_tell(
    checks_at_once, relay, sandbox
):
    assert relay.post(JANE_REQUEST)[0] == 202
    relay.drain()
    status, receipt = relay.get("jane-erasure")

    assert status == 200
    assert any(checked(v) for v in VENDORS)  # some vendor's lookup can tell
    for vendor in VENDORS:
        given = {i: o for i, o in by_identifier(receipt, vendor).items() if not o["resolved_from"]}
        verified = {i: o["verification"] for i, o in given.items()}
        assert verified == {
            i.label: expected_verification(vendor, i) for i in parse(JANE_REQUEST).identifiers
        }, vendor
    braze = by_identifier(receipt, "braze")
    assert set(braze) == {"external_id", "email", "guid", "braze_id"}
    # Her profile, found by her email and deleted by its braze_id; checked through the email.
    assert braze["braze_id"]["resolved_from"] == braze["email"]["id_hash"]
    assert (braze["email"]["outcome"], braze["email"]["resolved_to"]) == (
        "resolved",
        [{"identifier": "braze_id", "id_hash": braze["braze_id"]["id_hash"]}],
    )
    assert by_identifier(receipt, "braze")["guid"]["verification"] is None  # skipped: nothing to check
    dfinery = by_identifier(receipt, "dfinery")["external_id"]
    assert (dfinery["outcome"], dfinery["verification"]) == ("deleted", "unverifiable")
    assert "no lookup by identifier" in dfinery["verification_reason"]
    assert (receipt["verification"], receipt["final"]) == ("partially_verified", True)
    # The deadline: GDPR's month from the request, to the day (February has no 31st).
    assert (receipt["regulation"], receipt["due_by"]) == (None, "2026-02-28T09:00:00.000Z")
    # Evidence an auditor can hold the vendor to, without the identifiers the answers quote.
    for vendor in VENDORS:
        looked_up = {i.label for i in checked(vendor)}
        for outcome in receipt["vendors"][vendor]:
            if outcome["identifier"] in looked_up:
                for evidence in (outcome["evidence"], outcome["verification_evidence"]):
                    assert evidence["http_status"] in (200, 201, 404)
                    assert HASH.match(evidence["body_hash"])
                assert outcome["verification_checks"] == 1 and outcome["checked_at"]
    assert "jane" not in json.dumps(receipt).replace("jane-erasure", "")
    # One lookup per batch of the identifiers a lookup serves (one of each type here: one per
    # identifier), none at a vendor without one.
    assert [len(lookups(sandbox, v)) for v in VENDORS] == [lookup_calls(v) for v in VENDORS]


def test_a_vendor_that_keeps_the_person_ends_still_present_with_the_alarm(
    checks_at_once, relay, sandbox, monkeypatch, capsys
):
    sandbox.inject_fault("insider", "keep", count=None, route="delete")  # "{}", and she stays
    relay.post(JANE_REQUEST)
    relay.drain()
    insider = by_identifier(relay.get("jane-erasure")[1], "insider")["email"]

    assert insider["outcome"] == "accepted"  # what Insider said; verification says what it did
    assert insider["verification"] == "still_present"
    assert insider["verification_checks"] == 3  # VERIFY_MAX_CHECKS' default
    assert "the deletion was sent again: accepted" in insider["verification_reason"]
    assert relay.get("jane-erasure")[1]["verification"] == "still_present"
    assert [c["route"] for c in sandbox.calls("insider")] == [
        "profile",  # her identifiers, the unifier among them
        "delete",
        "profile",
        "profile",
        "profile",
        "profile",  # the re-send resolves her again
        "delete",
    ]
    metric = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if "verification_still_present" in line
    ]
    assert [m["verification_still_present"] for m in metric] == [[1.0]]
    assert metric[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]  # StillPresentAlarm's


def test_a_person_found_again_is_checked_later_until_gone(checks_at_once, relay, sandbox):
    sandbox.configure("clevertap", deletion_delay_seconds=3600)  # her profile goes in a later batch
    relay.post(JANE_REQUEST)
    relay.deliver("intake")
    relay.deliver("clevertap")  # the deletion: "success"
    relay.deliver("clevertap")  # the first check finds her
    pending = by_identifier(relay.get("jane-erasure")[1], "clevertap")["external_id"]
    assert pending["verification"] == "pending"
    assert pending["verification_reason"].startswith("still present at check 1 of 3")

    sandbox.configure("clevertap", deletion_delay_seconds=0)  # the batch has run
    relay.drain()
    done = by_identifier(relay.get("jane-erasure")[1], "clevertap")["external_id"]
    assert (done["verification"], done["verification_checks"]) == ("verified_absent", 2)


def test_a_check_waits_for_its_time_in_the_queue_and_looks_up_nothing_before(relay, sandbox):
    relay.post(JANE_REQUEST)  # the documented delays: 5 minutes at Braze and Insider, 48 h at CleverTap
    relay.drain()
    receipt = relay.get("jane-erasure")[1]

    assert [len(lookups(sandbox, v)) for v in VENDORS] == [0 for _ in VENDORS]
    assert receipt["verification"] == "pending" and receipt["final"] is False
    braze = by_identifier(receipt, "braze")["external_id"]
    assert braze["verification"] == "pending" and braze["verification_due_at"] > braze["completed_at"]
    assert queue_counts(relay, "braze") == {"delayed": 1, "in_flight": 0}  # SQS holds it 5 minutes

    # Past SQS's 15 minutes of delay (CleverTap's 48 h): received early, it is hidden until due.
    (check,) = [m for m in peek(relay, "clevertap") if "verify" in json.loads(m["Body"])] or [None]
    body = json.loads(check["Body"]) if check else None
    assert body is None or body["verify"]["due_at"] - time.time() > 47 * 3600
    early = json.dumps(Check(parse(JANE_REQUEST), 1, time.time() + 3600).message())
    relay.sqs.send_message(QueueUrl=relay.queue_urls["insider"], MessageBody=early)
    result = relay.deliver("insider")
    assert len(result["batchItemFailures"]) == 1
    assert queue_counts(relay, "insider")["in_flight"] == 1 and lookups(sandbox, "insider") == []


def queue_counts(relay, queue):
    names = {
        "delayed": "ApproximateNumberOfMessagesDelayed",
        "in_flight": "ApproximateNumberOfMessagesNotVisible",
    }
    attributes = relay.sqs.get_queue_attributes(QueueUrl=relay.queue_urls[queue], AttributeNames=["All"])
    return {key: int(attributes["Attributes"][name]) for key, name in names.items()}


def peek(relay, queue):
    """The queue's visible messages, left visible."""
    answer = relay.sqs.receive_message(
        QueueUrl=relay.queue_urls[queue], MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return answer.get("Messages", [])


def test_a_check_delivered_twice_looks_up_once_and_is_recorded_once(checks_at_once, relay, sandbox):
    relay.post(JANE_REQUEST)
    relay.deliver("intake")
    relay.deliver("insider")  # the deletion; its check now waits in the queue
    (check,) = peek(relay, "insider")
    relay.sqs.send_message(QueueUrl=relay.queue_urls["insider"], MessageBody=check["Body"])  # a duplicate
    relay.drain()

    assert len(lookups(sandbox, "insider")) == 1
    email = by_identifier(relay.get("jane-erasure")[1], "insider")["email"]
    assert (email["verification"], email["verification_checks"]) == ("verified_absent", 1)


def test_a_failed_lookup_is_tried_again_never_taken_for_an_answer(checks_at_once, relay, sandbox):
    relay.post(JANE_REQUEST)
    relay.deliver("intake")
    relay.deliver("braze")  # resolved and deleted: the checks are due at once
    sandbox.inject_fault("braze", "status", status=500, count=1, route="export")
    sandbox.inject_fault("braze", "malformed", count=1, route="export")
    relay.drain()
    braze = by_identifier(relay.get("jane-erasure")[1], "braze")

    checked_here = {i: o for i, o in braze.items() if i != "guid" and not o["resolved_from"]}
    assert {o["verification"] for o in checked_here.values()} == {"verified_absent"}
    assert len(lookups(sandbox, "braze")) == 4


def test_each_change_of_a_request_is_published_and_a_final_one_leaves_the_deadline_watch(
    checks_at_once, relay, sandbox, capsys
):
    relay.post(JANE_REQUEST)
    relay.publish()
    (first,) = relay.status_events()
    assert (first["source"], first["detail-type"]) == ("erasure-relay", "Erasure request status changed")
    assert first["detail"]["request_id"] == "jane-erasure"
    assert (first["detail"]["status"], first["detail"]["final"], first["detail"]["previous"]) == (
        "pending",
        False,
        None,
    )

    relay.publish()
    assert relay.status_events() == []  # nothing changed: nothing published

    relay.drain()
    capsys.readouterr()
    relay.publish()
    (last,) = relay.status_events()
    assert last["detail"]["final"] is True and last["detail"]["previous"]["status"] == "pending"
    # Once final, the time it took (the dashboard's "time to final"), in seconds since created.
    (timed,) = [line for line in json_lines(capsys.readouterr().out) if "seconds_to_final" in line]
    assert 0 < timed["seconds_to_final"][0] < 600
    assert last["detail"]["verification"] == "partially_verified"
    request_item = next(i for i in relay.ledger_items() if i["item"] == "REQUEST")
    assert "deadline_watch" not in request_item


def test_the_deadline_watch_counts_requests_not_final_near_their_due_by(relay, everything_logged, capsys):
    from datetime import UTC, datetime, timedelta

    soon = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d")
    later = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d")
    relay.post({"request_id": "due-soon", "due_by": soon, "identity": {"email": "a@example.com"}})
    relay.post({"request_id": "due-later", "due_by": later, "identity": {"email": "b@example.com"}})
    relay.post({"request_id": "ccpa", "regulation": "ccpa", "identity": {"email": "c@example.com"}})
    everything_logged()
    relay.receipts({"source": "aws.events", "detail-type": "Scheduled Event"}, FakeContext())
    metrics = json_lines(capsys.readouterr().out)  # before the log capture reads stdout too
    lines = json_lines(everything_logged())

    figures = {
        name: line[name]
        for line in metrics
        for name in ("requests_near_deadline", "requests_overdue")
        if name in line
    }
    assert figures == {"requests_near_deadline": [1.0], "requests_overdue": [0.0]}
    warning = next(line for line in lines if line.get("message") == "requests not final near their deadline")
    assert warning["request_ids"] == ["due-soon"]
    assert relay.get("ccpa")[1]["regulation"] == "ccpa"


def test_each_check_is_logged_by_type_and_hash_only(checks_at_once, relay, sandbox, everything_logged):
    relay.post(JANE_REQUEST)
    relay.drain()
    logged = everything_logged()
    assert not any(value in logged for value in JANE.values())
    lines = json_lines(logged)
    found = Counter(line["verification"] for line in lines if line.get("message") == "verification")
    assert found == {"verified_absent": sum(len(checked(v)) for v in VENDORS)}  # one per identifier checked


def test_a_deletion_through_a_vendor_route_is_answered_pending_and_then_verified(
    checks_at_once, relay, sandbox
):
    api = event("insider", "api", {"request_id": "jane-at-insider", "identity": {"email": JANE["email"]}})
    answer = relay.vendors["insider"](api, FakeContext())
    outcomes = {o["identifier"]: o for o in json.loads(answer["body"])["outcomes"]}
    outcome = outcomes.pop("email")

    assert (answer["statusCode"], outcome["outcome"], outcome["verification"]) == (200, "accepted", "pending")
    # Her other identifiers, read first and erased in the same call, are checked through the email.
    assert {(i, o["outcome"], o["verification"]) for i, o in outcomes.items()} == {("uuid", "accepted", None)}
    relay.drain()
    assert len(lookups(sandbox, "insider")) == 1
    checked_items = [
        i for i in relay.ledger_items() if i["item"].startswith("OUTCOME#") and i.get("verification")
    ]
    assert [i["verification"] for i in checked_items] == ["verified_absent"]


def test_a_check_that_comes_before_its_deletion_is_recorded_waits_for_it(checks_at_once, relay, sandbox):
    early = json.dumps(
        Check(parse(JANE_REQUEST), 1, time.time()).message()
    )  # sent, but its outcome not yet written
    relay.sqs.send_message(QueueUrl=relay.queue_urls["insider"], MessageBody=early)
    result = relay.deliver("insider")
    assert len(result["batchItemFailures"]) == 1 and lookups(sandbox, "insider") == []  # kept, not dropped

    relay.post(JANE_REQUEST)
    relay.drain()
    email = by_identifier(relay.get("jane-erasure")[1], "insider")["email"]
    assert (email["verification"], email["verification_checks"]) == ("verified_absent", 1)
    assert len(lookups(sandbox, "insider")) == 1


def test_only_requests_taken_by_intake_are_published_and_expiry_is_no_change(checks_at_once, relay, sandbox):
    api = event("insider", "api", {"request_id": "route-only", "identity": {"email": JANE["email"]}})
    relay.vendors["insider"](api, FakeContext())
    removed = {
        "eventID": "1",
        "eventName": "REMOVE",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"request_id": {"S": "route-only"}, "item": {"S": "REQUEST"}},
            "SequenceNumber": "1",
        },
    }
    modified = {**removed, "eventName": "MODIFY", "eventID": "2"}
    assert relay.receipts({"Records": [removed, modified]}, FakeContext()) == {"batchItemFailures": []}
    assert relay.status_events() == []
    assert [i for i in relay.ledger_items() if i["item"] == "REQUEST"] == []  # none made by publishing


def test_a_re_send_after_the_last_check_that_is_throttled_is_sent_again(
    checks_at_once, aws, sandbox, monkeypatch
):
    # Review defect 9: the re-send was fire-once; a throttled one ended the receipt all the same.
    monkeypatch.setenv("VERIFY_MAX_CHECKS", "1")
    configure_functions(monkeypatch, sandbox.url, sandbox_credentials(sandbox))
    relay = deploy_relay(load_function, monkeypatch, max_receive_count=20, verify=True)
    sandbox.inject_fault("insider", "keep", count=1, route="delete")  # "{}", and she stays
    relay.post(JANE_REQUEST)
    relay.deliver("intake")
    relay.deliver("insider")  # the deletion, kept
    sandbox.inject_fault("insider", "status", status=429, count=1, route="delete")
    assert len(relay.deliver("insider")["batchItemFailures"]) == 1  # found; the re-send throttled
    insider = by_identifier(relay.get("jane-erasure")[1], "insider")["email"]
    assert insider["verification"] == "pending"
    relay.make_visible("insider")
    assert relay.deliver("insider") == {"batchItemFailures": []}
    insider = by_identifier(relay.get("jane-erasure")[1], "insider")["email"]
    assert insider["verification"] == "still_present"
    assert "the deletion was sent again: accepted" in insider["verification_reason"]
    routes = [c["route"] for c in sandbox.calls("insider")]
    # Each deletion resolves her first (profile), the re-sends too.
    assert routes == ["profile", "delete", "profile", "profile", "delete", "profile", "profile", "delete"]


def test_the_watch_publishes_a_final_request_the_stream_missed_and_takes_it_off_the_deadline_index(
    checks_at_once, relay, sandbox, capsys
):
    # Review defect 10: a stream batch out of retries left a final request counted as open.
    from datetime import UTC, datetime, timedelta

    soon = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d")
    relay.post({**JANE_REQUEST, "requested_at": datetime.now(UTC).isoformat(), "due_by": soon})
    relay.drain()  # final; its stream batch never published
    capsys.readouterr()
    relay.receipts({"source": "aws.events", "detail-type": "Scheduled Event"}, FakeContext())
    metrics = json_lines(capsys.readouterr().out)
    near = [line["requests_near_deadline"] for line in metrics if "requests_near_deadline" in line]
    assert near == [[0.0]]
    (event,) = relay.status_events()
    assert event["detail"]["final"] is True
    assert "deadline_watch" not in next(i for i in relay.ledger_items() if i["item"] == "REQUEST")
