"""A message whose request is final does nothing: a redriven, duplicated or late vendor message
calls no vendor, changes no receipt, and is acknowledged (neither retried nor dead-lettered)."""

from __future__ import annotations

import boto3
import pytest

from tests.helpers import VENDORS, relay_against


@pytest.fixture
def relay(aws, sandbox, monkeypatch):
    return relay_against(sandbox, monkeypatch, max_receive_count=20)


def peek(relay, queue) -> list[str]:
    answer = relay.sqs.receive_message(
        QueueUrl=relay.queue_urls[queue], MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [m["Body"] for m in answer.get("Messages", [])]


def test_every_message_of_a_final_request_delivered_again_does_nothing(relay, sandbox, everything_logged):
    relay.post({"request_id": "over", "identity": {"external_id": "ana-1", "email": "ana@example.com"}})
    relay.deliver("intake")
    sent = {vendor: peek(relay, vendor) for vendor in VENDORS}
    for vendor in VENDORS:
        assert relay.deliver(vendor) == {"batchItemFailures": []}
    relay.publish()
    receipt = relay.get("over")[1]
    assert receipt["final"] is True
    calls = len(sandbox.calls())

    for vendor, bodies in sent.items():  # a redrive from the DLQ, or SQS's late duplicate
        for body in bodies:
            relay.sqs.send_message(QueueUrl=relay.queue_urls[vendor], MessageBody=body)
        assert relay.deliver(vendor) == {"batchItemFailures": []}, vendor  # acknowledged
        assert relay.waiting(vendor) == 0

    assert len(sandbox.calls()) == calls  # no vendor called
    assert relay.get("over")[1] == receipt  # no receipt changed
    assert "messages for final requests: nothing sent" in everything_logged()


def test_a_request_open_past_its_longest_life_is_abandoned_by_the_watch_and_says_what_was_not_done(
    aws, sandbox, monkeypatch
):
    from tests.helpers import FakeContext

    monkeypatch.setenv("REQUEST_MAX_LIFETIME_DAYS", "15")
    relay = relay_against(sandbox, monkeypatch, max_receive_count=20, verify=True)
    relay.post({"request_id": "stuck", "vendors": ["dfinery", "braze"], "identity": {"external_id": "ana-1"}})
    relay.deliver("intake")
    relay.deliver("dfinery")  # done; Braze's message never comes back (say, lost to its DLQ)
    watch = {"source": "aws.events", "detail-type": "Scheduled Event"}

    relay.receipts(watch, FakeContext())
    assert relay.get("stuck")[1]["status"] != "abandoned"  # young: left open
    boto3.resource("dynamodb").Table(relay.ledger_table).update_item(  # sixteen days later
        Key={"request_id": "stuck", "item": "REQUEST"},
        UpdateExpression="SET created_at = :then",
        ExpressionAttributeValues={":then": "2000-01-01T00:00:00.000Z"},
    )
    relay.receipts(watch, FakeContext())
    receipt = relay.get("stuck")[1]

    assert (receipt["status"], receipt["final"]) == ("abandoned", True) and receipt["abandoned_at"]
    assert [a["vendor"] for a in receipt["awaiting"]] == ["braze"]  # what was not done, said
    assert {o["outcome"] for o in receipt["vendors"]["dfinery"]} == {"deleted"}  # what was
    assert relay.status_events()[-1]["detail"]["status"] == "abandoned"
    assert "deadline_watch" not in next(i for i in relay.ledger_items() if i["item"] == "REQUEST")
