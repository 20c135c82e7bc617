"""Intake's bulk path without AWS: one request per request_id, fan-out in SendMessageBatch-sized
chunks, a refused chunk failing only its own requests; the chunking by count and UTF-8 bytes;
and the message a vendor queue receives (erasure/intake.py, erasure/aws_clients.py).

The ledger and the queues are fakes that keep the real ones' contract: `open_requests` records a
request once under its id (the same id again gets the stored state, or ConflictingRequest if it
asks something else), `mark_fanned_out` notes the queues that took it; `send_batch(url, bodies)`
takes every body or raises FanOutFailed."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import pytest

from erasure.aws_clients import SQS_BATCH, SQS_BATCH_BYTES, sqs_batches
from erasure.intake import FanOutFailed, Intake, NotSent, Routing
from erasure.ledger import ConflictingRequest, StoredRequest
from erasure.observability import IdentifierHasher
from erasure.request import DeletionRequest, parse
from erasure.sealing import vendor_message
from erasure.vendors import CONNECTORS

KNOWN = frozenset(CONNECTORS)
QUEUES = {
    vendor: f"https://sqs.us-east-1.amazonaws.com/123456789012/erasure-{vendor}" for vendor in CONNECTORS
}
VENDOR_OF = {url: vendor for vendor, url in QUEUES.items()}


def request(request_id: str, **fields) -> DeletionRequest:
    body = {"request_id": request_id, "identity": {"external_id": f"user-{request_id}"}, **fields}
    return parse(body, known_vendors=KNOWN)


# Who takes a delete_profile by external_id (the requests below), as the registry says; a vendor
# that serves none of it is skipped.
_PROBE = request("probe")
EXTERNAL_ID_VENDORS = {
    vendor
    for vendor, connector in CONNECTORS.items()
    if not all(connector.skip_reason(_PROBE.action, i) for i in _PROBE.identifiers)
}
SKIPPED_VENDORS = KNOWN - EXTERNAL_ID_VENDORS
# The vendor whose queue refuses, in the tests of a refused batch; the two, when two refuse
# (intake names them in their order).
REFUSING = min(EXTERNAL_ID_VENDORS)
FIRST_REFUSING, *_, LAST_REFUSING = sorted(EXTERNAL_ID_VENDORS)


class FakeLedger:
    """The ledger's intake contract, in memory."""

    def __init__(self) -> None:
        self.hasher = IdentifierHasher(b"k" * 32)
        self.stored: dict[str, dict] = {}
        self.opened: list[list[str]] = []  # the request_ids of each open_requests call
        self.marked: list[dict[str, set[str]]] = []  # each mark_fanned_out call

    def open_requests(self, entries):
        self.opened.append([r.request_id for r, *_ in entries])
        answers: list[StoredRequest | ConflictingRequest] = []
        for request_, answer, fingerprint, _skipped in entries:
            stored = self.stored.setdefault(
                request_.request_id, {"answer": answer, "fingerprint": fingerprint, "fanned_out": set()}
            )
            if stored["fingerprint"] != fingerprint:
                answers.append(ConflictingRequest(request_.request_id))
            else:
                answers.append(StoredRequest(stored["answer"], frozenset(stored["fanned_out"])))
        return answers

    def mark_fanned_out(self, marks) -> None:
        self.marked.append({request_id: set(vendors) for request_id, vendors in marks})
        for request_id, vendors in marks:
            self.stored[request_id]["fanned_out"] |= set(vendors)


class FakeQueues:
    """send_batch: records each call; refuses the calls `refuse(vendor, request_ids)` names."""

    def __init__(self, refuse=lambda vendor, request_ids: False) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.refuse = refuse
        self.lock = threading.Lock()  # intake sends from several threads

    def __call__(self, queue_url: str, bodies: list[str]) -> None:
        vendor = VENDOR_OF[queue_url]
        request_ids = [json.loads(body)["request_id"] for body in bodies]
        with self.lock:
            self.calls.append((vendor, bodies))
        if self.refuse(vendor, request_ids):
            raise FanOutFailed("1 message(s) not accepted: ['InternalError']")

    def ids_sent_to(self, vendor: str) -> list[str]:
        return sorted(json.loads(b)["request_id"] for v, bodies in self.calls if v == vendor for b in bodies)

    def batch_sizes(self, vendor: str) -> list[int]:
        return sorted((len(bodies) for v, bodies in self.calls if v == vendor), reverse=True)


def text_of(request: DeletionRequest) -> str:
    """A vendor message as a deployment without a ledger sends it: its identifiers' values."""
    return json.dumps(vendor_message(request), ensure_ascii=False)


def intake(queues: FakeQueues | None = None, ledger: FakeLedger | None = None):
    ledger, queues = ledger or FakeLedger(), queues or FakeQueues()
    return Intake(Routing(QUEUES), ledger, queues), ledger, queues


# -- one request per request_id ---------------------------------------------------------------------


def test_a_request_id_given_twice_in_one_bulk_is_opened_and_sent_once():
    first = request("req-a")
    again = request("req-a", requested_at="2025-01-02T03:04:05.678Z")  # its time is not its content
    service, ledger, queues = intake()
    answers = service.submit_many([first, request("req-b"), again])
    assert ledger.opened == [["req-a", "req-b"]]
    assert answers[0] == answers[2]
    assert answers[0]["request_id"] == "req-a"
    assert sorted(answers[0]["vendors"]) == sorted(EXTERNAL_ID_VENDORS)
    assert sorted(answers[0]["skipped"]) == sorted(SKIPPED_VENDORS)
    for vendor in EXTERNAL_ID_VENDORS:
        assert queues.ids_sent_to(vendor) == ["req-a", "req-b"]
    sent = {json.loads(b)["request_id"]: b for _, bodies in queues.calls for b in bodies}
    assert sent["req-a"] == text_of(first)  # the first one's message, once
    for vendor in SKIPPED_VENDORS:
        assert queues.ids_sent_to(vendor) == []
    assert ledger.marked == [{"req-a": EXTERNAL_ID_VENDORS, "req-b": EXTERNAL_ID_VENDORS}]


@pytest.mark.parametrize(
    "other",
    [
        {"identity": {"external_id": "someone-else"}},
        {"action": "remove_identifier"},
        {"vendors": [REFUSING]},  # the choice of vendors is part of an intake submission
        {"regulation": "ccpa"},
    ],
    ids=["other-identifier", "other-action", "other-vendors", "other-regulation"],
)
def test_the_same_id_asking_something_else_in_one_bulk_conflicts(other):
    service, ledger, queues = intake()
    answers = service.submit_many([request("req-a"), request("req-b"), request("req-a", **other)])
    assert answers[0]["request_id"] == "req-a"
    assert answers[1]["request_id"] == "req-b"
    assert isinstance(answers[2], ConflictingRequest)
    assert answers[2].args == ("req-a",)
    assert ledger.opened == [["req-a", "req-b"]]  # the later one is never opened
    for vendor in EXTERNAL_ID_VENDORS:
        assert queues.ids_sent_to(vendor) == ["req-a", "req-b"]
    sent = [json.loads(b) for _, bodies in queues.calls for b in bodies]
    assert all(message["identity"]["external_id"] != "someone-else" for message in sent)


def test_an_id_the_ledger_holds_for_something_else_conflicts_and_is_not_sent():
    ledger = FakeLedger()
    intake(ledger=ledger)[0].submit_many([request("req-a")])
    service, _, queues = intake(ledger=ledger)
    answers = service.submit_many([request("req-a", action="remove_identifier"), request("req-b")])
    assert isinstance(answers[0], ConflictingRequest)
    assert answers[1]["request_id"] == "req-b"
    assert {rid for _, bodies in queues.calls for rid in (json.loads(b)["request_id"] for b in bodies)} == {
        "req-b"
    }


# -- fan-out in chunks; a refused chunk ------------------------------------------------------------------


def test_a_bulk_goes_to_each_vendor_queue_in_batches_of_ten_each_its_own_message():
    requests = [request(f"req-{n:02d}") for n in range(25)]
    service, ledger, queues = intake()
    answers = service.submit_many(requests)
    assert all(isinstance(a, dict) for a in answers)
    for vendor in EXTERNAL_ID_VENDORS:
        assert queues.batch_sizes(vendor) == [SQS_BATCH, SQS_BATCH, 5]
        assert queues.ids_sent_to(vendor) == [r.request_id for r in requests]
    bodies = {b for _, sent in queues.calls for b in sent}
    assert bodies == {text_of(r) for r in requests}
    (marks,) = ledger.marked
    assert marks == {r.request_id: EXTERNAL_ID_VENDORS for r in requests}


def test_a_refused_batch_leaves_only_its_own_requests_not_sent():
    requests = [request(f"req-{n:02d}") for n in range(12)]  # each vendor: a batch of 10, one of 2
    refused = {"req-10", "req-11"}
    queues = FakeQueues(refuse=lambda vendor, ids: vendor == REFUSING and "req-10" in ids)
    service, ledger, queues = intake(queues)
    answers = service.submit_many(requests)

    for req, answer in zip(requests, answers, strict=True):
        if req.request_id in refused:
            assert isinstance(answer, NotSent)
            assert answer.request_id == req.request_id
            assert answer.reason.startswith(f"{REFUSING}: ")
            assert "not accepted" in answer.reason
            assert all(other not in answer.reason for other in EXTERNAL_ID_VENDORS - {REFUSING})
        else:
            assert isinstance(answer, dict) and answer["request_id"] == req.request_id
    # Marked as far as the queues took them: a resubmission then sends only what is missing.
    (marks,) = ledger.marked
    assert marks == {
        r.request_id: EXTERNAL_ID_VENDORS - ({REFUSING} if r.request_id in refused else set())
        for r in requests
    }

    again = FakeQueues()
    answers = Intake(Routing(QUEUES), ledger, again).submit_many(requests)
    assert all(isinstance(a, dict) for a in answers)
    assert again.calls == [(REFUSING, [text_of(r) for r in requests[10:]])]
    assert ledger.marked[-1] == {"req-10": {REFUSING}, "req-11": {REFUSING}}


def test_a_request_refused_by_two_queues_names_both():
    refusing = (LAST_REFUSING, FIRST_REFUSING)
    service, ledger, _ = intake(FakeQueues(refuse=lambda vendor, ids: vendor in refusing))
    (answer,) = service.submit_many([request("req-a")])
    assert isinstance(answer, NotSent)
    assert answer.reason.startswith(f"{FIRST_REFUSING}: ")
    assert f"; {LAST_REFUSING}: " in answer.reason
    assert ledger.marked == [{"req-a": EXTERNAL_ID_VENDORS - set(refusing)}]


# -- sqs_batches: by count and by UTF-8 bytes ----------------------------------------------------------


def entries(*bodies: str) -> list[dict]:
    return [{"MessageBody": body, "DelaySeconds": n} for n, body in enumerate(bodies)]


def sizes(batches: list[list[dict]]) -> list[int]:
    return [len(batch) for batch in batches]


def test_batches_are_cut_by_count_and_keep_every_entry_in_order():
    given = entries(*(f"m{n}" for n in range(25)))
    batches = sqs_batches(given)
    assert sizes(batches) == [SQS_BATCH, SQS_BATCH, 5]
    assert [e for batch in batches for e in batch] == given
    assert all(a is b for a, b in zip([e for batch in batches for e in batch], given, strict=True))
    assert sqs_batches([]) == []


HALF = SQS_BATCH_BYTES // 2


@pytest.mark.parametrize(
    ("bodies", "expected"),
    [
        # Two bodies that fill a call exactly share it; one byte more and they do not.
        (["a" * HALF, "b" * HALF], [2]),
        (["a" * HALF, "b" * (HALF + 1)], [1, 1]),
        # A body of exactly the limit has a call to itself; the next one starts another.
        (["a" * SQS_BATCH_BYTES, "b"], [1, 1]),
        (["b", "a" * SQS_BATCH_BYTES], [1, 1]),
        (["a" * (SQS_BATCH_BYTES - 1), "b"], [2]),
        # A body over the limit (SQS refuses it) takes no neighbour down with it.
        (["x", "a" * (SQS_BATCH_BYTES + 1), "y"], [1, 1, 1]),
        # Bytes before count: ten bodies of a tenth and one byte do not fit in one call.
        (["a" * (SQS_BATCH_BYTES // 10 + 1)] * 12, [9, 3]),
        (["a" * (SQS_BATCH_BYTES // 10)] * 12, [10, 2]),
    ],
    ids=[
        "two-halves-exactly",
        "two-halves-and-a-byte",
        "one-exactly-at-the-limit-first",
        "one-exactly-at-the-limit-second",
        "one-byte-under-the-limit-and-one",
        "one-over-the-limit",
        "bytes-cut-before-count",
        "count-cut-before-bytes",
    ],
)
def test_batches_are_cut_by_bytes(bodies, expected):
    assert sizes(sqs_batches(entries(*bodies))) == expected


@pytest.mark.parametrize(("char", "width"), [("é", 2), ("東", 3), ("😀", 4)])
def test_bytes_are_counted_in_utf8_not_in_characters(char, width):
    half = char * (HALF // width) + "." * (HALF % width)
    assert len(half.encode()) == HALF
    # Two such bodies fill a call in bytes though a quarter of it (or less) in characters.
    assert sizes(sqs_batches(entries(half, half))) == [2]
    assert sizes(sqs_batches(entries(half, half + char))) == [1, 1]
    assert sizes(sqs_batches(entries(half, half, half))) == [2, 1]


# -- vendor_message ------------------------------------------------------------------------------------

NON_ASCII = {
    "identity": {
        "email": "zoë@exämple.com",
        "external_id": "東京-ユーザー-1",
        "custom": {"name_kr": "김철수", "emoji": "🙂 café"},
        "user_alias": {"alias_name": "Ωmega", "alias_label": "crm"},
    },
    "vendors": sorted(CONNECTORS)[:2],
    "regulation": "ccpa",
    "requested_at": "2025-05-13T06:01:48.501Z",
}


@pytest.mark.parametrize(
    "body",
    [
        {**NON_ASCII, "request_id": "req-1"},
        {k: v for k, v in NON_ASCII.items() if k != "vendors"} | {"request_id": "req-2"},
        {**NON_ASCII, "request_id": "req-3", "due_by": "2025-06-01T00:00:00.000Z"},
    ],
    ids=["with-vendors", "without-vendors", "with-due-by"],
)
def test_a_vendor_message_keeps_non_ascii_as_utf8_and_reads_back_without_vendors(body):
    submitted = parse(body, known_vendors=KNOWN)
    message = text_of(submitted)
    assert "\\u" not in message  # as UTF-8: an escape would triple an identifier's size
    for text in ("zoë@exämple.com", "東京-ユーザー-1", "김철수", "🙂 café", "Ωmega"):
        assert text in message
    assert message.encode("utf-8").decode("utf-8") == message
    assert len(message.encode()) < len(json.dumps(json.loads(message)).encode())
    decoded = json.loads(message)
    assert "vendors" not in decoded
    # A vendor function parses it without the intake-only `vendors` field, to the same request.
    assert parse(decoded) == replace(submitted, vendors=None)
    assert parse(decoded).deadline == submitted.deadline
