"""The relay's own CPU, the network stubbed: reading vendor answers, a bulk intake, a vendor
batch's ledger writes; each against the way it was done before, measured in the same run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from erasure.aws_clients import TRUSTED_CALLS
from erasure.http_client import HttpAnswer
from erasure.intake import Intake, Routing
from erasure.ledger import LedgerTable, OutcomeBook, RequestBook
from erasure.ledger.identities import IdentityBook
from erasure.observability import IdentifierHasher
from erasure.outcomes import IdentifierResult, Outcome, Verdict
from erasure.redaction import Redactor
from erasure.relay import _read
from erasure.request import DeletionRequest, parse
from erasure.sealing import Sealer
from erasure.vendors import CONNECTORS
from erasure.vendors.base import Operation, Target
from tools.bench.report import Figure
from tools.bench.stubbed_aws import StubbedAws

KEY = b"benchmark-hash-key-0123456789abcdef0123456789"
IDENTIFIER_PREFERENCE = ("external_id", "email", "phone_number", "uuid", "guid")


def cpu_seconds(work: Callable[[], object], repeat: int = 1) -> float:
    """CPU of all the process's threads per run of `work`."""
    started = time.process_time()
    for _ in range(repeat):
        work()
    return (time.process_time() - started) / repeat


def example_value(kind: str, n: int) -> str:
    return {"email": f"person-{n}@example.com", "phone_number": f"+6590{n:06d}"}.get(kind, f"person-{n}")


def operation_kind(operation: Operation) -> str:
    return next((k for k in IDENTIFIER_PREFERENCE if k in operation.serves), sorted(operation.serves)[0])


def reading_answers() -> list[Figure]:
    """Per operation, the worst of its error answers: every id quoted back, or one error per id."""
    figures = []
    for vendor, connector in CONNECTORS.items():
        for operation in connector.operations:
            kind = operation_kind(operation)
            requests = [
                parse({"action": str(operation.action), "identity": {kind: example_value(kind, n)}})
                for n in range(operation.max_batch)
            ]
            targets = [Target(r, r.identifiers[0]) for r in requests]
            values = [t.identifier.value for t in targets]
            answers = [
                HttpAnswer(400, {}, json.dumps({"message": "invalid: " + ", ".join(values)}).encode()),
                HttpAnswer(429, {"Retry-After": "60"}, b'{"message": "rate limit exceeded"}'),
                HttpAnswer(
                    201,
                    {},
                    json.dumps(
                        {
                            "message": "success",
                            "removed_ids": [],
                            "removal_errors": [f"{v} not found" for v in values],
                        }
                    ).encode(),
                ),
            ]

            worst = max(_read_cost(connector, operation, a, targets) for a in answers) / len(targets) * 1000
            floor = (
                sum(cpu_seconds(lambda a=a: json.loads(a.body), 20) for a in answers) / len(targets) * 1000
            )
            figures.append(
                Figure(
                    f"read {vendor} {operation.name}, {len(targets)} ids",
                    worst,
                    "ms/id",
                    0.1,
                    f"json.loads of the answers: {floor:.4f} ms/id",
                )
            )
    return figures


def _read_cost(connector, operation: Operation, answer: HttpAnswer, targets: list[Target]) -> float:
    """CPU of what the relay does with one answer: read it, then redact the reasons."""

    def read() -> None:
        redact = Redactor(targets)
        [redact(v) for v in _read(connector, operation, answer, targets)]

    return cpu_seconds(read, 20)


def bulk_intake(count: int = 1000) -> list[Figure]:
    aws = StubbedAws()
    hasher = IdentifierHasher(KEY)
    sqs = aws.client("sqs", TRUSTED_CALLS)

    def send_batch(url: str, bodies: list[str]) -> None:
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies)]
        )

    urls = {vendor: f"https://sqs.us-east-1.amazonaws.com/123456789012/{vendor}" for vendor in CONNECTORS}
    table = LedgerTable(aws.client("dynamodb", TRUSTED_CALLS), "ledger", 400)
    ledger = RequestBook(table, hasher)
    # As deployed: the identifiers kept in the ledger, the messages naming them.
    intake = Intake(
        Routing(urls), ledger, send_batch, sealer=Sealer(IdentityBook(table, hasher, 15, "intake"))
    )
    body = json.dumps(
        {
            "requests": [
                {"identity": {"external_id": f"p{n}", "email": f"p{n}@example.com"}} for n in range(count)
            ]
        }
    )

    def submit() -> None:
        requests = [parse(item) for item in json.loads(body)["requests"]]
        intake.submit_many(requests)

    seconds = cpu_seconds(submit)
    calls = sum(aws.calls.values()) / count
    dynamodb = aws.client("dynamodb")
    old_way = cpu_seconds(
        lambda: [
            (
                dynamodb.put_item(TableName="ledger", Item={"request_id": {"S": f"p{n}"}}),
                dynamodb.update_item(TableName="ledger", Key={"request_id": {"S": f"p{n}"}}),
            )
            for n in range(count)
        ]
    )
    vendors = len(CONNECTORS)
    return [
        Figure(
            f"bulk intake of {count}: AWS calls a request",
            calls,
            "",
            1.1,
            f"was 2.2 (a PutItem and an UpdateItem each, {vendors} vendors' sends)",
        ),
        Figure(
            f"bulk intake of {count}: CPU, network stubbed",
            seconds,
            "s",
            0.5,
            f"the old PutItem+UpdateItem per request alone: {old_way:.2f} s",
        ),
        Figure("  the same at 256 MB (0.146 vCPU)", seconds / 0.146, "s", None, "API Gateway cuts at 29 s"),
    ]


def ledger_writes(records: int = 100, per_record: int = 4) -> list[Figure]:
    aws = StubbedAws()
    hasher = IdentifierHasher(KEY)
    ledger = OutcomeBook(LedgerTable(aws.client("dynamodb", TRUSTED_CALLS), "ledger", 400), hasher)
    results = []
    for n in range(records):
        request: DeletionRequest = parse(
            {
                "identity": {
                    "external_id": f"p{n}",
                    "email": f"p{n}@example.com",
                    "phone_number": f"+6590{n:06d}",
                    "guid": f"g{n}",
                }
            }
        )
        for identifier in request.identifiers[:per_record]:
            verdict = Verdict(Outcome.DELETED, "", 200)
            results.append(
                (
                    IdentifierResult(
                        request.request_id, "braze", identifier, verdict, "2026-01-01T00:00:00Z"
                    ),
                    f"message-{n}:1",
                )
            )
    per_result = cpu_seconds(lambda: ledger.record(results, {}), 5) / len(results) * 1000
    calls = aws.calls["TransactWriteItems"] / 5
    client = aws.client("dynamodb")
    updates = [{"Update": ledger._outcome_update(r, a, {})} for r, a in results]
    old_way = cpu_seconds(lambda: [client.update_item(**u["Update"]) for u in updates]) / len(results) * 1000
    return [
        Figure(
            f"ledger work, {records} records x {per_record} ids: CPU a result",
            per_result,
            "ms",
            0.3,
            f"one UpdateItem per result: {old_way:.3f} ms",
        ),
        Figure("  DynamoDB write calls for the batch", calls, "", records, f"one per result: {len(results)}"),
    ]
