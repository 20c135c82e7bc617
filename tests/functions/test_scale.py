"""What the relay's own AWS work costs, counted in calls (never timed): a bulk intake makes well
under 1.1 calls a request, a vendor function's ledger work at most one call per record, and
identifiers a vendor does not serve cost that vendor no write at all."""

from __future__ import annotations

import itertools
from collections import Counter
from types import SimpleNamespace

import boto3
import pytest

from tests.helpers import VENDORS


@pytest.fixture
def aws_calls(aws):
    """Every AWS API call made by a client created from here on, as "service.Operation"."""
    calls = Counter()
    boto3.setup_default_session()

    def count(model, **_):
        calls[f"{model.service_model.endpoint_prefix}.{model.name}"] += 1

    boto3.DEFAULT_SESSION.events.register("before-call", count)
    return calls


def person(n):
    return {"external_id": f"crm-{n}", "guid": f"ctid-{n}", "email": f"p{n}@example.com"}


def test_a_bulk_of_150_costs_under_one_aws_call_a_request(aws_calls, relay):
    bulk = [{"request_id": f"bulk-{n}", "identity": person(n)} for n in range(150)]
    aws_calls.clear()
    status, answer = relay.post({"requests": bulk})
    made = Counter(aws_calls)

    assert status == 202
    assert all(r["vendors"] == VENDORS for r in answer["results"])
    assert sum(relay.waiting(v) for v in VENDORS) == 150 * len(VENDORS)
    # Conditional transactions of 100 items (each request is its put and the check that no vendor
    # route claimed its id otherwise: 2 + 1 calls), its 3 identifiers kept for the messages that
    # name them (3 + 2 calls), one SendMessageBatch of 10 per vendor, 2 marks.
    assert made == Counter({"dynamodb.TransactWriteItems": 10, "sqs.SendMessageBatch": 15 * len(VENDORS)})
    assert sum(made.values()) / 150 <= 1.1


def test_a_resubmitted_bulk_sends_nothing_again_and_conflicts_are_named(aws_calls, relay):
    bulk = [{"request_id": f"again-{n}", "identity": person(n)} for n in range(120)]
    assert relay.post({"requests": bulk})[0] == 202
    changed = [*bulk[:119], {"request_id": "again-119", "identity": {"email": "else@example.com"}}]
    aws_calls.clear()
    status, answer = relay.post({"requests": changed})

    assert status == 207
    assert [r["status"] for r in answer["results"]].count(409) == 1
    assert sum(relay.waiting(v) for v in VENDORS) == 120 * len(VENDORS)  # nothing sent twice
    assert aws_calls["sqs.SendMessageBatch"] == 0


def test_a_vendor_batch_costs_at_most_one_ledger_call_a_record_and_skipped_ids_no_write(aws_calls, relay):
    people = 30
    relay.post({"requests": [{"request_id": f"p-{n}", "identity": person(n)} for n in range(people)]})
    aws_calls.clear()
    deliveries = 0
    while relay.deliver("dfinery"):  # Dfinery erases a profile by external_id only
        deliveries += 1

    ledger_calls = sum(n for call, n in aws_calls.items() if call.startswith("dynamodb."))
    assert deliveries == 3
    assert ledger_calls <= people
    assert aws_calls["dynamodb.TransactWriteItems"] == deliveries  # one batch of writes each
    written = [i for i in relay.ledger_items() if i["item"].startswith("OUTCOME#dfinery#")]
    assert len(written) == people  # the external ids; no item for the guids and emails
    receipt = relay.get("p-7")[1]
    assert sorted((o["identifier"], o["outcome"]) for o in receipt["vendors"]["dfinery"]) == [
        ("email", "skipped"),
        ("external_id", "deleted"),
        ("guid", "skipped"),
    ]
    assert not [a for a in receipt["awaiting"] if a["vendor"] == "dfinery"]


def test_every_bulk_item_says_its_position_and_a_refused_one_its_request_id(relay):
    bulk = [
        {"request_id": "fine-1", "identity": person(1)},
        {"request_id": "bad-2", "identity": {"email": "not an email"}},
        {"identity": {"phone_number": "12"}},
    ]
    status, answer = relay.post({"requests": bulk})
    assert status == 207
    assert [(r["index"], r["status"], r.get("request_id")) for r in answer["results"]] == [
        (0, 202, "fine-1"),
        (1, 400, "bad-2"),
        (2, 400, None),  # it named none: its position says which it was
    ]


@pytest.mark.parametrize(
    ("clock", "begun_chunks"),
    [
        ([0.0, 0.0, 30.0, 30.0], 1),  # the first chunk ends past the deadline: nothing more begins
        ([0.0, 0.0, 6.0, 6.0, 12.0, 12.0], 2),  # 6 s chunks: a third, begun at 12 s, might not end by 20
    ],
)
def test_a_bulk_running_out_of_time_answers_what_it_accepted_and_begins_nothing_more(
    relay, monkeypatch, clock, begun_chunks
):
    import erasure.handlers.intake as intake_handler

    # time.monotonic(): the bulk's start, then each chunk's start (and end, if begun); then stands still
    ticks = itertools.chain(clock, itertools.repeat(clock[-1]))
    monkeypatch.setattr(intake_handler, "time", SimpleNamespace(monotonic=lambda: next(ticks)))
    bulk = [{"request_id": f"late-{n}", "identity": person(n)} for n in range(250)]
    status, answer = relay.post({"requests": bulk})

    assert status == 207
    accepted = 100 * begun_chunks
    statuses = [r["status"] for r in answer["results"]]
    assert statuses == [202] * accepted + [503] * (250 - accepted)
    assert answer["results"][220]["request_id"] == "late-220"
    assert "resubmit" in answer["results"][220]["message"]
    assert sum(relay.waiting(v) for v in VENDORS) == accepted * len(VENDORS)  # nothing of the rest sent
    assert relay.get("late-220")[0] == 404  # nor recorded: a resubmission starts it afresh
