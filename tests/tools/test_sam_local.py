"""tools/sam_local.py on a small fixture app: real processes, moto server and sockets."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tools.sam_local import LocalRuntime, Stack, merge_globals

ROOT = Path(__file__).resolve().parents[2]
APP = Path(__file__).resolve().parent / "fixtures" / "sam_app"
TEMPLATE = APP / "template.yaml"
SECRETS = APP / "secrets.json"


def wait_for(condition, timeout_s: float = 20.0, interval_s: float = 0.2):
    """condition()'s first truthy value, polling for at most timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def cli_command(*args: str) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    environment.pop("AWS_ENDPOINT_URL", None)  # the CLI must start its own moto server
    command = [sys.executable, "-m", "tools.sam_local", *args, "--template", str(TEMPLATE)]
    return {"args": command, "cwd": ROOT, "env": environment, "text": True}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(**cli_command(*args), capture_output=True, timeout=60)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def runtime():
    with LocalRuntime(TEMPLATE, secrets=SECRETS) as running:
        yield running


@pytest.fixture(scope="module")
def api_url(runtime):
    return runtime.serve_api()


def ledger(runtime: LocalRuntime) -> list[list[dict]]:
    """The SQS batches QueueWorkerFunction has recorded, each a list of Lambda event records."""
    items = runtime.client("dynamodb").scan(TableName=runtime.ref("LedgerTable"))["Items"]
    return [json.loads(item["records"]["S"]) for item in items]


# ----------------------------------------------------------------------------- CLI invoke


def test_cli_invoke_prints_the_result_with_layers_env_and_local_aws():
    completed = run_cli(
        "invoke",
        "EchoFunction",
        "-e",
        str(APP / "event.json"),
        "--env-vars",
        str(APP / "env.json"),
        "--secrets",
        str(SECRETS),
    )

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)  # nothing but the result on stdout
    assert "echo handler called" in completed.stderr
    assert result["statusCode"] == 200
    seen = json.loads(result["body"])
    assert seen["event"] == {"hello": "world"}
    # Import order: function code, then layers (a later-listed one overwrites an earlier
    # one, as in /opt), then the runtime's site-packages.
    assert seen["greeting"] == "hello world from the common layer"
    assert seen["modules"] == {
        "marker": "function",
        "overlay": "extra-layer",
        "yaml": "extra-layer",
    }
    env = seen["env"]
    assert env["GREETING"] == "from-function"  # the function's entry beats "Parameters"
    assert env["STAGE"] == "qa"  # !Ref Stage, valued by the env-vars file's Parameters
    assert env["UNDECLARED"] is None  # like SAM, only declared variables are overridden
    assert env["QUEUE_URL"].startswith("http://127.0.0.1:")
    assert env["QUEUE_URL"].endswith("/123456789012/erasure-relay-WorkQueue")
    assert env["QUEUE_ARN"] == "arn:aws:sqs:us-east-1:123456789012:erasure-relay-WorkQueue"
    assert seen["queueArnFromSqs"] == env["QUEUE_ARN"]  # the URL works against moto
    assert env["QUEUE_NAME"] == "erasure-relay-WorkQueue"
    assert env["STACK_INFO"] == "erasure-relay:us-east-1:123456789012:erasure-relay-LedgerTable"
    assert env["SECRET_ARN"].startswith(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:erasure-relay-VendorSecret"
    )
    assert seen["secret"] == {"api_key": "fixture-api-key"}
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["_HANDLER"] == "app.handler"
    assert seen["context"]["function_name"] == "EchoFunction"
    assert seen["context"]["memory_limit_in_mb"] == "256"
    assert seen["context"]["invoked_function_arn"] == (
        "arn:aws:lambda:us-east-1:123456789012:function:EchoFunction"
    )
    assert 3_000 < seen["context"]["remaining_ms"] <= 10_000  # Globals' Timeout: 10


def test_cli_invoke_of_a_raising_handler_prints_lambdas_error_and_fails():
    completed = run_cli("invoke", "BrokenFunction", "-e", str(APP / "event.json"))

    assert completed.returncode == 1
    error = json.loads(completed.stdout)
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "boom: None"
    assert "in explode" in error["stackTrace"][-1]
    assert "[ERROR] ValueError: boom: None" in completed.stderr


@pytest.mark.parametrize(("stop", "exit_code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_cli_start_serves_the_api_until_stopped(stop, exit_code):
    port = free_port()
    server = subprocess.Popen(
        **cli_command("start", "--port", str(port), "--secrets", str(SECRETS)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        status, _, body = wait_for(lambda: try_http("GET", f"http://127.0.0.1:{port}/items/7"))
        server.send_signal(stop)  # Ctrl-C is SIGINT
        _, log = server.communicate(timeout=30)
    finally:
        server.kill()

    assert status == 200
    assert json.loads(body)["event"]["pathParameters"] == {"id": "7"}
    assert server.returncode == exit_code
    assert "Mounted EchoFunction at http://127.0.0.1:" in log
    assert log.rstrip().endswith("stopped") and "Traceback" not in log


def try_http(method: str, url: str):
    try:
        return http(method, url)
    except OSError:  # not listening yet
        return None


# ----------------------------------------------------------------------------- Python API


def test_invoke_reuses_one_warm_worker(runtime):
    first = runtime.invoke("EchoFunction", {"n": 1})
    second = runtime.invoke("EchoFunction", {"n": 2})

    assert first.ok and second.ok
    first_seen, second_seen = json.loads(first.payload["body"]), json.loads(second.payload["body"])
    assert second_seen["pid"] == first_seen["pid"]
    assert second_seen["invocations"] == first_seen["invocations"] + 1
    assert second_seen["event"] == {"n": 2}
    assert second_seen["context"]["aws_request_id"] == second.request_id


def test_report_line_gives_the_peak_memory_like_lambda(tmp_path):
    log = tmp_path / "functions.log"
    with log.open("w") as logs, LocalRuntime(TEMPLATE, secrets=SECRETS, logs=logs) as running:
        assert running.invoke("EchoFunction", {"n": 1}).ok
        peaks = running.peak_memory_mb()

    report = next(line for line in log.read_text().splitlines() if line.startswith("REPORT"))
    used = int(re.search(r"\tMax Memory Used: (\d+) MB$", report).group(1))
    assert 5 < used < 256  # a Python process, well under the fixture's MemorySize
    assert peaks == {"EchoFunction": used}


def test_timeout_reports_sandbox_timedout_and_the_next_invoke_gets_a_fresh_worker(runtime):
    timed_out = runtime.invoke("SleepyFunction", {"seconds": 30})
    after = runtime.invoke("SleepyFunction", {"seconds": 0})

    assert timed_out.function_error == "Unhandled"
    assert timed_out.payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in timed_out.payload["errorMessage"]
    assert after.ok and after.payload == {"slept": 0}


def test_template_loading_and_intrinsics(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text(
        """
Parameters:
  Env: {Type: String, Default: prod}
  Zones: {Type: CommaDelimitedList, Default: "a,b,c"}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
Mappings:
  Sizes: {prod: {memory: 512}}
Resources:
  Queue: {Type: AWS::SQS::Queue}
  Fn:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: !Sub "${AWS::StackName}-fn", Handler: app.h, Runtime: python3.11}
Outputs:
  Sub: {Value: !Sub ["${Name}/${!Literal}/${Fn}/${Fn.Arn}", {Name: !Select [1, !Ref Zones]}]}
  Join: {Value: !Join ["-", [!Ref Env, !FindInMap [Sizes, !Ref Env, memory]]]}
  If: {Value: !If [IsDev, dev, [!Split [",", "x,y"], !Ref AWS::NoValue]]}
""",
        encoding="utf-8",
    )
    stack = Stack(template, {}, "demo", "eu-west-1")
    outputs = {name: stack.resolve(out["Value"]) for name, out in stack.template["Outputs"].items()}

    function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:demo-fn"
    assert outputs["Sub"] == f"b/${{Literal}}/demo-fn/{function_arn}"
    assert outputs["Join"] == "prod-512"
    assert outputs["If"] == [["x", "y"]]  # AWS::NoValue drops the list item
    dev_stack = Stack(template, {"Env": "dev"}, "demo", "eu-west-1")
    assert dev_stack.resolve(stack.template["Outputs"]["If"]["Value"]) == "dev"


def test_globals_merge_like_sam():
    merged = merge_globals(
        {"Timeout": 3, "Layers": ["g"], "Environment": {"Variables": {"A": "g", "B": "g"}}},
        {"Timeout": 9, "Layers": ["l"], "Environment": {"Variables": {"B": "l"}}},
    )

    assert merged == {
        "Timeout": 9,
        "Layers": ["g", "l"],
        "Environment": {"Variables": {"A": "g", "B": "l"}},
    }


# ----------------------------------------------------------------------------- API Gateway


def test_api_route_turns_an_http_request_into_a_rest_proxy_event(api_url):
    status, headers, body = http("GET", f"{api_url}/items/42?tag=a&tag=b", headers={"X-Trace": "t1"})

    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert headers.get_all("X-Seen") == ["a", "b"]  # multiValueHeaders become repeated headers
    event = json.loads(body)["event"]
    assert event["httpMethod"] == "GET"
    assert event["resource"] == "/items/{id}"
    assert event["path"] == "/items/42"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"]}
    assert event["headers"]["X-Trace"] == "t1"
    assert event["body"] is None and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "Prod"  # the implicit API's stage
    assert context["resourcePath"] == "/items/{id}"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userArn"] is None


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/echo", {}),  # AWS_IAM route, no signature
        ("GET", "/nowhere", {}),  # unknown route
        ("DELETE", "/items/42", {}),  # known path, other method
    ],
)
def test_api_gateway_answers_403_missing_authentication_token(api_url, method, path, headers):
    status, _, body = http(method, f"{api_url}{path}", body=b"", headers=headers)

    assert status == 403
    assert json.loads(body) == {"message": "Missing Authentication Token"}


# ----------------------------------------------------------------------------- SQS mapping


def test_sqs_mapping_honours_batch_size():
    with LocalRuntime(TEMPLATE, secrets=SECRETS) as running:
        sqs = running.client("sqs")
        entries = [{"Id": str(n), "MessageBody": f"m{n}"} for n in range(5)]
        sqs.send_message_batch(QueueUrl=running.ref("WorkQueue"), Entries=entries)
        running.start_event_sources()  # after sending, so every batch could hold all five

        batches = wait_for(lambda: (b := ledger(running)) and sum(map(len, b)) >= 5 and b)

    assert sorted(len(batch) for batch in batches) == [1, 2, 2]  # BatchSize: 2
    assert sorted(record["body"] for batch in batches for record in batch) == [f"m{n}" for n in range(5)]
    record = batches[0][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == running.get_att("WorkQueue", "Arn")
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "ApproximateFirstReceiveTimestamp"} <= record["attributes"].keys()
    assert record["md5OfBody"] and record["receiptHandle"] and record["messageId"]


def test_sqs_partial_batch_failure_retries_only_failed_records_then_redrives_to_the_dlq():
    with LocalRuntime(TEMPLATE, secrets=SECRETS) as running:
        sqs = running.client("sqs")
        entries = [{"Id": "ok", "MessageBody": "ok"}, {"Id": "fail", "MessageBody": "fail"}]
        sqs.send_message_batch(QueueUrl=running.ref("WorkQueue"), Entries=entries)
        running.start_event_sources()

        dead = wait_for(
            lambda: sqs.receive_message(QueueUrl=running.ref("WorkDeadLetterQueue"), WaitTimeSeconds=1).get(
                "Messages"
            )
        )
        records = [record for batch in ledger(running) for record in batch]

    assert [message["Body"] for message in dead] == ["fail"]
    assert [r["body"] for r in records].count("ok") == 1  # deleted after the first batch
    fail_counts = [r["attributes"]["ApproximateReceiveCount"] for r in records if r["body"] == "fail"]
    # Delivered twice (maxReceiveCount: 2), then moto moved it to the DLQ. (Scans are unordered.)
    assert sorted(fail_counts) == ["1", "2"]


def test_disabled_and_unsupported_events_get_no_mapping(runtime):
    assert [(s.function_id, s.queue) for s in runtime.sqs_sources] == [
        ("QueueWorkerFunction", {"Fn::GetAtt": ["WorkQueue", "Arn"]})
    ]


def test_local_dynamodb_transactions_still_roll_back_whole(runtime):
    """The local moto server copies a table once per transaction (tools/sam_local/moto_server.py),
    not once per item: a refused condition must still undo every write of the transaction."""
    dynamodb, table = runtime.client("dynamodb"), runtime.ref("LedgerTable")
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "kept"}, "v": {"S": "before"}})
    put_if_new = {"ConditionExpression": "attribute_not_exists(pk)", "TableName": table}
    writes = [{"Put": {"TableName": table, "Item": {"pk": {"S": f"new-{n}"}}}} for n in range(5)] + [
        {"Put": {**put_if_new, "Item": {"pk": {"S": "kept"}, "v": {"S": "after"}}}}
    ]

    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(TransactItems=writes)

    def stored(key: str):
        return dynamodb.get_item(TableName=table, Key={"pk": {"S": key}}).get("Item")

    assert [stored(f"new-{n}") for n in range(5)] == [None] * 5
    assert stored("kept")["v"]["S"] == "before"
    dynamodb.transact_write_items(TransactItems=writes[:5])  # and a good one still lands
    assert all(stored(f"new-{n}") for n in range(5))
