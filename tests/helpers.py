"""Builders shared by the tests: events, function loading, stand-ins for healthy and hostile
vendors, and the deployed relay as tests drive it (its API, its queues delivered like Lambda's
event source mappings, its ledger). Fixtures live in conftest.py.

Nothing here names a vendor: the vendors are erasure.vendors.CONNECTORS, their answers come from
the vendor sandbox's modules (tools/vendor_sandbox/stand_in.py), and the relay's resources and
settings from template.yaml, through the local stack's own code (tools/sam_local/in_process.py).
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import os
import sys
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from werkzeug import Response

from erasure.request import parse
from erasure.vendors import CONNECTORS
from tools.sam_local.api_gateway import api_routes
from tools.sam_local.events import sample_event
from tools.sam_local.functions import InvokeResult
from tools.sam_local.in_process import InProcessStack, cold_start
from tools.sam_local.template import referenced_ids
from tools.vendor_sandbox import VendorSandbox, seed_of, stand_in

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
HASH_KEY = "test-hash-key-0123456789abcdef0123456789abcdef"
# One person every vendor holds (tests/functions/conftest.py seeds the sandbox with her).
ANA = {"external_id": "ana-1", "email": "ana@example.com", "guid": "ct-ana", "uuid": "ana-uuid"}
HASH_KEY_VARIABLE = "HASH_KEY_SECRET_ID"  # the setting that names the hash key's secret
# Each connector's secret fields, with values in mixed case: a connector that must change a
# credential's case (a vendor may take a name in lowercase only) is seen to do it.
CREDENTIALS = {
    vendor: {field: f"Test-{vendor}-{field}-42" for field in connector.credential_fields}
    for vendor, connector in CONNECTORS.items()
}
VENDORS = list(CONNECTORS)  # every registered vendor: a new one is tested without edits here


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


SAMPLE_BODY = json.loads((ROOT / "events" / "requests" / "jane.json").read_text())


@functools.cache
def _template() -> tuple[InProcessStack, list]:
    """The template as the local stack reads it (nothing provisioned), and its API routes."""
    stack = InProcessStack(TEMPLATE)
    return stack, api_routes(stack.stack, stack.functions)


def event(function: str, trigger: str, body=SAMPLE_BODY) -> dict:
    """The `trigger` (sqs or api) event of functions/<function>/, as the local stack sends it
    (`python -m tools.sam_local generate-event`); by default it carries events/requests/jane.json."""
    stack, routes = _template()
    return sample_event(stack.stack, stack.functions[stack.function_id(function)], routes, trigger, body)


def respond(responder, status: int, body) -> None:
    """Have a pytest-httpserver expectation answer `body`: JSON, or text as it is."""
    if isinstance(body, str):
        responder.respond_with_data(body, status)
    else:
        responder.respond_with_json(body, status)


def _stand_in(req, kind: str) -> Response:
    """A vendor's `kind` answer to a pytest-httpserver request (tools/vendor_sandbox/stand_in.py):
    the vendor is the one whose route the call is; a call to no vendor's route is a 404."""
    call = stand_in.request_of(req.method, req.path, dict(req.args), dict(req.headers), req.get_data())
    reply = stand_in.answer(call, kind)
    if reply is None:
        return Response("not found", 404)
    body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body)
    return Response(body, reply.status, headers=reply.headers, content_type="application/json")


def answer_success(req) -> Response:
    """Each vendor's documented success answer (its sandbox module's `documented_success`): a
    stand-in for healthy vendors."""
    return _stand_in(req, "success")


def hostile_vendor(req) -> Response:
    """Answers that quote an identifier of the call back, in a partial failure, a refusal or an
    error (each sandbox module's `hostile_answer`); the documented success elsewhere."""
    return _stand_in(req, "hostile")


class FakeContext:
    """What Lambda passes as context, enough for Powertools and the relay's deadline."""

    function_name = "erasure-relay-test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:erasure-relay-test"

    def __init__(self, aws_request_id: str = "test-invocation"):
        self.aws_request_id = aws_request_id  # unique per invocation in Lambda

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


# -- the relay's AWS resources and settings, from template.yaml through the local stack's code ----


def _secret_values(stack: InProcessStack, credentials: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """{secret logical id: value}: the hash key, and each vendor's credentials in the secret its
    function's <VENDOR>_SECRET_ID names (as tools/local_secrets.py finds it)."""
    values: dict[str, Any] = {}
    for spec in stack.functions.values():
        for name, value in spec.variables.items():
            logical_id = value.get("Ref") if isinstance(value, dict) else None
            if name == HASH_KEY_VARIABLE:
                values[logical_id] = {"key": HASH_KEY}
            for vendor, connector in CONNECTORS.items():
                if name == connector.secret_variable:
                    values[logical_id] = dict(credentials[vendor])
    return values


def _secret_settings(stack: InProcessStack) -> dict[str, str]:
    """Every function's settings that name a (provisioned) secret, as the template gives them."""
    secrets = stack.physical("AWS::SecretsManager::Secret")
    return {
        name: str(stack.stack.resolve(value))
        for spec in stack.functions.values()
        for name, value in spec.variables.items()
        if referenced_ids(value) & secrets.keys()
    }


def configure_functions(monkeypatch, base_url: str, credentials: dict[str, dict[str, str]]) -> None:
    """Every function's secrets as template.yaml makes them, in (moto) Secrets Manager, holding
    the hash key and these credentials; the settings that name them; and each vendor's base URL
    pointed at `base_url`."""
    from aws_lambda_powertools.utilities import parameters

    stack = InProcessStack(TEMPLATE)
    stack.provision(_secret_values(stack, credentials), kinds=("AWS::SecretsManager::Secret",))
    for name, value in _secret_settings(stack).items():
        monkeypatch.setenv(name, value)
    for connector in CONNECTORS.values():
        monkeypatch.setenv(connector.url_variable, base_url)
    parameters.clear_caches()


def sandbox_credentials(sandbox) -> dict[str, dict[str, str]]:
    """The credentials the vendor sandbox expects, in the fields each connector's secret has."""
    return {vendor: sandbox.credentials(vendor, c.credential_fields) for vendor, c in CONNECTORS.items()}


def _bound_receives(stack: InProcessStack, max_receive_count: int | None) -> None:
    """Each queue's RedrivePolicy with `max_receive_count` receives, or none (no dead letters)."""
    for resource in stack.stack.resources.values():
        properties = resource.get("Properties") or {}
        if resource.get("Type") != "AWS::SQS::Queue" or "RedrivePolicy" not in properties:
            continue
        if max_receive_count is None:
            del properties["RedrivePolicy"]
        else:
            policy = properties["RedrivePolicy"]
            properties["RedrivePolicy"] = {**policy, "maxReceiveCount": max_receive_count}


@contextmanager
def sandbox_holding(people: list[dict[str, Any]]):
    """The vendor sandbox on a free port, every vendor holding these people its own way."""
    with VendorSandbox() as running:
        running.seed(seed_of(people))
        yield running


def relay_against(sandbox, monkeypatch, **deploy: Any) -> DeployedRelay:
    """The relay deployed (deploy_relay's options) with every vendor function pointed at `sandbox`."""
    configure_functions(monkeypatch, sandbox.url, sandbox_credentials(sandbox))
    return deploy_relay(load_function, monkeypatch, **deploy)


def deploy_relay(
    load, monkeypatch, max_receive_count: int | None = None, verify: bool = False
) -> DeployedRelay:
    """The relay as template.yaml deploys it, in moto: its table, queues and secrets provisioned
    and each function's settings computed by the local stack's own code (tools/sam_local). The
    test's environment wins for the settings the template declares that it set (configure_
    functions' base URLs, a shorter VERIFY_AFTER_S), as SAM's env-vars file would. With a
    `max_receive_count`, every queue gives its messages to its dead-letter queue ("<queue>-dlq")
    after so many receives (without, never); with `verify`, each vendor function checks its
    deletions as the template says (else VERIFY_QUEUE_URL is empty), and status events reach the
    queue "events" through an EventBridge rule."""
    stack = InProcessStack(TEMPLATE)
    _bound_receives(stack, max_receive_count)
    stack.provision(_secret_values(stack, CREDENTIALS))  # secrets made before are kept as they are
    declared = {name for spec in stack.functions.values() for name in spec.variables}
    given = {name: os.environ[name] for name in declared if name in os.environ}
    given.pop("VERIFY_QUEUE_URL", None)
    if not verify:
        given["VERIFY_QUEUE_URL"] = ""
    stack.env_vars = {"Parameters": given}
    events = _status_events_queue(boto3.client("sqs")) if verify else None
    return DeployedRelay(stack, load, monkeypatch, max_receive_count is not None, events)


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
    """The deployed relay, as far as tests see it: its API, its queues and its ledger. Each
    function (functions/<name>/) is loaded in this process with its settings; each queue is
    delivered by its event source mapping's own steps (tools/sam_local/sqs.py's SqsDelivery),
    one poll when a test says."""

    def __init__(
        self, stack: InProcessStack, load, monkeypatch, dead_letters: bool, events_url: str | None = None
    ):
        shared, own = stack.environments()
        for name, value in shared.items():
            monkeypatch.setenv(name, value)
        handlers = {}
        for folder, logical_id in stack.functions_by_folder().items():
            with cold_start(own[logical_id]):  # e.g. each vendor's own VERIFY_QUEUE_URL
                handlers[folder] = load(folder).lambda_handler
        self.intake = handlers["intake"]
        self.status = handlers["status"]
        self.receipts = handlers["receipts"]
        self.vendors = {vendor: handlers[vendor] for vendor in VENDORS}
        self.invocations = itertools.count()
        self.deliveries = {
            folder: stack.sqs_delivery(logical_id, functools.partial(self._invoke, folder))
            for folder, logical_id in stack.functions_by_folder().items()
            if any(source.function_id == logical_id for source in stack.sqs_sources)
        }
        self.queue_urls = {queue: d.queue_url for queue, d in self.deliveries.items()}
        self.queue_arns = {queue: d.queue_arn for queue, d in self.deliveries.items()}
        for queue, delivery in self.deliveries.items():
            dead_letter_arn = stack.dead_letter_arn(delivery.queue_arn) if dead_letters else None
            if dead_letter_arn:
                self.queue_urls[f"{queue}-dlq"] = stack.queue_url(dead_letter_arn)
        if events_url:
            self.queue_urls["events"] = events_url
        (self.ledger_table,) = (t["Ref"] for t in stack.physical("AWS::DynamoDB::Table").values())
        self.sqs = boto3.client("sqs")
        self.received = {}  # queue -> the messages of its last delivery

    def _invoke(self, queue: str, _function_id: str, event: dict) -> InvokeResult:
        """The queue's function (as the test holds it now) called in-process; what it raises
        reaches the test."""
        request_id = f"delivery-{next(self.invocations)}"
        handler = self.vendors[queue] if queue in self.vendors else getattr(self, queue)
        return InvokeResult(request_id, handler(event, FakeContext(request_id)))

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

    def list(self, **params):
        api = event("status", "api")
        api["path"] = api["resource"] = "/v1/deletions"
        api["pathParameters"] = None
        api["queryStringParameters"] = {k: str(v) for k, v in params.items()} or None
        answer = self.status(api, FakeContext())
        return answer["statusCode"], json.loads(answer["body"])

    def cancel(self, request_id):
        api = event("status", "api")
        api["httpMethod"] = api["requestContext"]["httpMethod"] = "DELETE"
        api["path"] = f"/v1/deletions/{request_id}"
        api["pathParameters"] = {"request_id": request_id}
        answer = self.status(api, FakeContext())
        return answer["statusCode"], json.loads(answer["body"])

    def waiting(self, queue):
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_urls[queue], AttributeNames=["All"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def _receive(self, queue) -> list[dict]:
        delivery = self.deliveries[queue]
        self.received[queue] = delivery.receive(delivery.source.batch_size)
        return self.received[queue]

    def deliver(self, queue):
        """One poll of the queue's event source mapping: receive, invoke, delete what did not
        fail; the function's answer (None when the queue showed nothing)."""
        batch = self._receive(queue)
        return self.deliveries[queue].deliver(batch).payload if batch else None

    def deliver_without_deleting(self, queue):
        batch = self._receive(queue)
        return self.deliveries[queue].invoke(batch).payload if batch else None

    def deliver_twice(self, queue):
        """SQS's duplicate: one received batch given to two invocations (the same records, the
        same receive counts); what either reported failed stays, the rest is deleted."""
        batch = self._receive(queue)
        if not batch:
            return None
        delivery = self.deliveries[queue]
        first, second = delivery.invoke(batch), delivery.invoke(batch)
        failed = delivery.failed(batch, first) | delivery.failed(batch, second)
        delivery.delete(batch, failed)
        return {"batchItemFailures": [{"itemIdentifier": i} for i in sorted(failed)]}

    def delayed(self, queue):
        """Messages sent with a delay not yet over (a retry sent anew at a throttle's wait)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_urls[queue], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"])

    def in_flight(self, queue):
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_urls[queue], AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"])

    def drain(self, rounds: int = 40) -> None:
        """Deliver every queue until none has a visible message; what failed is due again at once."""
        for _ in range(rounds):
            delivered = False
            for queue in ["intake", *VENDORS]:
                result = self.deliver(queue)
                if result:
                    delivered = True
                    self.make_visible(queue, {f["itemIdentifier"] for f in result["batchItemFailures"]})
            if not delivered:
                return

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
        """The ledger's stream reaches the receipts function: every request, as if each changed.
        (The local stack runs no DynamoDB event source: these records are built here.)"""
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
        return boto3.resource("dynamodb").Table(self.ledger_table).scan()["Items"]
