"""Builders shared by the tests: events, function loading, a stand-in for healthy vendors, and
the deployed relay as tests drive it (its API, its queues delivered like Lambda's event source
mappings, its ledger). Fixtures live in conftest.py."""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import sys
from pathlib import Path

import boto3
from werkzeug import Response

from erasure.request import parse
from erasure.vendors import CONNECTORS
from tools.sam_local import Stack, load_template, sqs_record
from tools.sam_local.api_gateway import api_routes
from tools.sam_local.events import sample_event
from tools.sam_local.functions import function_specs

ROOT = Path(__file__).resolve().parent.parent
HASH_KEY = "test-hash-key-0123456789abcdef0123456789abcdef"
# Each connector's secret fields, with values in mixed case (Insider must send its name lowercase).
CREDENTIALS = {
    vendor: {field: f"Test-{vendor}-{field}-42" for field in connector.credential_fields}
    for vendor, connector in CONNECTORS.items()
}


def request(identity: dict, action: str = "delete_profile", **extra):
    return parse({"identity": identity, "action": action, **extra})


def outcomes(results) -> list[tuple[str, str]]:
    """(identifier type, outcome) pairs of one request's results."""
    return [(r.identifier.label, str(r.verdict.outcome)) for r in results]


def json_lines(text: str) -> list[dict]:
    """The JSON objects among captured lines: log lines and metrics (Powertools' own debug lines
    are plain text)."""
    found = []
    for line in text.splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return [line for line in found if isinstance(line, dict)]


def load_function(name: str):
    """Import functions/<name>/app.py under its own module name, as Lambda would load it."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"function_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


SAMPLE_BODY = json.loads((ROOT / "events" / "jane.json").read_text())


@functools.cache
def _local_stack() -> tuple[Stack, dict, list]:
    stack = Stack(ROOT / "template.yaml", {}, "erasure-relay", "us-east-1")
    specs = function_specs(stack)
    by_folder = {Path(stack.resources[id]["Properties"]["CodeUri"]).name: spec for id, spec in specs.items()}
    return stack, by_folder, api_routes(stack, specs)


def event(function: str, trigger: str, body=SAMPLE_BODY) -> dict:
    """The `trigger` (sqs or api) event of functions/<function>/, as the local stack sends it
    (`python -m tools.sam_local generate-event`); by default it carries events/jane.json."""
    stack, specs, routes = _local_stack()
    return sample_event(stack, specs[function], routes, trigger, body)


def respond(responder, status: int, body) -> None:
    """Have a pytest-httpserver expectation answer `body`: JSON, or text as it is."""
    if isinstance(body, str):
        responder.respond_with_data(body, status)
    else:
        responder.respond_with_json(body, status)


def answer_success(req):
    """Every vendor's documented success answer, by path: a stand-in for four healthy vendors."""
    if req.path == "/users/external_ids/remove":
        ids = req.get_json()["external_ids"]
        return Response(json.dumps({"message": "success", "removed_ids": ids, "removal_errors": []}), 201)
    if req.path == "/1/delete/profiles.json":
        return Response(json.dumps({"status": "success"}), 200)
    if req.path == "/users/delete":
        return Response(json.dumps({"deleted": len(next(iter(req.get_json().values())))}), 201)
    if req.path in ("/api/user/v1/identity", "/api/user/v1/delete"):
        return Response("{}", 200)
    if req.path == "/api/v1/identities/delete":
        return Response(json.dumps({"status": True, "code": "20000", "message": "OK", "data": True}), 200)
    return Response("not found", 404)


class FakeContext:
    """What Lambda passes as context, enough for Powertools and the relay's deadline."""

    function_name = "erasure-relay-test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:erasure-relay-test"

    def __init__(self, aws_request_id: str = "test-invocation"):
        self.aws_request_id = aws_request_id  # unique per invocation in Lambda

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def hostile_vendor(req):
    """Answers that quote identifiers back, refuse, throttle and fail."""
    body = req.get_json()
    if req.path == "/users/external_ids/remove":
        ids = body["external_ids"]
        errors = [f"'{ids[-1]}' is a primary external id at index {len(ids) - 1}"]
        return Response(
            json.dumps({"message": "success", "removed_ids": ids[:-1], "removal_errors": errors}), 201
        )
    if req.path == "/api/user/v1/identity":
        value = json.dumps(body["identifiers"])
        return Response(json.dumps({"error": f"no such user for these identifiers {value}: no data"}), 404)
    if req.path == "/api/v1/identities/delete":
        external_id = body["identity"]["external_id"]
        return Response(
            json.dumps({"status": False, "code": "40001", "message": f"bad id {external_id}"}), 200
        )
    if req.path == "/1/delete/profiles.json":
        return Response(json.dumps({"status": "fail", "error": f"cannot delete {body}", "code": 500}), 500)
    return answer_success(req)


VENDORS = list(CONNECTORS)  # every registered vendor: a new one is tested without edits here


def configure_functions(monkeypatch, base_url: str, credentials: dict[str, dict[str, str]]) -> None:
    """Every function's settings as template.yaml gives them in AWS: secrets in (moto) Secrets
    Manager, and each vendor's base URL pointed at `base_url`."""
    from aws_lambda_powertools.utilities import parameters

    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name="hash-key", SecretString=json.dumps({"key": HASH_KEY}))
    monkeypatch.setenv("HASH_KEY_SECRET_ID", "hash-key")
    for vendor, connector in CONNECTORS.items():
        secrets.create_secret(Name=f"{vendor}-credentials", SecretString=json.dumps(credentials[vendor]))
        monkeypatch.setenv(f"{vendor.upper()}_SECRET_ID", f"{vendor}-credentials")
        monkeypatch.setenv(connector.url_variable, base_url)
    parameters.clear_caches()


def sandbox_credentials(sandbox) -> dict[str, dict[str, str]]:
    """The credentials the vendor sandbox expects, in the fields each connector's secret has."""
    return {vendor: sandbox.credentials(vendor, c.credential_fields) for vendor, c in CONNECTORS.items()}


def deploy_relay(
    load, monkeypatch, max_receive_count: int | None = None, verify: bool = False
) -> DeployedRelay:
    """The ledger table and the queues as template.yaml defines them, in moto; with a
    `max_receive_count`, every queue has its dead-letter queue ("<queue>-dlq"); with `verify`,
    each vendor function checks its deletions through its own queue (VERIFY_QUEUE_URL), and
    status events reach the queue "events" through an EventBridge rule."""
    table = load_template(ROOT / "template.yaml")["Resources"]["LedgerTable"]["Properties"]
    boto3.client("dynamodb").create_table(
        TableName="ledger",
        KeySchema=table["KeySchema"],
        AttributeDefinitions=table["AttributeDefinitions"],
        BillingMode=table["BillingMode"],
        GlobalSecondaryIndexes=table["GlobalSecondaryIndexes"],
    )  # no stream: moto would copy all its records at each transaction; `publish` plays it
    monkeypatch.setenv("LEDGER_TABLE", "ledger")
    sqs = boto3.client("sqs")
    queue_urls = {}
    for queue in [*VENDORS, "intake"]:
        attributes = {}
        if max_receive_count:
            dlq = sqs.create_queue(QueueName=f"erasure-relay-{queue}-dlq")["QueueUrl"]
            queue_urls[f"{queue}-dlq"] = dlq
            arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            policy = {"deadLetterTargetArn": arn, "maxReceiveCount": max_receive_count}
            attributes["RedrivePolicy"] = json.dumps(policy)
        url = sqs.create_queue(QueueName=f"erasure-relay-{queue}", Attributes=attributes)["QueueUrl"]
        queue_urls[queue] = url
        if queue != "intake":
            monkeypatch.setenv(f"{queue.upper()}_QUEUE_URL", url)
    if verify:
        queue_urls["events"] = _status_events_queue(sqs)
    return DeployedRelay(load, queue_urls, monkeypatch if verify else None)


def _status_events_queue(sqs) -> str:
    """A queue that receives the relay's status events from the default bus, as a subscriber would."""
    from erasure.handlers.receipts import STATUS_EVENT_SOURCE

    url = sqs.create_queue(QueueName="status-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events")
    events.put_rule(Name="status", EventPattern=json.dumps({"source": [STATUS_EVENT_SOURCE]}))
    events.put_targets(Rule="status", Targets=[{"Id": "queue", "Arn": arn}])
    return url


class DeployedRelay:
    """The deployed relay, as far as tests see it: its API, its queues and its ledger."""

    def __init__(self, load, queue_urls, verify_with=None):
        self.intake = load("intake").lambda_handler
        self.status = load("status").lambda_handler
        self.receipts = load("receipts").lambda_handler
        self.vendors = {}
        for vendor in VENDORS:  # each checks its deletions through its own queue, as template.yaml says
            if verify_with:
                verify_with.setenv("VERIFY_QUEUE_URL", queue_urls[vendor])
            self.vendors[vendor] = load(vendor).lambda_handler
        if verify_with:
            verify_with.delenv("VERIFY_QUEUE_URL")
        self.queue_urls = queue_urls
        self.sqs = boto3.client("sqs")
        self.received = {}  # queue -> the messages of its last delivery
        self.invocations = itertools.count()

    def post(self, body, headers=None):
        api = event("intake", "api")
        api["body"] = body if isinstance(body, str) else json.dumps(body)
        api["headers"] = {**api["headers"], **(headers or {})}
        answer = self.intake(api, FakeContext())
        return answer["statusCode"], json.loads(answer["body"])

    def get(self, request_id):
        api = event("status", "api")
        api["path"] = f"/v1/deletions/{request_id}"
        api["pathParameters"] = {"request_id": request_id}
        answer = self.status(api, FakeContext())
        return answer["statusCode"], json.loads(answer["body"])

    def waiting(self, queue):
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_urls[queue], AttributeNames=["All"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def deliver(self, queue):
        """One poll of an event source mapping: receive, invoke, delete what did not fail."""
        result = self.deliver_without_deleting(queue)
        if result is None:
            return None
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for message in self.received[queue]:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.queue_urls[queue], ReceiptHandle=message["ReceiptHandle"]
                )
        return result

    def deliver_without_deleting(self, queue):
        url = self.queue_urls[queue]
        messages = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        )
        messages = messages.get("Messages", [])
        self.received[queue] = messages
        return self._invoke(queue, messages) if messages else None

    def _invoke(self, queue, messages):
        arn = f"arn:aws:sqs:us-east-1:123456789012:{self.queue_urls[queue].rsplit('/', 1)[1]}"
        handler = self.intake if queue == "intake" else self.vendors[queue]
        records = [sqs_record(m, arn, "us-east-1") for m in messages]
        return handler({"Records": records}, FakeContext(f"delivery-{next(self.invocations)}"))

    def deliver_twice(self, queue):
        """SQS's duplicate: one received batch given to two invocations (the same records, the
        same receive counts); what either reported failed stays, the rest is deleted."""
        first = self.deliver_without_deleting(queue)
        if first is None:
            return None
        messages = self.received[queue]
        second = self._invoke(queue, messages)
        failed = {f["itemIdentifier"] for f in first["batchItemFailures"] + second["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.queue_urls[queue], ReceiptHandle=message["ReceiptHandle"]
                )
        return {"batchItemFailures": [{"itemIdentifier": i} for i in sorted(failed)]}

    def in_flight(self, queue):
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_urls[queue], AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"])

    def make_visible(self, queue, message_ids=None):
        """Time passes: the messages hidden by the last delivery (or those of them named) until
        their retry is due show again."""
        for message in self.received[queue]:
            if message_ids is None or message["MessageId"] in message_ids:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_urls[queue],
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )

    def all_messages(self, queue):
        """Every message waiting in a queue (a dead-letter queue, say), left in place."""
        found, seen = [], set()
        while batch := self.sqs.receive_message(
            QueueUrl=self.queue_urls[queue], MaxNumberOfMessages=10, VisibilityTimeout=30
        ).get("Messages"):
            fresh = [m for m in batch if m["MessageId"] not in seen]
            seen.update(m["MessageId"] for m in fresh)
            found += fresh
        return found

    def publish(self):
        """The ledger's stream reaches the receipts function: every request, as if each changed."""
        requests = [i["request_id"] for i in self.ledger_items() if i["item"] == "REQUEST"]
        records = [
            {
                "eventID": str(n),
                "eventName": "MODIFY",
                "eventSource": "aws:dynamodb",
                "dynamodb": {
                    "Keys": {"request_id": {"S": r}, "item": {"S": "REQUEST"}},
                    "SequenceNumber": str(n),
                },
            }
            for n, r in enumerate(requests)
        ]
        return self.receipts({"Records": records}, FakeContext())

    def status_events(self):
        """The status events published since the last call, as the subscriber's queue got them."""
        found = self.all_messages("events")
        for message in found:
            self.sqs.delete_message(
                QueueUrl=self.queue_urls["events"], ReceiptHandle=message["ReceiptHandle"]
            )
        return [json.loads(m["Body"]) for m in found]

    def ledger_items(self):
        return boto3.resource("dynamodb").Table("ledger").scan()["Items"]
