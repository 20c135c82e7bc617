"""The eraser forgets: the relay's own messages name identifiers by keyed hash, the ledger keeps
the values only while the request is open, and a message whose values are gone does nothing
(once its request is final) or waits (while it is open): nothing is sent, nothing is lost."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.helpers import ANA, FakeContext, relay_against

WATCH = {"source": "aws.events", "detail-type": "Scheduled Event"}


@pytest.fixture
def relay(aws, sandbox, monkeypatch):
    monkeypatch.setenv("VERIFY_AFTER_S", "0")  # checks due at once: time is not the point here
    monkeypatch.setenv("VERIFY_BACKOFF_S", "0")
    return relay_against(sandbox, monkeypatch, max_receive_count=20, verify=True)


def kept(relay, request_id: str) -> list[dict]:
    return [i for i in relay.ledger_items() if i["request_id"] == request_id and i["item"].startswith("ID#")]


def readable(relay) -> list[str]:
    """ANA's identifiers found anywhere in the ledger."""
    ledger = json.dumps(relay.ledger_items(), default=str)
    return [value for value in ANA.values() if value in ledger]


def waiting_bodies(relay, queue: str) -> list[str]:
    """The queue's messages, left visible."""
    answer = relay.sqs.receive_message(
        QueueUrl=relay.queue_urls[queue], MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [m["Body"] for m in answer.get("Messages", [])]


def grow_old(relay, request_id: str) -> None:
    """Sixteen days pass: the request is older than its longest life (15 days)."""
    boto3.resource("dynamodb").Table(relay.ledger_table).update_item(
        Key={"request_id": request_id, "item": "REQUEST"},
        UpdateExpression="SET created_at = :then",
        ExpressionAttributeValues={":then": "2000-01-01T00:00:00.000Z"},
    )


def stream_record(request_id: str, item: str) -> dict:
    keys = {"request_id": {"S": request_id}, "item": {"S": item}}
    return {
        "Records": [
            {"eventID": "1", "eventName": "MODIFY", "eventSource": "aws:dynamodb", "dynamodb": {"Keys": keys}}
        ]
    }


def test_a_message_whose_identifiers_are_gone_waits_while_its_request_is_open_and_does_nothing_once_final(
    relay, sandbox, everything_logged
):
    relay.post({"request_id": "gone", "vendors": ["dfinery"], "identity": {"external_id": "ana-1"}})
    relay.deliver("intake")
    (body,) = waiting_bodies(relay, "dfinery")
    assert "ana-1" not in body and json.loads(body)["identity_ref"]
    table = boto3.resource("dynamodb").Table(relay.ledger_table)
    for item in kept(relay, "gone"):  # say, TTL took them early
        table.delete_item(Key={"request_id": "gone", "item": item["item"]})
    calls = len(sandbox.calls())

    assert len(relay.deliver("dfinery")["batchItemFailures"]) == 1  # waits: its request is open
    assert "its identifiers are not readable while its request is open" in everything_logged()
    grow_old(relay, "gone")
    relay.receipts(WATCH, FakeContext())  # abandoned: final
    assert relay.get("gone")[1]["status"] == "abandoned"
    relay.make_visible("dfinery")
    assert relay.deliver("dfinery") == {"batchItemFailures": []}  # acknowledged, not dead-lettered
    assert relay.waiting("dfinery") == 0 and relay.in_flight("dfinery") == 0
    assert len(sandbox.calls()) == calls  # no vendor called
    assert "messages for final requests: nothing sent" in everything_logged()


def test_an_abandoned_request_drops_its_identifiers_and_its_late_messages_send_nothing(relay, sandbox):
    relay.post({"request_id": "left", "vendors": ["dfinery", "braze"], "identity": {"external_id": "ana-1"}})
    relay.deliver("intake")
    relay.deliver("dfinery")  # done; Braze's message waits (say, its function is failing)
    assert kept(relay, "left") and readable(relay) == ["ana-1"]

    relay.receipts(WATCH, FakeContext())
    assert kept(relay, "left")  # young: still needed
    grow_old(relay, "left")
    relay.receipts(WATCH, FakeContext())

    receipt = relay.get("left")[1]
    assert (receipt["status"], receipt["final"]) == ("abandoned", True)
    assert [a["vendor"] for a in receipt["awaiting"]] == ["braze"]
    assert kept(relay, "left") == [] and readable(relay) == []
    calls = len(sandbox.calls("braze"))
    assert relay.deliver("braze") == {"batchItemFailures": []}
    assert len(sandbox.calls("braze")) == calls and relay.get("left")[1] == receipt


def test_a_final_request_submitted_again_keeps_nothing_again(relay):
    body = {"request_id": "again", "vendors": ["dfinery"], "identity": {"external_id": "ana-1"}}
    answer = relay.post(body)
    relay.drain()
    relay.publish()
    assert relay.get("again")[1]["final"] and kept(relay, "again") == []
    assert relay.post(body) == answer  # the first answer, as ever
    assert kept(relay, "again") == [] and readable(relay) == []


def test_a_request_sent_straight_to_a_vendor_queue_keeps_its_identifiers_for_its_checks_until_final(
    relay, sandbox
):
    direct = {"request_id": "direct", "identity": {"external_id": "ana-1"}}
    relay.sqs.send_message(QueueUrl=relay.queue_urls["braze"], MessageBody=json.dumps(direct))
    assert relay.deliver("braze") == {"batchItemFailures": []}  # deleted; its check sent
    (check,) = waiting_bodies(relay, "braze")
    assert "ana-1" not in check and "verify" in json.loads(check)
    assert [i["item"].startswith("ID#") for i in kept(relay, "direct")] == [True]

    relay.receipts(stream_record("direct", "CLAIM"), FakeContext())
    assert kept(relay, "direct")  # its check is to come: still needed
    assert relay.deliver("braze") == {"batchItemFailures": []}  # checked: verified absent
    receipt = relay.get("direct")[1]
    assert receipt["final"] and receipt["vendors"]["braze"][0]["verification"] == "verified_absent"
    relay.receipts(stream_record("direct", "OUTCOME#braze"), FakeContext())
    assert kept(relay, "direct") == [] and readable(relay) == []

    calls = len(sandbox.calls())  # the check again, late (a duplicate, a redrive): nothing to do
    relay.sqs.send_message(QueueUrl=relay.queue_urls["braze"], MessageBody=check)
    assert relay.deliver("braze") == {"batchItemFailures": []}
    assert len(sandbox.calls()) == calls and relay.get("direct")[1] == receipt


def test_a_direct_request_final_at_one_vendor_keeps_what_another_vendor_just_kept(relay, sandbox):
    """Without intake's record nobody lists the vendors: between a function's keep and its outcome
    (the same invocation) the receipt looks final with the others' outcomes alone."""
    direct = json.dumps({"request_id": "two", "identity": {"external_id": "ana-1"}})
    relay.sqs.send_message(QueueUrl=relay.queue_urls["dfinery"], MessageBody=direct)
    relay.deliver("dfinery")  # final (Dfinery cannot be checked)
    table = boto3.resource("dynamodb").Table(relay.ledger_table)
    table.put_item(  # Braze's keep, its identifier's outcome to come
        Item={
            "request_id": "two",
            "item": "ID#braze-kept",
            "identity": {"external_id": "ana-1"},
            "kept_at_braze": "2999-01-01T00:00:00.000Z",
            "expires_at": 4_000_000_000,
        }
    )
    table.put_item(  # and the profile it found, written just before it, final
        Item={
            "request_id": "two",
            "item": "OUTCOME#braze#a-profile",
            "vendor": "braze",
            "identifier": "braze_id",
            "id_hash": "a-profile",
            "outcome": "deleted",
            "updated_at": "2999-01-01T00:00:01.000Z",
            "expires_at": 4_000_000_000,
        }
    )
    assert relay.get("two")[1]["final"]
    relay.receipts(stream_record("two", "ID#braze-kept"), FakeContext())
    assert [i["item"] for i in kept(relay, "two")] == ["ID#braze-kept"]  # not forgotten under Braze
