"""The resolution fields through the deployed relay (moto): `enrich` and `dry_run` are true or
false wherever a request enters; `learned` and `learned_from` travel only between vendor functions
(a step of an enriched request), so every entry point a caller reaches refuses them by name;
ENRICH_DEFAULT decides for a request that does not say; and a dry run is a different request
from the real one under the same request_id.

Errors name the field, never the value (an identifier, here "jane@example.com")."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.functions.test_hostile_input import SETTINGS, api_event, json_values
from tests.helpers import VENDORS, FakeContext, answer_success, deploy_relay

PERSON = {"external_id": "crm-77", "email": "jane@example.com"}
LEARNED = {"learned": [{"external_id": "jane-2024"}], "learned_from": "braze"}
NOT_A_FLAG = "must be true or false"


def shows_no_identifier(answer) -> bool:
    text = json.dumps(answer)
    return not any(value in text for value in ("crm-77", "jane@example.com", "jane-2024"))


def post_to_vendor(relay, vendor: str, body) -> tuple[int, dict]:
    answer = relay.vendors[vendor](api_event(vendor, json.dumps(body), False, {}), FakeContext())
    return answer["statusCode"], json.loads(answer["body"])


def nothing_sent(relay) -> bool:
    return [relay.waiting(vendor) for vendor in VENDORS] == [0] * len(VENDORS)


# -- learned / learned_from: unknown to every entry point a caller reaches ---------------------------


@pytest.mark.parametrize(
    "extra",
    [LEARNED, {"learned": LEARNED["learned"]}, {"learned_from": "braze"}],
    ids=["both", "learned", "learned_from"],
)
def test_learned_fields_at_intake_are_a_400_naming_them(relay, extra):
    status, answer = relay.post({"request_id": "r-learned", "identity": PERSON, **extra})
    assert status == 400
    assert answer["errors"] == [{"field": name, "reason": "unknown field"} for name in extra]
    assert shows_no_identifier(answer)
    assert relay.ledger_items() == []
    assert nothing_sent(relay)


def test_learned_fields_in_a_bulk_item_are_its_400_the_other_item_is_taken(relay):
    bulk = {
        "requests": [
            {"request_id": "b-ok", "identity": PERSON},
            {"request_id": "b-learned", "identity": PERSON, **LEARNED},
        ]
    }
    status, answer = relay.post(bulk)
    assert status == 207
    fine, learned = answer["results"]
    assert (fine["index"], fine["status"], fine["request_id"]) == (0, 202, "b-ok")
    assert learned == {
        "index": 1,
        "status": 400,
        "request_id": "b-learned",
        "errors": [
            {"field": "learned", "reason": "unknown field"},
            {"field": "learned_from", "reason": "unknown field"},
        ],
    }
    assert shows_no_identifier(answer)
    assert {i["request_id"] for i in relay.ledger_items()} == {"b-ok"}


def test_learned_fields_on_the_intake_queue_are_recorded_rejected_and_not_retried(relay):
    body = {"request_id": "q-learned", "identity": PERSON, **LEARNED}
    relay.sqs.send_message(QueueUrl=relay.queue_urls["intake"], MessageBody=json.dumps(body))
    assert relay.deliver("intake") == {"batchItemFailures": []}
    assert (relay.waiting("intake"), relay.in_flight("intake")) == (0, 0)
    status, receipt = relay.get("q-learned")
    assert (status, receipt["status"]) == (200, "rejected")
    assert receipt["errors"] == [
        {"field": "learned", "reason": "unknown field"},
        {"field": "learned_from", "reason": "unknown field"},
    ]
    assert shows_no_identifier(receipt)
    assert nothing_sent(relay)


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize(
    "extra",
    [LEARNED, {"learned": LEARNED["learned"]}, {"learned_from": "braze"}],
    ids=["both", "learned", "learned_from"],
)
def test_learned_fields_at_a_vendor_route_are_a_400_naming_them(relay, httpserver, vendor, extra):
    status, answer = post_to_vendor(relay, vendor, {"request_id": "v-learned", "identity": PERSON, **extra})
    assert status == 400
    assert answer["errors"] == [{"field": name, "reason": "unknown field"} for name in extra]
    assert shows_no_identifier(answer)
    assert httpserver.log == [], "the vendor was not called"
    assert relay.ledger_items() == []


# -- enrich / dry_run: true or false, a dry run is not the real request -------------------------------


def test_a_bulk_item_with_a_dry_run_that_is_not_a_flag_is_its_400_the_other_is_202(relay):
    bulk = {
        "requests": [
            {"request_id": "b-yes", "identity": PERSON, "dry_run": "yes"},
            {"request_id": "b-fine", "identity": PERSON, "dry_run": True},
        ]
    }
    status, answer = relay.post(bulk)
    assert status == 207
    refused, taken = answer["results"]
    assert refused == {
        "index": 0,
        "status": 400,
        "request_id": "b-yes",
        "errors": [{"field": "dry_run", "reason": NOT_A_FLAG}],
    }
    assert (taken["index"], taken["status"], taken["request_id"]) == (1, 202, "b-fine")
    assert shows_no_identifier(answer)
    assert relay.get("b-yes")[0] == 404
    status, receipt = relay.get("b-fine")
    assert (status, receipt["dry_run"]) == (200, True)


@pytest.mark.parametrize("flag", ["dry_run", "enrich"])
def test_the_same_request_id_as_a_dry_run_or_enriched_after_the_real_one_is_a_409(relay, flag):
    real = {"request_id": "r-twice", "identity": PERSON}
    status, first = relay.post(real)
    assert status == 202
    assert relay.post({**real, flag: False}) == (202, first)  # false is what it said: the same request
    status, answer = relay.post({**real, flag: True})
    assert status == 409
    assert answer == {
        "request_id": "r-twice",
        "message": "this request_id already names a different request",
    }
    status, receipt = relay.get("r-twice")
    assert (status, receipt[flag]) == (200, False), "the first request stands"


def test_a_dry_run_first_then_the_real_one_under_its_id_is_a_409(relay):
    status, _ = relay.post({"request_id": "r-dry", "identity": PERSON, "dry_run": True})
    assert status == 202
    status, answer = relay.post({"request_id": "r-dry", "identity": PERSON})
    assert (status, answer["request_id"]) == (409, "r-dry")
    status, bulk = relay.post({"requests": [{"request_id": "r-dry", "identity": PERSON}]})
    assert status == 207
    assert [(r["index"], r["status"]) for r in bulk["results"]] == [(0, 409)]


def test_without_enrich_default_a_request_that_does_not_say_is_not_enriched(relay):
    assert relay.post({"request_id": "r-plain", "identity": PERSON})[0] == 202
    status, receipt = relay.get("r-plain")
    assert (status, receipt["enrich"], receipt["dry_run"]) == (200, False, False)


@pytest.fixture
def enriching_relay(vendor_function, httpserver, monkeypatch):
    """The deployed relay with EnrichByDefault set: ENRICH_DEFAULT=true in the intake's settings."""
    monkeypatch.setenv("ENRICH_DEFAULT", "true")
    httpserver.expect_request("").respond_with_handler(answer_success)
    return deploy_relay(vendor_function, monkeypatch)


def vendor_messages(relay) -> list[dict]:
    return [json.loads(m["Body"]) for vendor in VENDORS for m in relay.all_messages(vendor)]


def test_with_enrich_default_a_request_that_does_not_say_is_enriched(enriching_relay):
    relay = enriching_relay
    status, answer = relay.post({"request_id": "r-default", "identity": PERSON})
    assert status == 202 and answer["vendors"]
    status, receipt = relay.get("r-default")
    assert (status, receipt["enrich"], receipt["dry_run"]) == (200, True, False)
    (item,) = [i for i in relay.ledger_items() if (i["request_id"], i["item"]) == ("r-default", "REQUEST")]
    assert item["enrich"] is True
    messages = vendor_messages(relay)
    assert len(messages) == len(answer["vendors"])
    assert all(m["enrich"] is True for m in messages)
    # The same request again: the default makes it the same, enriched, request.
    assert relay.post({"request_id": "r-default", "identity": PERSON}) == (202, answer)
    assert relay.post({"request_id": "r-default", "identity": PERSON, "enrich": True}) == (202, answer)


def test_with_enrich_default_a_request_that_says_false_stays_unenriched(enriching_relay):
    relay = enriching_relay
    assert relay.post({"request_id": "r-no", "identity": PERSON, "enrich": False})[0] == 202
    status, receipt = relay.get("r-no")
    assert (status, receipt["enrich"]) == (200, False)
    (item,) = [i for i in relay.ledger_items() if (i["request_id"], i["item"]) == ("r-no", "REQUEST")]
    assert item["enrich"] is False
    assert all("enrich" not in m for m in vendor_messages(relay))
    # Without `enrich` now, the default makes it a different request.
    status, conflict = relay.post({"request_id": "r-no", "identity": PERSON})
    assert (status, conflict["request_id"]) == (409, "r-no")


def test_with_enrich_default_a_bulk_item_that_does_not_say_is_enriched(enriching_relay):
    relay = enriching_relay
    bulk = {
        "requests": [
            {"request_id": "b-default", "identity": PERSON},
            {"request_id": "b-off", "identity": PERSON, "enrich": False},
        ]
    }
    status, answer = relay.post(bulk)
    assert status == 202
    assert [r["status"] for r in answer["results"]] == [202, 202]
    assert relay.get("b-default")[1]["enrich"] is True
    assert relay.get("b-off")[1]["enrich"] is False


def test_with_enrich_default_an_intake_queue_message_that_does_not_say_is_enriched(enriching_relay):
    relay = enriching_relay
    for body in (
        {"request_id": "q-default", "identity": PERSON},
        {"request_id": "q-off", "identity": PERSON, "enrich": False},
    ):
        relay.sqs.send_message(QueueUrl=relay.queue_urls["intake"], MessageBody=json.dumps(body))
    assert relay.deliver("intake") == {"batchItemFailures": []}
    assert relay.get("q-default")[1]["enrich"] is True
    assert relay.get("q-off")[1]["enrich"] is False


# -- Any JSON but true or false is refused, with the field named -------------------------------------

not_flags = json_values.filter(lambda value: not isinstance(value, bool))


@SETTINGS
@given(
    flag=st.sampled_from(["enrich", "dry_run"]),
    value=not_flags,
    entry=st.sampled_from(["intake", "bulk", *VENDORS]),
)
def test_any_json_but_true_or_false_is_refused_naming_the_flag(relay, flag, value, entry):
    body = {"request_id": "r-flag", "identity": PERSON, flag: value}
    expected = [{"field": flag, "reason": NOT_A_FLAG}]
    if entry == "intake":
        status, answer = relay.post(body)
        assert (status, answer["errors"]) == (400, expected)
    elif entry == "bulk":
        status, answer = relay.post({"requests": [body]})
        assert status == 207
        assert answer["results"] == [{"index": 0, "status": 400, "request_id": "r-flag", "errors": expected}]
    else:
        status, answer = post_to_vendor(relay, entry, body)
        assert (status, answer["errors"]) == (400, expected)
    assert shows_no_identifier(answer)
    assert relay.ledger_items() == []
