"""Capture every log line of runs that touch every vendor and every outcome: no raw identifier and
no credential may appear, even at debug level, even when a vendor quotes the identifier back."""

import io
import json
import logging

import pytest
from werkzeug import Response

from erasure.observability import logger
from tests.helpers import CREDENTIALS, HASH_KEY, VENDORS, FakeContext, answer_success, event

IDENTIFIERS = [
    "legacy-crm-000123",
    "legacy-crm-000456",
    "client-19827239",
    "df2e224d90874887b4d61153ef3a2508",
    "client-55501",
    "jane.doe@example.com",
    "+6598765432",
    "6598765432",
    "xyz123",
    "dfn-user-123",
    "dfn-user-456",
    "victim@example.org",
    "primary-777",
]
SECRETS = [HASH_KEY, *(value for creds in CREDENTIALS.values() for value in creds.values())]


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


@pytest.fixture
def everything_logged(caplog, capsys):
    """Our JSON log lines (from the Logger's own stream), Powertools' internal logs, and stdout."""
    handler = logger.registered_handler
    stream = io.StringIO()
    previous = handler.setStream(stream)
    logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="aws_lambda_powertools")
    # werkzeug's records are the fake vendor's own access log, not the relay's.
    ours = lambda: "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))  # noqa: E731
    yield lambda: stream.getvalue() + ours() + "".join(capsys.readouterr())
    logger.setLevel(logging.INFO)
    handler.setStream(previous)


@pytest.mark.parametrize("answers", [hostile_vendor, answer_success], ids=["hostile", "healthy"])
@pytest.mark.parametrize("vendor", VENDORS)
def test_no_identifier_or_credential_reaches_the_logs(
    vendor, answers, vendor_function, httpserver, everything_logged
):
    httpserver.expect_request("").respond_with_handler(answers)
    handler = vendor_function(vendor).lambda_handler
    handler(event(f"{vendor}-sqs.json"), FakeContext())
    handler(event(f"{vendor}-api.json"), FakeContext())
    bad = event(f"{vendor}-api.json")
    bad["body"] = json.dumps({"identity": {"email": "victim@example.org", "phone_number": "primary-777"}})
    handler(bad, FakeContext())
    logged = everything_logged()
    assert '"message":"vendor call"' in logged and "id_hash" in logged  # the capture works
    leaked = [value for value in IDENTIFIERS + SECRETS if value.lower() in logged.lower()]
    assert leaked == []
