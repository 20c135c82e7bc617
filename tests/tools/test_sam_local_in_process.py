"""tools/sam_local/in_process.py on the fixture app: the local stack's provisioning, function
environments and SQS delivery steps, with AWS (moto) and the handler in this process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest

from tools.sam_local import InProcessStack
from tools.sam_local.functions import InvokeResult
from tools.sam_local.in_process import cold_start

TEMPLATE = Path(__file__).resolve().parent / "fixtures" / "sam_app" / "template.yaml"


def test_provision_makes_the_kinds_asked_for_then_the_rest_keeping_what_exists(aws):
    stack = InProcessStack(TEMPLATE)
    stack.provision(
        {"VendorSecret": {"username": "relay", "password": "first"}}, kinds=("AWS::SecretsManager::Secret",)
    )
    assert set(stack.stack.physical) == {"VendorSecret"}
    later = InProcessStack(TEMPLATE)
    later.provision({"VendorSecret": {"username": "relay", "password": "second"}})
    assert {"WorkQueue", "WorkDeadLetterQueue", "IdleQueue", "LedgerTable", "VendorSecret"} <= set(
        later.stack.physical
    )
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=later.stack.ref("VendorSecret"))
    assert json.loads(secret["SecretString"])["password"] == "first"  # found, not made again
    assert later.physical("AWS::DynamoDB::Table")["LedgerTable"]["Ref"] == "erasure-relay-LedgerTable"


def test_environments_are_shared_where_the_functions_agree_and_own_where_they_differ(aws):
    stack = InProcessStack(TEMPLATE, env_vars={"EchoFunction": {"STAGE": "echo"}})
    stack.provision()
    shared, own = stack.environments()
    assert shared["TABLE_NAME"] == "erasure-relay-LedgerTable"  # every function's, one value
    assert shared["GREETING"] == "from-template"  # one function's only
    assert "STAGE" not in shared
    assert own["EchoFunction"] == {"STAGE": "echo"}
    assert own["QueueWorkerFunction"] == {"STAGE": "test"}
    assert stack.function_id("queue_worker") == "QueueWorkerFunction"


def test_cold_start_sets_the_variables_for_the_block_only(monkeypatch):
    monkeypatch.setenv("STAGE", "before")
    monkeypatch.delenv("GREETING", raising=False)
    with cold_start({"STAGE": "during", "GREETING": "hello"}):
        assert (os.environ["STAGE"], os.environ["GREETING"]) == ("during", "hello")
    assert os.environ["STAGE"] == "before" and "GREETING" not in os.environ


def test_a_delivery_receives_a_batch_invokes_and_deletes_what_did_not_fail(aws):
    stack = InProcessStack(TEMPLATE)
    stack.provision()
    events = []

    def invoke(function_id, event):
        events.append((function_id, event))
        failed = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "fail"]
        return InvokeResult("request-1", {"batchItemFailures": failed})

    delivery = stack.sqs_delivery("QueueWorkerFunction", invoke)
    assert delivery.queue_url == stack.stack.ref("WorkQueue")
    assert stack.dead_letter_arn(delivery.queue_arn) == stack.stack.get_att("WorkDeadLetterQueue", "Arn")
    sqs = boto3.client("sqs")
    for body in ("ok", "fail", "later"):
        sqs.send_message(QueueUrl=delivery.queue_url, MessageBody=body)

    batch = delivery.receive(delivery.source.batch_size)  # BatchSize 2
    result = delivery.deliver(batch)
    ((function_id, event),) = events
    assert function_id == "QueueWorkerFunction" and len(batch) == 2
    assert [r["eventSourceARN"] for r in event["Records"]] == [delivery.queue_arn] * 2
    failed = {f["itemIdentifier"] for f in result.payload["batchItemFailures"]}
    assert failed == {m["MessageId"] for m in batch if m["Body"] == "fail"}
    attributes = sqs.get_queue_attributes(QueueUrl=delivery.queue_url, AttributeNames=["All"])["Attributes"]
    left = int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )
    assert left == 3 - (2 - len(failed))  # the batch's successes deleted, the failed one kept


def test_a_function_error_leaves_the_whole_batch(aws):
    stack = InProcessStack(TEMPLATE)
    stack.provision()
    delivery = stack.sqs_delivery(
        "QueueWorkerFunction", lambda _id, _event: InvokeResult("r", {"errorType": "Boom"}, "Unhandled")
    )
    boto3.client("sqs").send_message(QueueUrl=delivery.queue_url, MessageBody="ok")
    batch = delivery.receive()
    assert delivery.failed(batch, delivery.deliver(batch)) == {batch[0]["MessageId"]}


def test_a_function_without_an_sqs_event_has_no_delivery(aws):
    stack = InProcessStack(TEMPLATE)
    stack.provision()
    with pytest.raises(Exception, match="no SQS event"):
        stack.sqs_delivery("EchoFunction", lambda *_: None)
