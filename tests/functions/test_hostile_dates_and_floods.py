"""Dates no request has and floods of bad fields, through the deployed relay (moto).

A date the vendor functions cannot read back must be refused at intake, never accepted then
dropped downstream; an error list must fit what carries it: a Lambda answer (6 MB), a ledger item
(DynamoDB's 400 KB) and a log line (CloudWatch's 256 KB)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import VENDORS, json_lines

PERSON = {"external_id": "crm-77"}
LOG_LINE_LIMIT = 256 * 1024
ITEM_LIMIT = 400 * 1024


def flood(fields: int, value: object = 0, request_id: str | None = None) -> dict:
    """A valid request but for `fields` unknown fields."""
    body = {"request_id": request_id} if request_id else {}
    return {**body, "identity": PERSON, **{f"f{n}": value for n in range(fields)}}


def send_to_intake(relay, body) -> None:
    message = json.dumps(body, separators=(",", ":"))
    assert len(message) < 256 * 1024  # SQS's message size
    relay.sqs.send_message(QueueUrl=relay.queue_urls["intake"], MessageBody=message)


def rejected_item(relay, request_id: str) -> dict:
    (item,) = [i for i in relay.ledger_items() if i["request_id"] == request_id]
    assert item["status"] == "rejected"
    return item


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"due_by": "0999-12-31"}, "due_by"),
        ({"due_by": "1999-01-01"}, "due_by"),
        ({"due_by": "9999-12-31T23:00-05:00"}, "due_by"),
        ({"requested_at": "0100-01-01T00:00:00Z"}, "requested_at"),
        ({"requested_at": "9999-12-31T23:00-05:00"}, "requested_at"),
        ({"requested_at": "2024-06-24T00:00:00Z", "due_by": "2034-06-24"}, "due_by"),
    ],
)
def test_an_implausible_date_is_a_400_naming_the_field(relay, extra, field):
    status, answer = relay.post({"request_id": "r-date", "identity": PERSON, **extra})
    assert status == 400
    assert [e["field"] for e in answer["errors"]] == [field]
    assert extra[field][:10] not in json.dumps(answer), "the value is never echoed"
    assert relay.ledger_items() == []
    assert [relay.waiting(vendor) for vendor in VENDORS] == [0] * len(VENDORS)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"requested_at": "0100-01-01T00:00:00Z"}, "requested_at"),
        ({"due_by": "0999-12-31"}, "due_by"),
    ],
)
def test_an_implausible_date_on_the_intake_queue_is_recorded_rejected_and_not_retried(relay, extra, field):
    send_to_intake(relay, {"request_id": "r-old", "identity": PERSON, **extra})
    assert relay.deliver("intake") == {"batchItemFailures": []}
    status, receipt = relay.get("r-old")
    assert (status, receipt["status"]) == (200, "rejected")
    assert [e["field"] for e in receipt["errors"]] == [field]
    assert (relay.waiting("intake"), relay.in_flight("intake")) == (0, 0)
    assert [relay.waiting(vendor) for vendor in VENDORS] == [0] * len(VENDORS)


def test_a_request_at_the_dates_boundaries_reaches_every_vendor_and_completes(relay):
    body = {
        "request_id": "r-2000",
        "identity": PERSON,
        "requested_at": "2000-01-01T00:00:00Z",
        "due_by": "2001-12-31",
    }
    status, answer = relay.post(body)
    assert status == 202
    for vendor in answer["vendors"]:  # each vendor function parses the message again
        assert relay.deliver(vendor) == {"batchItemFailures": []}
    status, receipt = relay.get("r-2000")
    assert (status, receipt["status"]) == (200, "completed")
    assert receipt["requested_at"] == "2000-01-01T00:00:00.000Z"
    assert receipt["due_by"] == "2001-12-31T23:59:59.999Z"


def test_a_3_mb_body_of_unknown_fields_gets_a_short_400(relay, everything_logged):
    body = json.dumps(flood(100_000, "x" * 20))
    assert 2_500_000 < len(body) < 3_500_000
    everything_logged()
    api = relay.post(body)
    status, answer = api
    assert status == 400
    assert len(json.dumps(answer)) < 100_000
    assert len(answer["errors"]) == 21
    assert answer["errors"][0] == {"field": "f0", "reason": "unknown field"}
    assert answer["errors"][-1] == {"field": "body", "reason": "and 99,980 more errors not listed"}
    lines = everything_logged().splitlines()
    assert lines and max(len(line.encode()) for line in lines) < LOG_LINE_LIMIT
    assert any(line.get("message") == "request rejected" for line in json_lines("\n".join(lines)))
    assert relay.ledger_items() == []


def test_a_bulk_item_flooded_with_unknown_fields_is_answered_briefly(relay):
    bulk = {"requests": [flood(20_000, request_id="b-flood"), {"request_id": "b-ok", "identity": PERSON}]}
    status, answer = relay.post(bulk)
    assert status == 207
    flooded, fine = answer["results"]
    assert (flooded["status"], fine["status"]) == (400, 202)
    assert len(flooded["errors"]) == 21 and "19,980 more" in flooded["errors"][-1]["reason"]
    assert len(json.dumps(answer)) < 100_000


def test_a_flood_on_the_intake_queue_is_recorded_rejected_and_not_retried(relay):
    send_to_intake(relay, flood(20_000, request_id="r-flood"))
    assert relay.deliver("intake") == {"batchItemFailures": []}
    assert (relay.waiting("intake"), relay.in_flight("intake")) == (0, 0)
    status, receipt = relay.get("r-flood")
    assert (status, receipt["status"]) == (200, "rejected")
    assert len(receipt["errors"]) == 21
    assert receipt["errors"][-1] == {"field": "body", "reason": "and 19,980 more errors not listed"}
    assert len(json.dumps(rejected_item(relay, "r-flood"), default=str)) < ITEM_LIMIT // 20
