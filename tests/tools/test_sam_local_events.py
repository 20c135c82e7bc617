"""`python -m tools.sam_local generate-event`: events as the local stack delivers them, and the
command line's one-line answers to operator mistakes."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.helpers import event
from tests.tools.test_sam_local import APP, ROOT, SECRETS, TEMPLATE, run_cli
from tools.sam_local import LocalRuntime


def test_the_sqs_event_names_the_queue_the_local_stack_creates_one_record_per_body(tmp_path):
    bodies = tmp_path / "bodies.json"
    bodies.write_text(json.dumps([{"n": 1}, {"n": 2}]))
    completed = run_cli("generate-event", "QueueWorkerFunction", "sqs", "-b", str(bodies))
    assert completed.returncode == 0, completed.stderr
    records = json.loads(completed.stdout)["Records"]

    with LocalRuntime(TEMPLATE, secrets=SECRETS) as runtime:
        queue_arn = runtime.get_att("WorkQueue", "Arn")
    assert [json.loads(r["body"]) for r in records] == [{"n": 1}, {"n": 2}]
    assert {r["eventSourceARN"] for r in records} == {queue_arn}
    assert all(r["md5OfBody"] == hashlib.md5(r["body"].encode()).hexdigest() for r in records)
    assert len({r["messageId"] for r in records}) == 2


def test_the_api_event_is_the_functions_route_with_the_body():
    completed = run_cli(
        "generate-event", "EchoFunction", "api", "--event", "PostEcho", "-b", str(APP / "event.json")
    )
    assert completed.returncode == 0, completed.stderr
    api = json.loads(completed.stdout)
    assert (api["httpMethod"], api["resource"], api["path"]) == ("POST", "/echo", "/echo")
    assert json.loads(api["body"]) == {"hello": "world"}
    assert api["requestContext"]["identity"]["accessKey"]
    assert api["requestContext"]["apiId"] == "SignedApi"


def test_without_event_the_api_event_is_the_functions_first_in_the_template():
    completed = run_cli("generate-event", "EchoFunction", "api")
    assert completed.returncode == 0, completed.stderr
    api = json.loads(completed.stdout)
    assert (api["httpMethod"], api["resource"], api["path"]) == ("GET", "/items/{id}", "/items/sample-id")


def test_a_path_parameter_comes_from_the_body_field_of_that_name():
    api = event("status", "api", {"request_id": "r-9"})
    assert (api["httpMethod"], api["path"], api["pathParameters"]) == (
        "GET",
        "/v1/deletions/r-9",
        {"request_id": "r-9"},
    )
    assert api["body"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("invoke", "EchoFunction", "-e", "no-such-event.json"),
            "cannot read the event file no-such-event.json",
        ),
        (("invoke", "EchoFunction", "--env-vars", "missing-env.json"), "cannot read the env-vars file"),
        (("invoke", "NoSuchFunction"), "no function NoSuchFunction in the template"),
        (("generate-event", "EchoFunction", "sqs"), "EchoFunction has no SQS event in the template"),
        (("generate-event", "QueueWorkerFunction", "api"), "QueueWorkerFunction has no Api event"),
    ],
)
def test_operator_mistakes_are_one_line_and_exit_2(args, message):
    completed = run_cli(*args)
    assert completed.returncode == 2
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_body_file_that_is_not_json_is_named(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    completed = run_cli("generate-event", "EchoFunction", "api", "-b", str(bad))
    assert completed.returncode == 2
    assert f"the body file {bad} is not JSON" in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("generate-event", "EchoFunction"), "generate-event takes a FunctionLogicalId and a trigger"),
        (("generate-event", "--all", "EchoFunction"), "generate-event --all takes no FunctionLogicalId"),
        (("generate-event", "EchoFunction", "stream"), "EchoFunction has no DynamoDB event in the template"),
        (("generate-event", "EchoFunction", "api", "--event", "Nope"), "EchoFunction has no Api event Nope"),
    ],
)
def test_generate_event_mistakes_are_one_line_and_exit_2(args, message):
    completed = run_cli(*args)
    assert completed.returncode == 2
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_stream_record_carries_the_tables_keys_from_the_body_and_names_its_stream():
    stream = event("receipts", "stream", [{"request_id": "r-1", "item": "REQUEST", "note": "x"}, {}])
    first, second = stream["Records"]
    assert first["eventSource"] == "aws:dynamodb"
    assert first["eventSourceARN"].startswith(
        "arn:aws:dynamodb:us-east-1:123456789012:table/erasure-relay-LedgerTable/stream/"
    )
    # The ledger's stream holds keys only: the other fields are not in the record.
    assert first["dynamodb"]["Keys"] == {"request_id": {"S": "r-1"}, "item": {"S": "REQUEST"}}
    assert first["dynamodb"]["StreamViewType"] == "KEYS_ONLY" and "NewImage" not in first["dynamodb"]
    assert second["dynamodb"]["Keys"]["request_id"] == {"S": "sample-request_id"}
    assert first["eventID"] != second["eventID"]


def test_a_scheduled_event_names_the_rule_sam_makes_for_the_schedule():
    scheduled = event("receipts", "schedule")
    assert (scheduled["source"], scheduled["detail-type"], scheduled["detail"]) == (
        "aws.events",
        "Scheduled Event",
        {},
    )
    (rule,) = scheduled["resources"]
    assert rule.startswith("arn:aws:events:us-east-1:123456789012:rule/erasure-relay-ReceiptsFunction")


def test_the_first_api_event_in_the_template_is_the_default_and_event_picks_another():
    runtime = LocalRuntime(ROOT / "template.yaml")
    first = runtime.sample_event("StatusFunction", "api", {"request_id": "r-2"})
    assert (first["httpMethod"], first["path"]) == ("GET", "/v1/deletions/r-2")
    events = runtime.stack.resources["StatusFunction"]["Properties"]["Events"]
    for name, source in events.items():
        picked = runtime.sample_event("StatusFunction", "api", {"request_id": "r-2"}, event=name)
        assert (picked["httpMethod"], picked["resource"]) == (
            source["Properties"]["Method"].upper(),
            source["Properties"]["Path"],
        )
