"""The outside review's defects (issue 18), each driven the way AWS runs the functions (moto, a
real local vendor server), so that none comes back. Each test failed before its fix."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from werkzeug import Response

from erasure.aws_clients import MAX_HIDE_S, FanOutFailed, sqs_batches
from erasure.handlers.sqs import REQUEUE_AFTER_RECEIVES, RetryScheduler
from erasure.ledger import LedgerTable, OutcomeBook, OutcomeNotRecorded, RequestBook
from erasure.observability import IdentifierHasher
from erasure.outcomes import IdentifierResult, Outcome, Verdict
from erasure.vendors import CONNECTORS
from tests.helpers import HASH_KEY, VENDORS, FakeContext, answer_success, event, request
from tools.sam_local import sqs_record

INSIDER = "/api/user/v1/identity"


def route(relay, vendor, body):
    api = event(vendor, "api")
    api["body"] = json.dumps(body)
    answer = relay.vendors[vendor](api, FakeContext())
    return answer["statusCode"], json.loads(answer["body"])


def receive(relay, queue):
    return relay.sqs.receive_message(
        QueueUrl=relay.queue_urls[queue],
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])


def invoke(relay, queue, messages, context=None):
    records = [sqs_record(m, relay.queue_arns[queue], "us-east-1") for m in messages]
    return relay.vendors[queue]({"Records": records}, context or FakeContext())


def answers_in_turn(httpserver, path, *answers):
    httpserver.clear_all_handlers()
    replies = iter(answers)
    httpserver.expect_request(path).respond_with_handler(lambda req: next(replies))
    httpserver.expect_request("").respond_with_handler(answer_success)


# -- 2. one request_id names one request, whichever entry point used it first ----------------------

REMOVE = {"request_id": "x-1", "action": "remove_identifier", "identity": {"external_id": "crm-1"}}
DELETE = {"request_id": "x-1", "action": "delete_profile", "identity": {"external_id": "crm-1"}}


def test_a_request_id_used_on_a_vendor_route_is_refused_for_another_action(relay, httpserver):
    assert route(relay, "braze", REMOVE)[0] == 200
    status, body = route(relay, "braze", DELETE)
    assert status == 409 and body["request_id"] == "x-1"
    assert relay.post(DELETE)[0] == 409  # intake too
    assert route(relay, "braze", REMOVE)[0] == 200  # the same request again is answered
    assert [r.path for r, _ in httpserver.log].count("/users/delete") == 0


def test_a_request_id_taken_by_intake_is_refused_on_a_vendor_route_for_another_action(relay, httpserver):
    assert relay.post(REMOVE)[0] == 202
    assert route(relay, "braze", DELETE)[0] == 409
    assert route(relay, "braze", REMOVE)[0] == 200


def test_a_message_sent_straight_to_a_vendor_queue_cannot_reuse_an_id_for_another_action(
    relay, httpserver, everything_logged
):
    assert route(relay, "braze", REMOVE)[0] == 200
    relay.sqs.send_message(QueueUrl=relay.queue_urls["braze"], MessageBody=json.dumps(DELETE))
    everything_logged()
    assert relay.deliver("braze") == {"batchItemFailures": []}  # refused for good, not retried
    assert "request_id reused for a different request" in everything_logged()
    assert [r.path for r, _ in httpserver.log].count("/users/delete") == 0


# -- 3. every item of a bulk gets its own answer, whatever fails -----------------------------------


def bulk(n, prefix="b"):
    return [{"request_id": f"{prefix}-{i}", "identity": {"external_id": f"crm-{i}"}} for i in range(n)]


def test_a_queue_refusing_one_batch_mid_bulk_costs_only_that_batch(relay, monkeypatch):
    import erasure.aws_clients as aws_clients

    real, calls = aws_clients._send_batches, []

    def refuse_the_twentieth(client, queue_url, entries):
        calls.append(queue_url)
        if len(calls) == 20:
            raise FanOutFailed("1 message(s) not accepted: ['InternalError']")
        return real(client, queue_url, entries)

    monkeypatch.setattr(aws_clients, "_send_batches", refuse_the_twentieth)
    status, answer = relay.post({"requests": bulk(250)})
    statuses = [r["status"] for r in answer["results"]]
    assert status == 207 and set(statuses) == {202, 503} and statuses.count(503) == 10
    assert [r["index"] for r in answer["results"]] == list(range(250))
    unsent = [r for r in answer["results"] if r["status"] == 503]
    assert all(r["request_id"].startswith("b-") and "resubmit" in r["message"] for r in unsent)
    again = [b for b in bulk(250) if b["request_id"] in {r["request_id"] for r in unsent}]
    assert relay.post({"requests": again})[0] == 202
    deletion = request({"external_id": "crm-0"})  # each item of bulk(): one external id, delete_profile
    (external_id,) = deletion.identifiers
    serving = [not CONNECTORS[v].skip_reason(deletion.action, external_id) for v in VENDORS]
    assert any(serving)
    # Every vendor that serves external ids has each request once; the others none.
    assert [relay.waiting(v) for v in VENDORS] == [250 if serves else 0 for serves in serving]


def test_a_ledger_failing_in_one_chunk_answers_that_chunk_and_goes_on(relay, monkeypatch):
    real, calls = RequestBook.open_requests, []

    def fail_the_second(self, entries):
        calls.append(len(entries))
        if len(calls) == 2:
            raise RuntimeError("ProvisionedThroughputExceededException")
        return real(self, entries)

    monkeypatch.setattr(RequestBook, "open_requests", fail_the_second)
    status, answer = relay.post({"requests": bulk(250)})
    statuses = [r["status"] for r in answer["results"]]
    assert status == 207 and statuses == [202] * 100 + [503] * 100 + [202] * 50
    assert all(r["request_id"] == f"b-{r['index']}" for r in answer["results"])


# -- 4. large non-ASCII requests fan out ---------------------------------------------------------------


def test_ten_large_non_ascii_requests_fan_out(relay):
    smile = "\U0001f600" * 512
    identity = {"external_id": smile, "custom": {f"c{k}": smile for k in range(20)}}
    requests = [
        {"request_id": f"big-{n}", "identity": identity | {"email": f"big{n}@example.com"}} for n in range(10)
    ]
    status, answer = relay.post({"requests": requests})
    assert status == 202, answer
    assert relay.waiting("braze") == 10


def test_sqs_batches_are_cut_by_bytes_as_well_as_by_count():
    entries = [{"MessageBody": "ë" * 60_000} for _ in range(10)]  # 120 KB each in UTF-8
    assert [len(b) for b in sqs_batches(entries)] == [2, 2, 2, 2, 2]
    assert [len(b) for b in sqs_batches([{"MessageBody": "x"}] * 25)] == [10, 10, 5]


# -- 6. all items of a request expire together ---------------------------------------------------------


def test_all_items_of_a_request_expire_together_and_an_expired_one_is_gone(relay, httpserver):
    relay.post({"request_id": "ttl-1", "identity": {"external_id": "crm-9", "email": "t@example.com"}})
    relay.deliver("intake")
    time.sleep(1.1)  # a later write must not get a later expiry
    for vendor in VENDORS:
        relay.deliver(vendor)
    items = [i for i in relay.ledger_items() if i["request_id"] == "ttl-1"]
    kept = [i for i in items if i["item"].startswith("ID#")]  # its identifiers: gone long before
    rest = [i for i in items if i not in kept]
    assert len(rest) > 4 and len({i["expires_at"] for i in rest}) == 1
    assert kept and max(i["expires_at"] for i in kept) < rest[0]["expires_at"]
    table = boto3.resource("dynamodb").Table(relay.ledger_table)
    for item in items:  # TTL's time has come; DynamoDB deletes within days, not at once
        table.update_item(
            Key={"request_id": "ttl-1", "item": item["item"]},
            UpdateExpression="SET expires_at = :past",
            ExpressionAttributeValues={":past": int(time.time()) - 60},
        )
    assert relay.get("ttl-1")[0] == 404
    sent = len(httpserver.log)
    assert relay.post({"request_id": "ttl-1", "identity": {"external_id": "crm-9"}})[0] == 202
    relay.deliver("braze")
    assert len(httpserver.log) > sent  # sent anew, not answered from the stale outcomes


# -- 7 and 14. a confirmed deletion is never lost, nor its absence claimed as never there ---------------


def test_two_deliveries_of_one_message_with_one_receive_count_keep_the_confirmed_deletion(relay, httpserver):
    answers_in_turn(
        httpserver, INSIDER, Response(json.dumps({"error": "unavailable"}), 503), Response("{}", 200)
    )
    relay.post({"request_id": "dup-1", "action": "remove_identifier", "identity": {"uuid": "u-1"}})
    relay.deliver("intake")
    (message,) = receive(relay, "insider")
    invoke(relay, "insider", [message], FakeContext("a"))  # transient
    invoke(relay, "insider", [message], FakeContext("b"))  # SQS's duplicate: deleted
    (uuid,) = relay.get("dup-1")[1]["vendors"]["insider"]
    assert uuid["outcome"] == "deleted"


def test_a_final_outcome_refused_over_one_not_final_fails_loudly(relay):
    ledger = OutcomeBook(
        LedgerTable(boto3.client("dynamodb"), relay.ledger_table, 400), IdentifierHasher(HASH_KEY.encode())
    )
    deletion = request({"uuid": "u-2"}, "remove_identifier")
    (identifier,) = deletion.identifiers

    def result(outcome):
        return IdentifierResult(
            deletion.request_id, "insider", identifier, Verdict(outcome), "2026-01-01T00:00:00.000Z"
        )

    ledger.record([(result(Outcome.TRANSIENT), "m:1")], {})
    with pytest.raises(OutcomeNotRecorded):
        ledger.record([(result(Outcome.DELETED), "m:1")], {})


def test_absent_after_a_confirmed_deletion_whose_write_failed_says_an_earlier_delivery_may_have_removed_it(
    relay, httpserver, monkeypatch
):
    answers_in_turn(
        httpserver,
        INSIDER,
        Response("{}", 200),  # deleted; the ledger write then fails
        Response(json.dumps({"error": "no such user for these identifiers: no data"}), 404),
    )
    real, writes = OutcomeBook.record, []

    def fail_once(self, results, expiries):
        writes.append(len(results))
        if len(writes) == 1:
            raise RuntimeError("ledger unreachable")
        return real(self, results, expiries)

    monkeypatch.setattr(OutcomeBook, "record", fail_once)
    relay.post({"request_id": "lost-1", "action": "remove_identifier", "identity": {"uuid": "u-3"}})
    relay.deliver("intake")
    assert len(relay.deliver("insider")["batchItemFailures"]) == 1
    relay.make_visible("insider")
    assert relay.deliver("insider") == {"batchItemFailures": []}
    (uuid,) = relay.get("lost-1")[1]["vendors"]["insider"]
    assert uuid["outcome"] == "already_absent"
    assert "an earlier delivery (its answer unrecorded) may have deleted it" in uuid["reason"]


# -- 11. waits SQS can honour, and long waits that outlast maxReceiveCount -------------------------------


def throttled(seconds):
    verdict = Verdict(Outcome.THROTTLED, "daily quota", 429, seconds)
    return IdentifierResult("r", "braze", request({"external_id": "e"}).identifiers[0], verdict, None)


def test_a_throttle_wait_is_capped_at_what_sqs_can_hide_a_message():
    assert RetryScheduler.wait_seconds([throttled(12 * 3600)], 1) == MAX_HIDE_S


def test_a_throttled_record_received_often_is_sent_anew_with_its_id_and_time(relay, httpserver, monkeypatch):
    import erasure.aws_clients as aws_clients

    monkeypatch.setattr(aws_clients, "MAX_SQS_DELAY_S", 0)  # the new message is due at once here
    httpserver.clear_all_handlers()
    quota = Response(json.dumps({"message": "daily quota"}), 429, {"Retry-After": "43200"})
    httpserver.expect_request("").respond_with_handler(lambda req: quota)
    relay.sqs.send_message(
        QueueUrl=relay.queue_urls["braze"], MessageBody=json.dumps({"identity": {"external_id": "e-1"}})
    )
    (message,) = receive(relay, "braze")
    message["Attributes"]["ApproximateReceiveCount"] = str(REQUEUE_AFTER_RECEIVES)
    assert invoke(relay, "braze", [message]) == {"batchItemFailures": []}  # acknowledged: sent anew
    relay.sqs.delete_message(QueueUrl=relay.queue_urls["braze"], ReceiptHandle=message["ReceiptHandle"])
    (again,) = receive(relay, "braze")
    first_sent = time.strftime(
        "%Y-%m-%dT%H:%M:%S", time.gmtime(int(message["Attributes"]["SentTimestamp"]) / 1000)
    )
    body = json.loads(again["Body"])
    assert body["request_id"] == message["MessageId"]  # the id it stood for, and its time
    assert body["requested_at"].startswith(first_sent)
    assert again["MessageAttributes"]["requeues"]["StringValue"] == "1"
    assert again["Attributes"]["ApproximateReceiveCount"] == "1"  # counting afresh towards the DLQ


# -- 12. junk events are answered, never raised on -----------------------------------------------------

JUNK = [{"Records": [{}]}, {"Records": [1]}, {"Records": ["x"]}, [1], ["x"], {"Records": [{"messageId": 5}]}]


@pytest.mark.parametrize("junk", JUNK, ids=str)
def test_junk_events_raise_out_of_no_handler(relay, junk):
    for handler in (relay.intake, relay.receipts, relay.status, *relay.vendors.values()):
        handler(junk, FakeContext())  # answered: nothing escapes
