"""Capture every log line of runs that touch every vendor and every outcome: no raw identifier and
no credential may appear, even at debug level, even when a vendor quotes the identifier back."""

import json

import pytest

from tests.helpers import (
    CREDENTIALS,
    HASH_KEY,
    SAMPLE_BODY,
    VENDORS,
    FakeContext,
    answer_success,
    event,
    hostile_vendor,
)

IDENTIFIERS = [
    *SAMPLE_BODY["identity"].values(),  # what the sample events carry
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


@pytest.mark.parametrize("answers", [hostile_vendor, answer_success], ids=["hostile", "healthy"])
@pytest.mark.parametrize("vendor", VENDORS)
def test_no_identifier_or_credential_reaches_the_logs(
    vendor, answers, vendor_function, httpserver, everything_logged
):
    httpserver.expect_request("").respond_with_handler(answers)
    handler = vendor_function(vendor).lambda_handler
    handler(event(vendor, "sqs"), FakeContext())
    handler(event(vendor, "api"), FakeContext())
    bad = event(vendor, "api")
    bad["body"] = json.dumps({"identity": {"email": "victim@example.org", "phone_number": "primary-777"}})
    handler(bad, FakeContext())
    logged = everything_logged()
    assert '"message":"vendor call"' in logged and "id_hash" in logged  # the capture works
    leaked = [value for value in IDENTIFIERS + SECRETS if value.lower() in logged.lower()]
    assert leaked == []
