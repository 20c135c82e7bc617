"""The defects found under vendor faults, hostile input and redelivery, each driven the way AWS
runs the functions (moto, a real local vendor server), so that none comes back."""

from __future__ import annotations

import base64
import json

import pytest
from werkzeug import Response

from erasure.pacing import RateGate
from tests.helpers import FakeContext, answer_success, event, outcomes, request

INSIDER = "/api/user/v1/identity"
DEEP_JSON = "[" * 100_000 + "]" * 100_000
SURROGATE = '{"action": "remove_identifier", "identity": {"email": "\\ud800@example.com"}}'


def receipt_outcomes(receipt):
    return {(v, o["identifier"]): o for v, items in receipt["vendors"].items() for o in items}


def identifiers_sent(httpserver, path):
    return [req.get_json()["identifiers"] for req, _ in httpserver.log if req.path == path]


def test_an_identifier_final_at_the_vendor_is_not_sent_again_when_its_record_is_retried(relay, httpserver):
    httpserver.clear_all_handlers()

    def answer(req):
        if req.path == INSIDER and "phone_number" in req.get_json()["identifiers"]:
            return Response(json.dumps({"error": "unavailable"}), 503)
        return answer_success(req)

    httpserver.expect_request("").respond_with_handler(answer)
    person = {"email": "a@example.com", "phone_number": "+6598765432"}
    relay.post({"request_id": "r-1", "action": "remove_identifier", "identity": person})
    assert len(relay.deliver("insider")["batchItemFailures"]) == 1
    relay.make_visible("insider")
    assert len(relay.deliver("insider")["batchItemFailures"]) == 1  # the phone is still failing
    sent = identifiers_sent(httpserver, INSIDER)
    assert sent.count({"email": "a@example.com"}) == 1
    assert sent.count({"phone_number": "+6598765432"}) == 2
    email = receipt_outcomes(relay.get("r-1")[1])[("insider", "email")]
    assert (email["outcome"], email["attempts"]) == ("deleted", 1)


def test_the_vendor_route_answers_a_final_identifier_from_the_ledger_without_sending_it(relay, httpserver):
    body = {"request_id": "r-2", "action": "remove_identifier", "identity": {"email": "b@example.com"}}
    api = event("insider", "api")
    api["body"] = json.dumps(body)
    first = relay.vendors["insider"](api, FakeContext())
    second = relay.vendors["insider"](api, FakeContext())
    assert first["statusCode"] == second["statusCode"] == 200
    assert [o["outcome"] for o in json.loads(second["body"])["outcomes"]] == ["deleted"]
    assert len(identifiers_sent(httpserver, INSIDER)) == 1


def test_absent_after_an_unanswered_attempt_says_that_attempt_may_have_removed_it(relay, httpserver):
    httpserver.clear_all_handlers()
    answers = iter(
        [
            Response(json.dumps({"error": "upstream timeout"}), 504),  # applied, answer lost
            Response(json.dumps({"error": "no such user for these identifiers: no data"}), 404),
        ]
    )
    httpserver.expect_request(INSIDER).respond_with_handler(lambda req: next(answers))
    relay.post({"request_id": "r-3", "action": "remove_identifier", "identity": {"uuid": "u-3"}})
    relay.deliver("insider")
    relay.make_visible("insider")
    assert relay.deliver("insider") == {"batchItemFailures": []}
    uuid = receipt_outcomes(relay.get("r-3")[1])[("insider", "uuid")]
    assert uuid["outcome"] == "already_absent" and uuid["attempts"] == 2
    assert "an earlier attempt (transient: upstream timeout) may have deleted it" in uuid["reason"]


def api_with(body_text, base64_encoded=False, function="intake"):
    api = event(function, "api")
    api["body"] = body_text
    api["isBase64Encoded"] = base64_encoded
    return api


HOSTILE_BODIES = [
    pytest.param(DEEP_JSON, False, "body", id="deep-json"),
    pytest.param(SURROGATE, False, "identity.email", id="lone-surrogate"),
    pytest.param("not base64!", True, "body", id="bad-base64"),
    pytest.param(base64.b64encode(b"\xff\xfe{}").decode(), True, "body", id="base64-not-utf8"),
    pytest.param('{"identity": {"external_id": "a\\u0000b"}}', False, "identity.external_id", id="nul"),
]


@pytest.mark.parametrize(("body", "encoded", "field"), HOSTILE_BODIES)
@pytest.mark.parametrize("function", ["intake", "insider", "braze"])
def test_hostile_api_bodies_are_a_400_naming_the_field(relay, function, body, encoded, field):
    handler = relay.intake if function == "intake" else relay.vendors[function]
    answer = handler(api_with(body, encoded, function), FakeContext())
    assert answer["statusCode"] == 400
    assert field in [e["field"] for e in json.loads(answer["body"])["errors"]]


def test_hostile_records_on_a_vendor_queue_fail_no_one_else(relay, httpserver):
    good = json.dumps({"action": "remove_identifier", "identity": {"email": "c@example.com"}})
    for body in (DEEP_JSON, SURROGATE, good):
        relay.sqs.send_message(QueueUrl=relay.queue_urls["insider"], MessageBody=body)
    relay.sqs.send_message(
        QueueUrl=relay.queue_urls["insider"],
        MessageBody=good.replace("c@", "d@"),
        MessageAttributes={"original_message_id": {"DataType": "String", "StringValue": "x" * 5000}},
    )
    assert relay.deliver("insider") == {"batchItemFailures": []}
    assert relay.waiting("insider") == 0
    assert len(identifiers_sent(httpserver, INSIDER)) == 2


def test_hostile_intake_messages_are_recorded_rejected_not_retried(relay):
    too_long = {"original_message_id": {"DataType": "String", "StringValue": "m" * 5000}}
    for body, attributes in ((DEEP_JSON, {}), (SURROGATE, {}), ('{"identity": 7}', too_long)):
        relay.sqs.send_message(
            QueueUrl=relay.queue_urls["intake"], MessageBody=body, MessageAttributes=attributes
        )
    assert relay.deliver("intake") == {"batchItemFailures": []}
    rejected = [i for i in relay.ledger_items() if i.get("status") == "rejected"]
    assert len(rejected) == 3
    assert all(len(i["request_id"]) <= 128 for i in rejected)
    assert sorted(e["field"] for i in rejected for e in i["errors"]) == ["body", "identity", "identity.email"]


def test_the_same_request_twice_in_one_bulk_is_fanned_out_once(relay):
    item = {"request_id": "r-4", "identity": {"external_id": "u4"}}
    status, body = relay.post({"requests": [item, item]})
    assert status == 202
    assert [r["status"] for r in body["results"]] == [202, 202]
    assert (relay.waiting("clevertap"), relay.waiting("dfinery")) == (1, 1)


def test_a_request_id_reused_in_one_bulk_for_another_person_is_a_conflict(relay):
    first = {"request_id": "r-5", "identity": {"external_id": "u5"}}
    other = {"request_id": "r-5", "identity": {"external_id": "someone-else"}}
    status, body = relay.post({"requests": [first, other]})
    assert status == 207
    assert [r["status"] for r in body["results"]] == [202, 409]
    assert relay.waiting("dfinery") == 1


def test_pacing_never_waits_past_the_functions_deadline(httpserver, make_relay):
    httpserver.expect_request("/api/v1/identities/delete").respond_with_handler(answer_success)
    relay = make_relay("dfinery", read_timeout=5.0)
    slept: list[float] = []
    relay.gates = {"delete": RateGate(6, sleep=slept.append)}  # one call every 10 s
    people = [request({"external_id": f"u{n}"}) for n in range(3)]
    # 15 s left and 8 s needed for a call: the first may start, the second (due at 10 s) may not.
    results = relay.run(people, lambda: 15_000)
    assert sorted(o for per in results for _, o in outcomes(per)) == ["deleted", "transient", "transient"]
    assert slept == []
    assert len(httpserver.log) == 1


@pytest.mark.parametrize("request_id", ['a"b', "tab\there", "é-ü", "x" * 3000, "semi;colon"])
def test_a_status_request_for_any_id_that_names_no_request_is_the_documented_404(relay, request_id):
    status, body = relay.get(request_id)
    assert status == 404
    assert body == {"message": "no deletion request with this request_id", "field": "request_id"}


@pytest.mark.parametrize("invocation", [None, [], "text", {}, {"Records": "x"}, {"httpMethod": 3}])
@pytest.mark.parametrize("function", ["intake", "status", "dfinery"])
def test_an_invocation_that_is_no_known_event_is_answered_400(relay, function, invocation):
    handler = {"intake": relay.intake, "status": relay.status}.get(function) or relay.vendors[function]
    assert handler(invocation, FakeContext())["statusCode"] == 400
