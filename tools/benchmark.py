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

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "erasure-relay-benchmark")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ErasureRelayBenchmark")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from erasure.config import VendorSettings
from erasure.observability import IdentifierHasher
from erasure.relay import Relay
from erasure.request import parse
from erasure.vendors import CONNECTORS
from tools.vendor_sandbox import VendorSandbox

KEY = b"benchmark-hash-key-0123456789abcdef0123456789"
SANDBOX_CREDENTIALS = {
    "braze": {"api_key": "local-braze-key"},
    "clevertap": {"account_id": "LOCAL-ACCOUNT", "passcode": "local-passcode"},
    "insider": {"partner_name": "localbrand", "request_token": "local-insider-token"},
    "dfinery": {"service_id": "local-service", "access_token": "local-dfinery-token"},
}
# What template.yaml gives each function: (requests per minute for this invocation, concurrency).
TEMPLATE_PACING = {"braze": (450, 4), "clevertap": (0, 1), "insider": (450, 8), "dfinery": (4500, 8)}
CASES = [  # vendor, action, identifier type, how many people
    ("braze", "remove_identifier", "external_id", 1000),
    ("clevertap", "delete_profile", "external_id", 1000),
    ("insider", "remove_identifier", "email", 100),
    ("dfinery", "delete_profile", "external_id", 300),
]


def relay_throughput() -> None:
    print("relay, one invocation, vendor latency 50 ms, template pacing")
    print(f"  {'vendor':<10} {'ids':>5} {'calls':>6} {'seconds':>8} {'ids/s':>7}  outcomes")
    with VendorSandbox(port=0) as sandbox:
        for vendor, action, kind, count in CASES:
            sandbox.reset()
            sandbox.configure(vendor, latency=0.05)
            per_minute, concurrency = TEMPLATE_PACING[vendor]
            settings = VendorSettings(
                sandbox.url, SANDBOX_CREDENTIALS[vendor], concurrency, per_minute, 3.05, 10
            )
            relay = Relay(CONNECTORS[vendor], settings, IdentifierHasher(KEY))
            value = "person-{n}@example.com" if kind == "email" else "person-{n}"
            requests = [
                parse({"action": action, "identity": {kind: value.format(n=n)}}) for n in range(count)
            ]
            started = time.perf_counter()
            results = relay.run(requests)
            seconds = time.perf_counter() - started
            outcomes: dict[str, int] = {}
            for result in (r for per_request in results for r in per_request):
                outcomes[str(result.verdict.outcome)] = outcomes.get(str(result.verdict.outcome), 0) + 1
            calls = len(sandbox.calls(vendor))
            print(f"  {vendor:<10} {count:>5} {calls:>6} {seconds:>8.2f} {count / seconds:>7.0f}  {outcomes}")


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

        ledger = Ledger(boto3.resource("dynamodb").Table("ledger"), IdentifierHasher(KEY), 400)
        intake = Intake(Routing(urls), ledger, sqs_batch_sender())
        requests = [parse({"identity": {"external_id": f"p{n}", "guid": f"g{n}"}}) for n in range(count)]
        started = time.perf_counter()
        answers = intake.submit_many(requests)
        seconds = time.perf_counter() - started
    print(f"\nbulk intake under moto: {len(answers)} requests, 2 vendors each, in {seconds:.2f} s")


if __name__ == "__main__":
    relay_throughput()
    bulk_intake()
