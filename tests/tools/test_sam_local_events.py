"""`python -m tools.sam_local generate-event`: events as the local stack delivers them, and the
command line's one-line answers to operator mistakes."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.helpers import event
from tests.tools.test_sam_local import APP, SECRETS, TEMPLATE, run_cli
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
    completed = run_cli("generate-event", "EchoFunction", "api", "-b", str(APP / "event.json"))
    assert completed.returncode == 0, completed.stderr
    api = json.loads(completed.stdout)
    assert (api["httpMethod"], api["resource"], api["path"]) == ("POST", "/echo", "/echo")
    assert json.loads(api["body"]) == {"hello": "world"}
    assert api["requestContext"]["identity"]["accessKey"]


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
