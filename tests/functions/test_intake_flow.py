"""The whole flow under moto, vendors played by a local HTTP server: POST → fan-out → vendor
functions → GET receipt. Queues are delivered the way Lambda's event source mapping does."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from werkzeug import Response

from erasure.config import VendorSettings
from erasure.http_client import HttpAnswer
from erasure.observability import IdentifierHasher
from erasure.relay import Relay
from erasure.resolution import Resolver
from erasure.vendors import CONNECTORS
from tests.helpers import CREDENTIALS, VENDORS, FakeContext, answer_success, load_function, request
from tools.redrive import main as redrive_main
from tools.sam_local import sqs_record
from tools.vendor_sandbox import stand_in

PERSON = {
    "external_id": "crm-42",
    "guid": "ctid-42",
    "email": "jane@example.com",
    "phone_number": "+6598765432",
}


def outcomes(receipt):
    return {
        (vendor, o["identifier"]): (o["outcome"], o["attempts"])
        for vendor, items in receipt["vendors"].items()
        for o in items
    }


def serving(identity, action="delete_profile") -> list[str]:
    """The vendors, in the registry's order, that serve one of these identifiers for the action,
    as each connector declares: intake sends the request to these and skips the others."""
    deletion = request(identity, action)
    return [
        vendor
        for vendor in VENDORS
        if any(not CONNECTORS[vendor].skip_reason(deletion.action, i) for i in deletion.identifiers)
    ]


class StandInHttp:
    """An HttpClient whose vendor is the test server's stand-in, answering its documented success."""

    def send(self, call):
        url = urlsplit(call.url)
        sent = stand_in.request_of(call.method, url.path, dict(parse_qsl(url.query)), call.headers, call.body)
        reply = stand_in.answer(sent, "success")
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        return HttpAnswer(reply.status, reply.headers, body)


def documented_outcomes(identity, action="delete_profile") -> dict[tuple[str, str], str]:
    """{(vendor, identifier type): outcome} once every vendor gave its documented success: the
    connector's reading of its sandbox twin's answer (the answer the test server gives) to the
    calls it makes for these identifiers (its lookups first, where it resolves), "skipped" for
    those it does not serve."""
    deletion, found = request(identity, action), {}
    for vendor, connector in CONNECTORS.items():
        settings = VendorSettings(
            "http://vendor.test", CREDENTIALS[vendor], 1, {}, 1.0, 1.0, connector.options({})
        )
        resolver = Resolver(Relay(connector, settings, IdentifierHasher(b"k" * 32), StandInHttp()))
        (results,) = resolver.delete(resolver.resolve([deletion], None, {}), None, {})
        found.update({(vendor, r.identifier.label): str(r.verdict.outcome) for r in results})
    return found


def test_one_request_reaches_its_vendors_and_the_receipt_shows_each_outcome(relay):
    served = serving(PERSON)
    assert len(served) >= 2  # one to deliver first, and the rest awaited
    status, answer = relay.post({"request_id": "r-1", "action": "delete_profile", "identity": PERSON})
    assert status == 202
    assert answer["vendors"] == served
    assert set(answer["skipped"]) == set(VENDORS) - set(served)
    assert relay.get("r-1")[1]["status"] == "pending"

    first, rest = served[1], [v for v in served if v != served[1]]  # not the first in order
    assert relay.deliver(first) == {"batchItemFailures": []}
    receipt = relay.get("r-1")[1]
    assert receipt["status"] == "in_progress"
    assert sorted({a["vendor"] for a in receipt["awaiting"]}) == rest
    for vendor in rest:
        assert relay.deliver(vendor) == {"batchItemFailures": []}
    status, receipt = relay.get("r-1")
    assert receipt["awaiting"] == []
    assert status == 200 and receipt["status"] == "completed"
    assert outcomes(receipt) == {
        pair: (outcome, 0 if outcome == "skipped" else 1)
        for pair, outcome in documented_outcomes(PERSON).items()
    }
    deleted = receipt["vendors"]["dfinery"][1]
    assert (deleted["identifier"], deleted["outcome"], deleted["http_status"]) == (
        "external_id",
        "deleted",
        200,
    )
    assert deleted["first_attempt_at"] <= deleted["last_attempt_at"] <= deleted["completed_at"]


def test_a_vendor_that_serves_none_of_the_identifiers_is_skipped_with_the_reason(relay):
    served = serving({"guid": "ctid-9"})
    assert served and set(served) < set(VENDORS)  # some vendor serves a guid, not every one
    status, answer = relay.post({"request_id": "r-guid", "identity": {"guid": "ctid-9"}})
    assert status == 202 and answer["vendors"] == served
    assert set(answer["skipped"]) == set(VENDORS) - set(served)
    assert "serves none of these identifiers for delete_profile" in answer["skipped"]["braze"]
    assert relay.get("r-guid")[1]["skipped"] == answer["skipped"]


def test_the_same_request_twice_answers_the_same_and_fans_out_once(relay):
    body = {"action": "remove_identifier", "identity": {"external_id": "old-1", "email": "a@example.com"}}
    first = relay.post(body, headers={"Idempotency-Key": "key-1"})
    second = relay.post(body, headers={"Idempotency-Key": "key-1"})
    assert first == second and first[0] == 202 and first[1]["request_id"] == "key-1"
    assert (relay.waiting("braze"), relay.waiting("insider")) == (1, 1)


def test_a_request_id_reused_for_another_person_is_a_conflict(relay):
    relay.post({"request_id": "r-2", "identity": {"external_id": "a"}})
    status, body = relay.post({"request_id": "r-2", "identity": {"external_id": "b"}})
    assert status == 409 and body["request_id"] == "r-2"


def test_an_intake_message_delivered_twice_fans_out_once(relay):
    message = json.dumps({"request_id": "r-3", "identity": {"external_id": "u3"}})
    relay.sqs.send_message(QueueUrl=relay.queue_urls["intake"], MessageBody=message)
    relay.sqs.send_message(QueueUrl=relay.queue_urls["intake"], MessageBody=message)
    assert relay.deliver("intake") == {"batchItemFailures": []}
    assert (relay.waiting("clevertap"), relay.waiting("dfinery")) == (1, 1)


def test_a_vendor_down_leaves_the_request_partially_completed_until_its_retry(relay, httpserver):
    httpserver.clear_all_handlers()
    down = {"insider": True}

    def answer(req):
        if req.path == "/api/user/v1/identity" and down["insider"]:
            return Response(json.dumps({"error": "unavailable"}), 503)
        return answer_success(req)

    httpserver.expect_request("").respond_with_handler(answer)
    relay.post({"request_id": "r-4", "action": "remove_identifier", "identity": PERSON})
    for vendor in serving(PERSON, "remove_identifier"):
        if vendor != "insider":  # every other vendor asked has answered
            relay.deliver(vendor)
    assert len(relay.deliver("insider")["batchItemFailures"]) == 1
    receipt = relay.get("r-4")[1]
    assert receipt["status"] == "partially_completed"
    assert outcomes(receipt)[("insider", "email")] == ("transient", 1)
    assert outcomes(receipt)[("braze", "external_id")] == ("deleted", 1)

    down["insider"] = False
    relay.make_visible("insider")
    assert relay.deliver("insider") == {"batchItemFailures": []}
    receipt = relay.get("r-4")[1]
    assert receipt["status"] == "completed"
    assert outcomes(receipt)[("insider", "email")] == ("deleted", 2)
    assert outcomes(receipt)[("insider", "phone_number")] == ("deleted", 2)


def test_a_redelivered_vendor_message_neither_double_counts_nor_moves_backwards(relay, httpserver):
    relay.post({"request_id": "r-5", "identity": {"external_id": "u5"}})
    url = relay.queue_urls["dfinery"]
    (message,) = relay.sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    record = sqs_record(message, relay.queue_arns["dfinery"], "us-east-1")
    relay.vendors["dfinery"]({"Records": [record]}, FakeContext())
    relay.vendors["dfinery"]({"Records": [record]}, FakeContext())  # the same delivery again
    assert outcomes(relay.get("r-5")[1])[("dfinery", "external_id")] == ("deleted", 1)

    httpserver.clear_all_handlers()
    httpserver.expect_request("").respond_with_json({"status": False, "code": "50000", "message": "ISE"})
    record["attributes"]["ApproximateReceiveCount"] = "2"  # a later, failing delivery
    relay.vendors["dfinery"]({"Records": [record]}, FakeContext())
    assert outcomes(relay.get("r-5")[1])[("dfinery", "external_id")] == ("deleted", 1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{not json", "body"),
        ({"identity": {"email": "not-an-email"}}, "identity.email"),
        ({"identity": {"uuid": "u"}, "vendors": ["no-such-vendor"]}, "vendors"),
        ({"requests": []}, "requests"),
        ({"requests": [{"identity": {"uuid": "u"}}], "jane@example.com": 1}, "#1"),  # never echoed
    ],
)
def test_an_invalid_api_body_is_a_400_naming_the_field(relay, body, field):
    status, answer = relay.post(body)
    assert status == 400
    assert field in [e["field"] for e in answer["errors"]]
    assert relay.ledger_items() == []


def test_an_invalid_intake_message_is_recorded_rejected_and_not_retried(relay):
    relay.sqs.send_message(
        QueueUrl=relay.queue_urls["intake"],
        MessageBody=json.dumps({"request_id": "r-6", "identity": {"phone_number": "12345"}}),
    )
    relay.sqs.send_message(QueueUrl=relay.queue_urls["intake"], MessageBody="{not json")
    assert relay.deliver("intake") == {"batchItemFailures": []}
    status, receipt = relay.get("r-6")
    assert (status, receipt["status"]) == (200, "rejected")
    assert receipt["errors"] == [{"field": "identity.phone_number", "reason": receipt["errors"][0]["reason"]}]
    assert "E.164" in receipt["errors"][0]["reason"]
    assert len([i for i in relay.ledger_items() if i.get("status") == "rejected"]) == 2
    assert relay.waiting("intake") == 0

    status, _ = relay.post(
        {"request_id": "r-6", "action": "remove_identifier", "identity": {"phone_number": "+6598765432"}}
    )
    assert status == 202, "a rejected request may be corrected under the same request_id"
    assert relay.get("r-6")[1]["status"] == "pending"


def test_a_vendors_subset_reaches_only_those_vendors(relay):
    status, answer = relay.post({"identity": {"external_id": "u7"}, "vendors": ["dfinery"]})
    assert (status, answer["vendors"], answer["skipped"]) == (202, ["dfinery"], {})
    assert (relay.waiting("dfinery"), relay.waiting("clevertap")) == (1, 0)


def test_a_bulk_body_is_answered_per_request(relay):
    status, answer = relay.post(
        {
            "requests": [
                {"request_id": "b-1", "identity": {"external_id": "u1"}},
                {"request_id": "b-2", "identity": {"email": "broken"}},
                {"request_id": "b-3", "action": "remove_identifier", "identity": {"email": "c@example.com"}},
            ]
        }
    )
    assert status == 207
    assert [r["status"] for r in answer["results"]] == [202, 400, 202]
    assert answer["results"][0]["vendors"] == serving({"external_id": "u1"})
    assert answer["results"][1]["errors"][0]["field"] == "identity.email"
    assert answer["results"][2]["vendors"] == serving({"email": "c@example.com"}, "remove_identifier")
    assert (relay.waiting("dfinery"), relay.waiting("insider"), relay.waiting("braze")) == (1, 1, 1)


def test_a_crash_before_every_vendor_is_sent_is_completed_by_the_next_delivery(relay, monkeypatch):
    missing = "https://sqs.us-east-1.amazonaws.com/123456789012/not-created-yet"
    monkeypatch.setenv("DFINERY_QUEUE_URL", missing)
    relay.intake = load_function("intake").lambda_handler
    status, body = relay.post({"request_id": "r-8", "identity": {"external_id": "u8"}})
    assert (status, body["request_ids"]) == (503, ["r-8"])
    assert relay.waiting("clevertap") == 1

    monkeypatch.setenv("DFINERY_QUEUE_URL", relay.queue_urls["dfinery"])
    relay.intake = load_function("intake").lambda_handler
    status, _ = relay.post({"request_id": "r-8", "identity": {"external_id": "u8"}})
    assert status == 202
    assert (relay.waiting("clevertap"), relay.waiting("dfinery")) == (1, 1), (
        "only the missing vendor was sent"
    )


def test_an_outcome_item_caught_mid_write_counts_as_awaiting(relay):
    relay.post({"request_id": "r-13", "identity": {"external_id": "u13"}, "vendors": ["dfinery"]})
    boto3.resource("dynamodb").Table(relay.ledger_table).put_item(
        Item={"request_id": "r-13", "item": "OUTCOME#dfinery#0123456789abcdef"}  # keys only
    )
    status, receipt = relay.get("r-13")
    assert (status, receipt["status"], len(receipt["awaiting"])) == (200, "pending", 1)


def test_an_unknown_request_id_is_a_404(relay):
    assert relay.get("never-submitted")[0] == 404


def test_the_ledger_holds_identifiers_only_for_the_messages_and_none_once_final(relay):
    relay.post({"request_id": "r-9", "action": "remove_identifier", "identity": PERSON})
    relay.post({"request_id": "r-10", "identity": PERSON})
    for queue in VENDORS:
        relay.deliver(queue)
    holding = [
        i["item"]
        for i in relay.ledger_items()
        if any(v in json.dumps(i, default=str) for v in PERSON.values())
    ]
    assert holding and all(item.startswith("ID#") for item in holding)  # kept for the messages only

    relay.publish()
    assert [relay.get(r)[1]["final"] for r in ("r-9", "r-10")] == [True, True]
    stored = json.dumps(relay.ledger_items(), default=str)
    assert "id_hash" in stored
    assert [value for value in PERSON.values() if value in stored] == []


def test_dead_letters_are_redriven_after_the_cause_is_fixed_and_the_ledger_counts_it(
    relay, httpserver, capsys
):
    httpserver.clear_all_handlers()
    httpserver.expect_request("").respond_with_json(
        {"status": False, "code": "40201", "message": "INVALID_TOKEN"}
    )
    relay.post({"request_id": "r-11", "identity": {"external_id": "u11"}, "vendors": ["dfinery"]})
    assert len(relay.deliver("dfinery")["batchItemFailures"]) == 1
    assert outcomes(relay.get("r-11")[1])[("dfinery", "external_id")] == ("unauthorized", 1)

    # What SQS does after maxReceiveCount: the message moves to the dead-letter queue.
    dlq = relay.sqs.create_queue(QueueName="erasure-relay-dfinery-dlq")["QueueUrl"]
    (message,) = relay.received["dfinery"]
    relay.sqs.send_message(QueueUrl=dlq, MessageBody=message["Body"])
    relay.sqs.delete_message(QueueUrl=relay.queue_urls["dfinery"], ReceiptHandle=message["ReceiptHandle"])

    httpserver.clear_all_handlers()
    httpserver.expect_request("").respond_with_handler(answer_success)  # credentials rotated
    assert redrive_main(["--from", dlq, "--to", relay.queue_urls["dfinery"]]) == 0
    assert "moved 1 message(s)" in capsys.readouterr().out
    assert relay.deliver("dfinery") == {"batchItemFailures": []}
    receipt = relay.get("r-11")[1]
    assert receipt["status"] == "completed"
    assert outcomes(receipt)[("dfinery", "external_id")] == ("deleted", 2)
    assert "Messages" not in relay.sqs.receive_message(QueueUrl=dlq)


def test_a_redriven_request_without_request_id_stays_the_same_request(relay, capsys):
    dlq = relay.sqs.create_queue(QueueName="erasure-relay-intake-dlq")["QueueUrl"]
    dead_id = relay.sqs.send_message(
        QueueUrl=dlq, MessageBody=json.dumps({"identity": {"external_id": "u12"}})
    )["MessageId"]
    assert redrive_main(["--from", dlq, "--to", relay.queue_urls["intake"]]) == 0
    assert relay.deliver("intake") == {"batchItemFailures": []}
    status, receipt = relay.get(dead_id)  # SQS keeps a message's id when it moves it to the DLQ
    assert (status, receipt["request_id"]) == (200, dead_id)
