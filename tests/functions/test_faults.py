"""Under vendor faults, lost answers and redelivery, every receipt matches what the vendor holds.

The deployed relay (every function, queues with dead-letter queues, the ledger, under moto) talks
to the vendor sandbox over real sockets, and verifies each deletion through the vendor's read API
(checks due at once). Requests arrive through the intake API (bulk) and the intake queue; a seeded
mix of the sandbox's faults (each kind, every vendor, at least one answer lost after the vendor
applied it, and vendors that answer a deletion with success and keep the person) is injected
between deliveries, on deletions and lookups alike; queues are delivered the way Lambda's event
source mapping does, and what asks to be retried is redelivered at once, until every queue
drains. Then, per vendor and identifier:

- no false receipt: nothing the vendor still holds is receipted deleted, accepted or already
  absent unless its verification says still_present (or unverifiable, where no lookup can tell),
  and nothing it holds is verified_absent;
- a kept person is caught: the suite's `keep` faults end still_present, never as success;
- nothing lost: a final outcome and a final verification, or the request's message in a
  dead-letter queue;
- nothing sent after its final outcome: every deletion call but the last got a fault or a
  throttle, so sends are the minimum plus the retries;
- no exception escaped a handler.

Around the vendors, the relay's own AWS services fail too: a vendor queue refuses a batch now and
then mid-bulk (the caller resubmits what was answered 503), the ledger throttles now and then
(a write or read refused with ProvisionedThroughputExceededException), SQS delivers a batch twice
(the same records, the same receive count, another invocation), and the ledger's stream never
reaches the receipts function (its batches run out of retries): the hourly watch alone must
then publish every final request and take it off the deadline index.

`make soak` runs it with many more people (SOAK_PEOPLE) and prints the figures.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter

import pytest
from botocore.exceptions import ClientError

from erasure.observability import IdentifierHasher
from erasure.request import parse
from tests.helpers import (
    HASH_KEY,
    VENDORS,
    FakeContext,
    configure_functions,
    deploy_relay,
    load_function,
    sandbox_credentials,
)
from tools.vendor_sandbox import FAULT_KINDS, VendorSandbox, seed_of

PEOPLE = int(os.environ.get("SOAK_PEOPLE", "40"))
SEED = int(os.environ.get("SOAK_SEED", "7"))
READ_TIMEOUT = 0.25  # a `timeout` fault answers after this: the answer is lost, the deletion done
MAX_RECEIVES = 20  # as template.yaml: then the dead-letter queue
READ_LIMIT = 100_000  # lookups a minute, at Braze and Insider
# What a receipt may say only of what the vendor no longer holds (the sandbox applies an
# accepted deletion at once, unlike the vendors, which do it later).
FINAL_FOR_RECEIPT = {"deleted", "accepted", "already_absent"}


class Population:
    """People, each absent at a vendor now and then (some with a sole identifier at Insider),
    and the two requests each one makes."""

    def __init__(self, people: int, rng: random.Random):
        self.seed: dict = {vendor: {} for vendor in VENDORS}
        self.requests: list[dict] = []
        for n in range(people):
            person = {
                "external_id": f"p{n}-ext",
                "deprecated_external_ids": [f"p{n}-old"],
                "guid": f"p{n}-guid",
                "email": f"p{n}@example.com",
                "phone_number": f"+6591{n:06d}",
                "uuid": f"p{n}-uuid",
            }
            if rng.random() < 0.05:  # known by a phone alone: removing it is refused
                person = {**person, "email": None, "uuid": None}
            for vendor in VENDORS:
                if rng.random() > 0.1:  # one in ten is absent at a vendor
                    for key, records in seed_of([person], [vendor])[vendor].items():
                        self.seed[vendor].setdefault(key, []).extend(records)
            self.requests += [
                {
                    "request_id": f"p{n}-profile",
                    "identity": {"external_id": f"p{n}-ext", "guid": f"p{n}-guid"},
                },
                {
                    "request_id": f"p{n}-ids",
                    "action": "remove_identifier",
                    "identity": {
                        "external_id": f"p{n}-old",
                        "email": f"p{n}@example.com",
                        "phone_number": f"+6591{n:06d}",
                    },
                },
            ]


class FaultMix:
    """Between deliveries, now and then, one of the sandbox's faults at one vendor."""

    STATUSES = (400, 401, 429, 500, 503)

    def __init__(self, sandbox: VendorSandbox, rng: random.Random):
        self.sandbox, self.rng = sandbox, rng
        self.injected: Counter[str] = Counter()
        # First every kind at every vendor, an answer lost after the vendor applied it first.
        for vendor in VENDORS:
            for kind in ("timeout", *(k for k in self.kinds(vendor) if k != "timeout")):
                self._inject(vendor, kind)

    @staticmethod
    def kinds(vendor: str) -> list[str]:
        # Insider has no failure inside a 200. A person Dfinery keeps after its "deleted" is a lie
        # nothing can show: it has no lookup, and its receipts say `unverifiable`.
        return [
            k
            for k in FAULT_KINDS
            if (k != "fail_in_200" or vendor != "insider") and (k != "keep" or vendor != "dfinery")
        ]

    def maybe(self) -> None:
        if self.rng.random() < 0.3:
            vendor = self.rng.choice(VENDORS)
            self._inject(vendor, self.rng.choice(self.kinds(vendor)))

    def _inject(self, vendor: str, kind: str) -> None:
        status = self.rng.choice(self.STATUSES) if kind == "status" else None
        route = "delete" if kind == "keep" else None  # the profile deletion, not a lookup's read
        self.sandbox.inject_fault(
            vendor, kind, status=status, count=self.rng.randint(1, 2), seconds=READ_TIMEOUT * 2, route=route
        )
        self.injected[f"{kind}{status or ''}"] += 1


@pytest.fixture
def sandbox():
    with VendorSandbox() as running:
        yield running


@pytest.fixture
def faulty_relay(aws, sandbox, monkeypatch):
    monkeypatch.setenv("HTTP_READ_TIMEOUT", str(READ_TIMEOUT))
    monkeypatch.setenv("HTTP_CONNECT_TIMEOUT", str(READ_TIMEOUT))
    monkeypatch.setenv("VERIFY_AFTER_S", "0")  # every check due at once: time is not what this suite is about
    monkeypatch.setenv("VERIFY_BACKOFF_S", "0")
    # Nor are the read APIs' limits (Braze's 250 and Insider's 1,000 a minute would pace lookups
    # 0.4-0.8 s apart): both sides take far more here.
    for vendor, call in (("braze", "export"), ("insider", "profile")):
        monkeypatch.setenv(f"{vendor.upper()}_{call.upper()}_LIMIT_PER_MINUTE", str(READ_LIMIT))
        sandbox.configure(vendor, rate_limits={call: READ_LIMIT})
    configure_functions(monkeypatch, sandbox.url, sandbox_credentials(sandbox))
    return deploy_relay(load_function, monkeypatch, max_receive_count=MAX_RECEIVES, verify=True)


class AwsFaults:
    """The relay's own services failing now and then: the ledger throttling a write or a read,
    a vendor queue refusing a batch. Installed over botocore's one call path while `on`."""

    THROTTLED = ("TransactWriteItems", "BatchGetItem", "UpdateItem")

    def __init__(self, rng: random.Random, monkeypatch):
        import botocore.client

        self.rng, self.on, self.injected = rng, False, Counter()
        self.unrecorded: set[str] = set()  # outcome (and kept identifier) items a fault refused
        self.sent: list[tuple[str, str]] = []  # (queue URL, body) of every message sent
        real = botocore.client.BaseClient._make_api_call

        def call(client, operation, params):
            if operation == "SendMessage":
                self.sent.append((params["QueueUrl"], params["MessageBody"]))
            elif operation == "SendMessageBatch":
                self.sent += [(params["QueueUrl"], e["MessageBody"]) for e in params["Entries"]]
            if self.on and operation in self.THROTTLED and self.rng.random() < 0.03:
                self.injected[f"ledger {operation}"] += 1
                for item in params.get("TransactItems", ()):
                    (write,) = item.values()
                    self.unrecorded.add((write.get("Key") or write.get("Item", {}))["item"]["S"])
                raise ClientError(
                    {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                    operation,
                )
            fan_out = operation == "SendMessageBatch" and "DelaySeconds" not in params["Entries"][0]
            if self.on and fan_out and self.rng.random() < 0.1:  # not a check's: intake's fan-out
                self.injected["queue SendMessageBatch"] += 1
                raise ClientError({"Error": {"Code": "InternalError", "Message": "try again"}}, operation)
            return real(client, operation, params)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)


def submit_bulk(relay, requests: list[dict]) -> int:
    """POST the bulk, then resubmit what was answered 503, as a caller does; the tries it took."""
    for tries in range(1, 20):
        status, answer = relay.post({"requests": requests})
        assert status in (202, 207), answer
        unsent = {r["request_id"] for r in answer["results"] if r["status"] == 503}
        assert all(r["status"] in (202, 503) for r in answer["results"]), answer
        if not unsent:
            return tries
        requests = [r for r in requests if r["request_id"] in unsent]
    raise AssertionError("a bulk was never wholly accepted")


def drain(relay, faults: FaultMix, rng: random.Random) -> dict[str, int]:
    """Deliver every queue until all are empty, delayed messages included (a message sent anew at
    a throttle's wait is not lost); what asks to be retried is due at once; now and then a batch
    is delivered twice, as SQS may."""
    figures: Counter[str] = Counter()
    queues = ["intake", *VENDORS]
    while (
        any(relay.waiting(q) or relay.in_flight(q) or relay.delayed(q) for q in queues)
        and figures["rounds"] < 500
    ):
        figures["rounds"] += 1
        if not any(relay.waiting(q) or relay.in_flight(q) for q in queues):
            time.sleep(1)  # only messages sent anew at a throttle's wait (up to a minute) are left
        for queue in queues:
            faults.maybe()
            result = deliver(relay, queue, figures, twice=queue != "intake" and rng.random() < 0.1)
            if result:
                figures["invocations"] += 1
                relay.make_visible(queue, {f["itemIdentifier"] for f in result["batchItemFailures"]})
    return figures


def deliver(relay, queue: str, figures: Counter, twice: bool) -> dict | None:
    try:
        if twice and relay.waiting(queue):
            figures["duplicate deliveries"] += 1
            return relay.deliver_twice(queue)
        return relay.deliver(queue)
    except Exception:  # counted, and the batch comes back, as Lambda would do
        figures["escaped_exceptions"] += 1
        return {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in relay.received[queue]]}


def replay_after_final(
    relay, sandbox, sent: list[tuple[str, str]], values: list[str], population, capsys
) -> None:
    """The eraser forgets: no message the relay sent to a vendor queue carries a readable
    identifier, nor does the ledger once every request is final; and every one of those messages
    delivered again (a redrive, a late duplicate) calls no vendor and changes no receipt."""
    vendor_queues = {relay.queue_urls[v]: v for v in VENDORS}
    relayed = [(vendor_queues[url], body) for url, body in sent if url in vendor_queues]
    readable = [body for _, body in relayed if any(v in body for v in values)]
    ledger = json.dumps(relay.ledger_items(), default=str)
    left = [v for v in values if v in ledger]
    receipts = {r["request_id"]: relay.get(r["request_id"]) for r in population.requests}
    calls = len(sandbox.calls())
    for vendor, body in relayed:
        relay.sqs.send_message(QueueUrl=relay.queue_urls[vendor], MessageBody=body)
    relay.drain(rounds=len(relayed))  # a batch a queue a round at least: enough to empty them
    changed = [i for i, receipt in receipts.items() if relay.get(i) != receipt]
    with capsys.disabled():
        print(
            f"  messages the relay sent to vendor queues: {len(relayed)}, with a readable identifier: "
            f"{len(readable)}; identifiers readable in the ledger: {len(left)}; all delivered again: "
            f"{len(sandbox.calls()) - calls} vendor calls, {len(changed)} receipts changed"
        )
    assert relayed and readable == [] and left == []
    assert len(sandbox.calls()) == calls and changed == []
    assert all(relay.waiting(v) == 0 and relay.in_flight(v) == 0 for v in VENDORS)  # acknowledged


def test_receipts_match_the_vendors_under_faults_and_redelivery(faulty_relay, sandbox, capsys, monkeypatch):
    relay, rng = faulty_relay, random.Random(SEED)
    population = Population(PEOPLE, rng)
    sandbox.seed(population.seed)
    started = time.perf_counter()
    half = len(population.requests) // 2
    aws_rng = random.Random(SEED + 1)  # apart: the vendor faults stay as the seed made them
    aws_faults = AwsFaults(aws_rng, monkeypatch)
    aws_faults.on = True
    bulk_tries = [
        submit_bulk(relay, population.requests[start : min(start + 1000, half)])
        for start in range(0, half, 1000)
    ]
    for body in population.requests[half:]:
        relay.sqs.send_message(QueueUrl=relay.queue_urls["intake"], MessageBody=json.dumps(body))
    faults = FaultMix(sandbox, rng)
    figures = drain(relay, faults, aws_rng)
    aws_faults.on = False
    # The stream's batches all ran out of retries: only the hourly watch publishes.
    relay.receipts({"source": "aws.events", "detail-type": "Scheduled Event"}, FakeContext())
    published = {e["detail"]["request_id"]: e["detail"] for e in relay.status_events()}
    seconds = time.perf_counter() - started

    hasher = IdentifierHasher(HASH_KEY.encode())
    dead_letters = {
        json.loads(m["Body"]).get("request_id")
        for q in [*VENDORS, "intake"]
        for m in relay.all_messages(f"{q}-dlq")
    }
    outcomes: Counter[str] = Counter()
    verifications: Counter[str] = Counter()
    false_receipts, lost, unpublished = [], [], []
    for body in population.requests:
        request = parse(body)
        value_of = {hasher(i): i.value for i in request.identifiers}
        status, receipt = relay.get(request.request_id)
        assert status == 200
        if receipt["final"] and not published.get(request.request_id, {}).get("final"):
            unpublished.append(request.request_id)
        for vendor, items in receipt["vendors"].items():
            for item in items:
                value, outcome, verification = (
                    value_of[item["id_hash"]],
                    item["outcome"],
                    item["verification"],
                )
                outcomes[outcome] += 1
                verifications[verification or "none"] += 1
                where = (vendor, request.request_id, item["identifier"], outcome, verification)
                held = value in sandbox.held(vendor)
                if held and (
                    verification == "verified_absent"
                    or (
                        outcome in FINAL_FOR_RECEIPT and verification not in ("still_present", "unverifiable")
                    )
                ):
                    false_receipts.append(where)
                retrying = outcome in ("throttled", "transient", "unauthorized") or verification == "pending"
                if retrying and request.request_id not in dead_letters:
                    lost.append(where)
        lost += [
            (a["vendor"], request.request_id, a["identifier"], "awaiting")
            for a in receipt["awaiting"]
            if request.request_id not in dead_letters
        ]

    hashes_of: dict[str, set[str]] = {}
    for body in population.requests:
        for identifier in parse(body).identifiers:
            hashes_of.setdefault(identifier.value, set()).add(hasher(identifier))
    finals = {r["request_id"] for r in population.requests if relay.get(r["request_id"])[1]["final"]}
    watched = [
        i["request_id"]
        for i in relay.ledger_items()
        if i["item"] == "REQUEST" and "deadline_watch" in i and i["request_id"] in finals
    ]
    sent_after_final, sends, retried_sends = [], Counter(), Counter()
    for vendor in VENDORS:
        by_value: dict[str, list[dict]] = {}
        for call in sandbox.calls(vendor):
            for value in call["identifiers"] if not call["lookup"] else ():
                by_value.setdefault(value, []).append(call)
        for value, calls in by_value.items():
            calls.sort(key=lambda c: c["received"])
            sends[vendor] += len(calls)
            # Every send but the last must have had an answer that is not final: a fault or a
            # throttle, or the ledger refused to record it (a fault here too). Anything else means
            # an identifier went out again after its outcome.
            # A refused keep of its identifier (ID#, before a check is sent) fails the record step too.
            unrecorded = any(
                {f"OUTCOME#{vendor}#{h}", f"ID#{h}"} & aws_faults.unrecorded for h in hashes_of[value]
            )
            for call in calls[:-1]:
                if call["fault"] is None and call["status"] != 429 and not unrecorded:
                    sent_after_final.append((vendor, value, call["status"]))
                else:
                    retried_sends[vendor] += 1

    with capsys.disabled():  # the figures are for the reader, `make soak` prints them
        print(
            f"\nfault suite: {PEOPLE} people, {len(population.requests)} requests, seed {SEED}, "
            f"{seconds:.1f} s, {figures['rounds']} rounds, {figures['invocations']} invocations"
            f"\n  faults injected: {dict(sorted(faults.injected.items()))}; in AWS: "
            f"{dict(sorted(aws_faults.injected.items()))}; duplicate deliveries: "
            f"{figures['duplicate deliveries']}; bulk tries: {bulk_tries}"
            f"\n  outcomes: {dict(sorted(outcomes.items()))}"
            f"\n  verifications: {dict(sorted(verifications.items()))}; lookups: "
            f"{ {v: sum(c['lookup'] for c in sandbox.calls(v)) for v in VENDORS} }"
            f"\n  identifier sends per vendor: {dict(sends)}, of which re-sends after a fault or throttle: "
            f"{dict(retried_sends)}; requests in a dead-letter queue: {len(dead_letters - {None})}"
            f"\n  false receipts: {len(false_receipts)}, lost identifiers: {len(lost)}, "
            f"sent after final: {len(sent_after_final)}, "
            f"escaped exceptions: {figures['escaped_exceptions']}, "
            f"final but unpublished: {len(unpublished)}, final but watched: {len(watched)}"
        )
    assert sum(faults.injected.values()) >= len(VENDORS)
    assert false_receipts == []
    assert verifications["still_present"] > 0  # the kept people were found, not taken for gone
    assert lost == []
    assert sent_after_final == []
    assert figures["escaped_exceptions"] == 0
    assert unpublished == [] and watched == []
    replay_after_final(relay, sandbox, aws_faults.sent, list(hashes_of), population, capsys)
    assert sum(aws_faults.injected.values()) > 0 and figures["duplicate deliveries"] > 0
