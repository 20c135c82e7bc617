"""A message whose request is final does nothing: a redriven, duplicated or late vendor message
calls no vendor, changes no receipt, and is acknowledged (neither retried nor dead-lettered)."""

from __future__ import annotations

import pytest

from tests.helpers import VENDORS, configure_functions, deploy_relay, load_function, sandbox_credentials
from tools.vendor_sandbox import VendorSandbox, seed_of

ANA = {"external_id": "ana-1", "email": "ana@example.com", "guid": "ct-ana", "uuid": "ana-uuid"}


@pytest.fixture
def sandbox():
    with VendorSandbox() as running:
        running.seed(seed_of([ANA]))
        yield running


@pytest.fixture
def relay(aws, sandbox, monkeypatch):
    configure_functions(monkeypatch, sandbox.url, sandbox_credentials(sandbox))
    return deploy_relay(load_function, monkeypatch, max_receive_count=20)


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
