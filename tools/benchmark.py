"""Figures, not verdicts: how fast the relay moves identifiers, and how long a bulk intake takes.

    python -m tools.benchmark

1. One invocation's relay against the vendor sandbox with 50 ms of vendor latency: identifiers
   per second and vendor calls per vendor, with the template's pacing and concurrency.
2. A 1,000-request bulk POST /v1/deletions under moto (in-process): the intake's own time, which
   must stay well inside API Gateway's 29 s.
"""

from __future__ import annotations

import os
import time
from collections import Counter

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "erasure-relay-benchmark")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ErasureRelayBenchmark")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from erasure.config import VendorSettings, invocation_rate
from erasure.observability import IdentifierHasher
from erasure.relay import Relay
from erasure.request import parse
from erasure.vendors import CONNECTORS
from tools.vendor_sandbox import VendorSandbox

KEY = b"benchmark-hash-key-0123456789abcdef0123456789"
SECONDS_PER_VENDOR = 4  # at most, at the vendor's pacing: how many people each vendor gets
# The identifier each operation is benchmarked with: the first of these it takes.
IDENTIFIER_PREFERENCE = ("external_id", "email", "phone_number", "uuid", "guid", "custom")


def example_identity(kind: str, n: int) -> dict:
    if kind == "custom":
        return {"custom": {"loyalty_id": f"person-{n}"}}
    return {
        kind: {"email": f"person-{n}@example.com", "phone_number": f"+6590{n:06d}"}.get(kind, f"person-{n}")
    }


def relay_throughput() -> None:
    print("relay, one invocation, vendor latency 50 ms, the deployed pacing (config.invocation_rate)")
    print(f"  {'vendor':<10} {'operation':<32} {'ids':>5} {'calls':>6} {'seconds':>8} {'ids/s':>7}  outcomes")
    with VendorSandbox(port=0) as sandbox:
        for vendor, connector in CONNECTORS.items():
            for operation in connector.operations:
                sandbox.reset()
                sandbox.configure(vendor, latency=0.05)
                credentials = sandbox.credentials(vendor, connector.credential_fields)
                rates = {op.key: invocation_rate(connector, op, {}) for op in connector.operations}
                settings = VendorSettings(
                    sandbox.url,
                    credentials,
                    connector.default_concurrency,
                    rates,
                    3.05,
                    10,
                    connector.options({}),
                )
                relay = Relay(connector, settings, IdentifierHasher(KEY))
                # As many people as the operation's pace allows in a few seconds.
                kind = min(
                    operation.serves,
                    key=lambda t: IDENTIFIER_PREFERENCE.index(t) if t in IDENTIFIER_PREFERENCE else 99,
                )
                per_minute = rates[operation.key]
                calls_allowed = per_minute / 60 * SECONDS_PER_VENDOR
                people_per_call = 1 if operation.per_person else operation.max_batch
                count = min(1000, int(calls_allowed * people_per_call)) if per_minute else 1000
                requests = [
                    parse({"action": str(operation.action), "identity": example_identity(kind, n)})
                    for n in range(count)
                ]
                started = time.perf_counter()
                results = relay.run(requests)
                seconds = time.perf_counter() - started
                outcomes = Counter(str(r.verdict.outcome) for per_request in results for r in per_request)
                calls = len(sandbox.calls(vendor))
                print(
                    f"  {vendor:<10} {operation.name:<32} {count:>5} {calls:>6} {seconds:>8.2f} "
                    f"{count / seconds:>7.0f}  {dict(outcomes)}"
                )


def bulk_intake(count: int = 1000) -> None:
    import boto3
    from moto import mock_aws

    from erasure.intake import Intake, Routing
    from erasure.ledger import Ledger

    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="ledger",
            KeySchema=[
                {"AttributeName": "request_id", "KeyType": "HASH"},
                {"AttributeName": "item", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "request_id", "AttributeType": "S"},
                {"AttributeName": "item", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        sqs = boto3.client("sqs")
        urls = {v: sqs.create_queue(QueueName=v)["QueueUrl"] for v in CONNECTORS}
        from erasure.aws_clients import sqs_batch_sender

        ledger = Ledger(boto3.client("dynamodb"), "ledger", IdentifierHasher(KEY), 400)
        intake = Intake(Routing(urls), ledger, sqs_batch_sender())
        requests = [parse({"identity": {"external_id": f"p{n}", "guid": f"g{n}"}}) for n in range(count)]
        started = time.perf_counter()
        answers = intake.submit_many(requests)
        seconds = time.perf_counter() - started
    print(f"\nbulk intake under moto: {len(answers)} requests, 2 vendors each, in {seconds:.2f} s")


if __name__ == "__main__":
    relay_throughput()
    bulk_intake()
