"""The local API's AWS_IAM routes verify SigV4 as API Gateway does, over real sockets.

The fixture app's POST /echo is an AWS_IAM route (its SignedApi), GET /items/{id} an open one.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.tools.test_sam_local import SECRETS, TEMPLATE, http
from tools.sam_local import LocalRuntime
from tools.sam_local.local_aws import FAKE_CREDENTIALS
from tools.sam_local.sigv4 import LOCAL_CALLER

SIGNATURE_MISMATCH = "The request signature we calculated does not match the signature you provided."


@pytest.fixture(scope="module")
def api_url():
    with LocalRuntime(TEMPLATE, secrets=SECRETS) as runtime:
        yield runtime.serve_api()


def signed_headers(
    method: str,
    url: str,
    body: bytes = b"",
    credentials: Credentials = LOCAL_CALLER,
    region: str = "us-east-1",
    signer: type[SigV4Auth] = SigV4Auth,
    headers: dict | None = None,
) -> dict[str, str]:
    """The headers of the request as a botocore client signs it."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    signer(credentials, "execute-api", region).add_auth(request)
    return dict(request.headers)


def signed_call(method: str, url: str, body: bytes = b"", **signing):
    """A signed request over a socket: (status, headers, body)."""
    return http(method, url, body=body or None, headers=signed_headers(method, url, body, **signing))


def refusal(answer) -> tuple[int, str, str]:
    status, headers, body = answer
    return status, headers["x-amzn-ErrorType"], json.loads(body)["message"]


@pytest.fixture
def signing_clock(monkeypatch):
    """Sets the time botocore signs at (it reads botocore.auth.get_current_datetime)."""

    def set_offset(offset: timedelta) -> None:
        moment = datetime.now(UTC).replace(tzinfo=None) + offset
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: moment)

    return set_offset


# ----------------------------------------------------------------------------- accepted


@pytest.mark.parametrize(
    "credentials",
    [
        LOCAL_CALLER,
        Credentials(FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"], FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]),
    ],
    ids=["operator", "stack"],
)
def test_a_request_signed_with_a_known_key_reaches_the_function_with_its_caller(api_url, credentials):
    status, _, body = signed_call("POST", f"{api_url}/echo?b=2&a=1", b'{"x": 1}', credentials=credentials)

    assert status == 200, body
    event = json.loads(body)["event"]
    assert event["body"] == '{"x": 1}'
    identity = event["requestContext"]["identity"]
    assert identity["accessKey"] == identity["caller"] == credentials.access_key
    assert identity["userArn"] == f"arn:aws:iam::123456789012:user/{credentials.access_key}"


def test_every_header_the_caller_signed_counts_even_those_botocore_would_not_sign(api_url):
    class SigningUserAgent(SigV4Auth):  # as aws-amplify does
        def headers_to_sign(self, request):
            headers = super().headers_to_sign(request)
            headers["user-agent"] = request.headers["User-Agent"]
            return headers

    answer = signed_call(
        "POST", f"{api_url}/echo", b"{}", signer=SigningUserAgent, headers={"User-Agent": "ua/1"}
    )

    assert answer[0] == 200, answer[2]


def test_an_open_route_ignores_the_authorization_header(api_url):
    status, _, _ = http("GET", f"{api_url}/items/7", headers={"Authorization": "Bearer anything"})

    assert status == 200


# ----------------------------------------------------------------------------- refused


def test_a_wrong_secret_gets_the_signature_mismatch_with_what_was_expected(api_url):
    wrong_secret = Credentials(LOCAL_CALLER.access_key, "not-the-secret")

    status, error_type, message = refusal(
        signed_call("POST", f"{api_url}/echo", b"{}", credentials=wrong_secret)
    )

    assert (status, error_type) == (403, "InvalidSignatureException")
    assert message.startswith(SIGNATURE_MISMATCH)
    assert "The Canonical String for this request should have been\n'POST\n/echo\n" in message
    assert "/us-east-1/execute-api/aws4_request\n" in message  # the String-to-Sign's scope


@pytest.mark.parametrize(
    "change",
    [{"body": b'{"x": 2}'}, {"headers": {"Content-Type": "text/plain"}}, {"region": "eu-west-1"}],
    ids=["body", "signed header", "region"],
)
def test_a_request_changed_after_signing_or_signed_for_another_region_is_refused(api_url, change):
    url = f"{api_url}/echo"
    headers = signed_headers("POST", url, b'{"x": 1}', region=change.get("region", "us-east-1"))

    sent_headers = {**headers, **change.get("headers", {})}
    answer = http("POST", url, body=change.get("body", b'{"x": 1}'), headers=sent_headers)

    status, error_type, message = refusal(answer)
    assert (status, error_type) == (403, "InvalidSignatureException")
    assert message.startswith(SIGNATURE_MISMATCH)


def test_an_unknown_access_key_gets_invalid_security_token(api_url):
    stranger = Credentials("AKIASTRANGER00000000", "whatever")

    answer = refusal(signed_call("POST", f"{api_url}/echo", b"{}", credentials=stranger))

    assert answer == (403, "AccessDeniedException", "The security token included in the request is invalid.")


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(minutes=-6), r"Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z "),
        (timedelta(minutes=6), r"Signature not yet current: \d{8}T\d{6}Z is still later than \d{8}T\d{6}Z "),
    ],
)
def test_a_signature_more_than_5_minutes_off_is_refused(api_url, signing_clock, offset, expected):
    signing_clock(offset)

    status, error_type, message = refusal(signed_call("POST", f"{api_url}/echo", b"{}"))

    assert (status, error_type) == (403, "InvalidSignatureException")
    assert re.fullmatch(expected + r"\(\d{8}T\d{6}Z [-+] 5 min\.\)", message), message


def test_a_signature_4_minutes_old_is_still_accepted(api_url, signing_clock):
    signing_clock(timedelta(minutes=-4))

    assert signed_call("POST", f"{api_url}/echo", b"{}")[0] == 200


@pytest.mark.parametrize(
    ("authorization", "error_type", "message"),
    [
        (None, "MissingAuthenticationTokenException", "Missing Authentication Token"),
        (
            "Bearer abc",
            "IncompleteSignatureException",
            "'abc' not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer abc'.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIALOCALDEMO0000000/20250101/us-east-1/execute-api/aws4_request",
            "IncompleteSignatureException",
            "Authorization header requires 'Signature' parameter. Authorization header requires "
            "'SignedHeaders' parameter. Authorization header requires existence of either a "
            "'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 "
            "Credential=AKIALOCALDEMO0000000/20250101/us-east-1/execute-api/aws4_request",
        ),
    ],
    ids=["unsigned", "bearer", "incomplete"],
)
def test_a_request_that_is_not_sigv4_signed_gets_api_gateways_answer(
    api_url, authorization, error_type, message
):
    headers = {"Authorization": authorization} if authorization else {}

    answer = refusal(http("POST", f"{api_url}/echo", body=b"{}", headers=headers))

    assert answer == (403, error_type, message)


# ----------------------------------------------------------------------------- no such route


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/vendors/mailchimp/deletions"), ("GET", "/echo"), ("DELETE", "/items/42")],
    ids=["unknown resource", "IAM resource, other method", "open resource, other method"],
)
def test_no_such_resource_or_method_is_missing_authentication_token_signed_or_not(api_url, method, path):
    missing = (403, "MissingAuthenticationTokenException", "Missing Authentication Token")

    assert refusal(signed_call(method, f"{api_url}{path}")) == missing
    assert refusal(http(method, f"{api_url}{path}")) == missing
    # A header that is not key=value pairs is parsed, and refused, before the route is looked up.
    bearer = refusal(http(method, f"{api_url}{path}", headers={"Authorization": "Bearer abc"}))
    assert bearer[:2] == (403, "IncompleteSignatureException")
