"""Each vendor function, loaded from functions/<vendor>/app.py, driven by the events the local
stack sends it (`python -m tools.sam_local generate-event`)."""

import json
import os

import boto3
import pytest
from werkzeug import Response

from erasure.errors import ConfigError
from tests.helpers import CREDENTIALS, SAMPLE_BODY, VENDORS, FakeContext, answer_success, event

DFINERY = "/api/v1/identities/delete"


def sqs_event(*bodies, receive_count="1"):
    template = event("dfinery", "sqs")["Records"][0]
    records = []
    for n, body in enumerate(bodies):
        text = body if isinstance(body, str) else json.dumps(body)
        attributes = {**template["attributes"], "ApproximateReceiveCount": receive_count}
        records.append({**template, "messageId": f"message-{n}", "body": text, "attributes": attributes})
    return {"Records": records}


def api_event(vendor, body):
    return event(vendor, "api", body)


@pytest.mark.parametrize("vendor", VENDORS)
def test_the_sample_sqs_event_is_delivered(vendor, vendor_function, httpserver):
    httpserver.expect_request("").respond_with_handler(answer_success)
    handler = vendor_function(vendor).lambda_handler
    assert handler(event(vendor, "sqs"), FakeContext()) == {"batchItemFailures": []}
    assert httpserver.log, "the vendor was called"
    # Healthy answers: successes, and a lookup's documented "no such user" (the stand-in holds
    # no one, so a vendor that resolves first finds the person already absent).
    assert all(resp.status_code < 300 or resp.status_code == 404 for _, resp in httpserver.log)


@pytest.mark.parametrize("vendor", VENDORS)
def test_the_sample_api_event_answers_200_with_outcomes(vendor, vendor_function, httpserver):
    httpserver.expect_request("").respond_with_handler(answer_success)
    answer = vendor_function(vendor).lambda_handler(event(vendor, "api"), FakeContext())
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 200
    assert body["request_id"] == SAMPLE_BODY["request_id"]
    outcomes = {o["outcome"] for o in body["outcomes"]}
    taken = {"deleted", "accepted", "already_absent", "resolved"}
    assert outcomes & taken and outcomes <= {*taken, "skipped"}
    assert all(len(o["id_hash"]) == 32 for o in body["outcomes"])


def test_only_records_to_retry_are_reported_and_bad_records_fail_no_one(vendor_function, httpserver):
    def answer(req):
        if req.get_json()["identity"]["external_id"] == "down":
            return Response(json.dumps({"status": False, "code": "50000", "message": "ISE"}), 200)
        return answer_success(req)

    httpserver.expect_request(DFINERY).respond_with_handler(answer)
    batch = sqs_event(
        {"identity": {"external_id": "fine"}},
        {"identity": {"external_id": "down"}},
        "{not json",
        {"identity": {"phone_number": "12"}},
        {"identity": {"email": "skip@example.com"}},  # Dfinery does not serve emails: skipped, final
    )
    result = vendor_function("dfinery").lambda_handler(batch, FakeContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "message-1"}]}
    assert len(httpserver.log) == 2


def test_a_batch_of_120_braze_records_makes_3_calls(vendor_function, httpserver):
    httpserver.expect_request("/users/external_ids/remove").respond_with_handler(answer_success)
    batch = sqs_event(
        *({"action": "remove_identifier", "identity": {"external_id": f"old-{n}"}} for n in range(120))
    )
    assert vendor_function("braze").lambda_handler(batch, FakeContext()) == {"batchItemFailures": []}
    assert sorted(len(req.get_json()["external_ids"]) for req, _ in httpserver.log) == [20, 50, 50]


def test_a_throttled_record_is_retried_when_the_vendor_said(vendor_function, httpserver):
    sqs = boto3.client("sqs")
    queue_name = sqs_event({})["Records"][0]["eventSourceARN"].rsplit(":", 1)[1]  # the local stack's
    queue_url = sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"identity": {"external_id": "u1"}}))
    (message,) = sqs.receive_message(QueueUrl=queue_url, AttributeNames=["All"])["Messages"]
    record = {
        **sqs_event({})["Records"][0],
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
    }
    httpserver.expect_request(DFINERY).respond_with_json(
        {"status": False, "code": "40401", "message": "TOO_MANY_REQUEST"}, 429, headers={"Retry-After": "120"}
    )
    result = vendor_function("dfinery").lambda_handler({"Records": [record]}, FakeContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    # The queue would show it again at once (VisibilityTimeout 0); the function hid it for 120 s.
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)


@pytest.mark.parametrize(
    ("vendor_answer", "status", "retry_after"),
    [
        (
            (400, {"error": "you cannot delete the sole identifier specified for a user: bad request"}, {}),
            422,
            None,
        ),
        ((429, {"error": "rejected: too many requests"}, {"Retry-After": "9"}), 429, "9"),
        ((503, {"error": "unavailable"}, {}), 503, "30"),
        ((401, {"success": False, "message": "Partner token authentication failed."}, {}), 502, "30"),
    ],
)
def test_api_statuses_follow_the_outcome(vendor_function, httpserver, vendor_answer, status, retry_after):
    code, body, headers = vendor_answer
    httpserver.expect_request("/api/user/v1/identity").respond_with_json(body, code, headers=headers)
    answer = vendor_function("insider").lambda_handler(
        api_event("insider", {"action": "remove_identifier", "identity": {"email": "a@example.com"}}),
        FakeContext(),
    )
    assert answer["statusCode"] == status
    assert answer["multiValueHeaders"].get("Retry-After", [None])[0] == retry_after


@pytest.mark.parametrize(
    ("body", "field"),
    [("{oops", "body"), ({"identity": {"email": "nope"}}, "identity.email"), ({"identity": {}}, "identity")],
)
def test_api_bad_input_is_a_400_naming_the_field(vendor_function, httpserver, body, field):
    answer = vendor_function("insider").lambda_handler(api_event("insider", body), FakeContext())
    assert answer["statusCode"] == 400
    assert field in [e["field"] for e in json.loads(answer["body"])["errors"]]
    assert httpserver.log == []


def test_the_idempotency_key_header_becomes_the_request_id(vendor_function, httpserver):
    httpserver.expect_request("").respond_with_handler(answer_success)
    api = api_event("dfinery", {"identity": {"external_id": "u1"}})
    api["headers"]["Idempotency-Key"] = "client-key-7"
    answer = vendor_function("dfinery").lambda_handler(api, FakeContext())
    assert json.loads(answer["body"])["request_id"] == "client-key-7"


def test_a_missing_setting_fails_the_cold_start_naming_it(vendor_function, monkeypatch):
    monkeypatch.delenv("BRAZE_SECRET_ID")
    with pytest.raises(ConfigError, match="BRAZE_SECRET_ID is not set"):
        vendor_function("braze")


def test_a_malformed_secret_fails_the_cold_start_naming_its_fields(vendor_function):
    boto3.client("secretsmanager").put_secret_value(
        SecretId=os.environ["INSIDER_SECRET_ID"], SecretString='{"partner_name": "x"}'
    )
    with pytest.raises(ConfigError, match=r"INSIDER_SECRET_ID lacks non-empty field.*request_token"):
        vendor_function("insider")


def test_a_rotated_credential_is_used_once_the_cached_secret_expires(vendor_function, httpserver):
    from aws_lambda_powertools.utilities import parameters

    httpserver.expect_request(DFINERY).respond_with_handler(answer_success)
    handler = vendor_function("dfinery").lambda_handler
    handler(api_event("dfinery", {"identity": {"external_id": "u1"}}), FakeContext())
    rotated = {"service_id": "svc-2", "access_token": "rotated-token"}
    boto3.client("secretsmanager").put_secret_value(
        SecretId=os.environ["DFINERY_SECRET_ID"], SecretString=json.dumps(rotated)
    )
    parameters.clear_caches()  # what SECRET_MAX_AGE_S seconds do in a warm container
    handler(api_event("dfinery", {"identity": {"external_id": "u2"}}), FakeContext())

    (first, _), (second, _) = httpserver.log
    # (The access_token header is not seen here: the test server drops names with underscores.)
    assert (first.args["service_id"], second.args["service_id"]) == (
        CREDENTIALS["dfinery"]["service_id"],
        "svc-2",
    )
