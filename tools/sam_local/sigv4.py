"""API Gateway's AWS_IAM authorization, locally: SigV4 signatures checked against the local
stack's known key pairs, and API Gateway's own 403 answers."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import parsedate_to_datetime

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from tools.sam_local.local_aws import FAKE_CREDENTIALS

# The key pair an operator signs with on the local stack (tools/demo.py, the README's curl
# examples, `python -m tools.erasure_cli --local`).
LOCAL_CALLER = Credentials("AKIALOCALDEMO0000000", "local-demo-secret")
# The callers the local API knows, as IAM knows a deployed API's: the operator's key pair and the
# local stack's own (what its functions and boto3 clients hold).
KNOWN_CALLERS = {
    LOCAL_CALLER.access_key: LOCAL_CALLER.secret_key,
    FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"]: FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
}
# How far X-Amz-Date may be from the gateway's clock. API Gateway-fronted APIs answer "Signature
# expired: <date> is now earlier than <date> (<now> - 5 min.)" (github.com/LilyBin/LilyBin/issues/72,
# jlevers/selling-partner-api#32); 15 minutes is other services' window (DynamoDB's, aws-sdk-js#254).
SIGNATURE_WINDOW = timedelta(minutes=5)


# API Gateway's own 403s and their x-amzn-ErrorType, as AWS documents them ("How do I troubleshoot
# HTTP 403 errors from API Gateway?", repost.aws/knowledge-center/api-gateway-troubleshoot-403-forbidden).


class Refusal(Exception):
    """A 403 that API Gateway answers itself, before any function runs."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message

    def response(self) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", self.error_type)]
        return 403, headers, json.dumps({"message": self.message}).encode()


def missing_token() -> Refusal:
    return Refusal("MissingAuthenticationTokenException", "Missing Authentication Token")


def unrouted(headers: Message) -> Refusal:
    """What API Gateway answers a resource or method it does not have: "Missing Authentication
    Token", signed or not (knowledge-center/api-gateway-authentication-token-errors: "a method or
    resource that doesn't exist"). Its Authorization header is parsed first, though: one that is
    not key=value pairs (a Bearer token) gets the parser's refusal instead (repost.aws question
    "rest api in api gateway returns 403 when resource or method is incorrect";
    github.com/FinchPowers/AWS-API-Gateway-Errors-Mapping-Guide, "Unexisting Method + Route")."""
    try:
        sigv4_parameters(headers)
    except Refusal as refusal:
        return refusal
    return missing_token()


def sigv4_parameters(headers: Message) -> dict[str, str]:
    """The Authorization header's key=value parameters, checked in AWS's order and words."""
    authorization = headers.get("Authorization")
    if not authorization:
        raise missing_token()
    _scheme, _, rest = authorization.strip().partition(" ")
    parameters = {}
    for element in filter(None, re.split(r"[\s,]+", rest)):
        name, equals, value = element.partition("=")
        if not equals:
            raise Refusal(
                "IncompleteSignatureException",
                f"'{element}' not a valid key=value pair (missing equal-sign) in Authorization header: "
                f"'{authorization}'.",
            )
        parameters[name] = value
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if name not in parameters
    ]
    if "X-Amz-Date" not in headers and "Date" not in headers:
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if missing:
        raise Refusal("IncompleteSignatureException", " ".join([*missing, f"Authorization={authorization}"]))
    return parameters


def verified_caller(
    method: str, target: str, headers: Message, body: bytes, region: str, callers: Mapping[str, str]
) -> str:
    """The access key of a request whose SigV4 signature holds, as API Gateway checks it: a known
    key, a signing time within the window, and the signature recomputed by botocore from the
    request as received (the headers it lists as signed, the query, the body)."""
    parameters = sigv4_parameters(headers)
    access_key = parameters["Credential"].split("/")[0]
    if access_key not in callers:
        raise Refusal("AccessDeniedException", "The security token included in the request is invalid.")
    signed_at = _signing_time(headers)
    _check_window(signed_at, datetime.now(UTC))
    credentials = Credentials(access_key, callers[access_key])
    signed_names = parameters["SignedHeaders"].lower().split(";")
    canonical, string_to_sign, signature = expected_signature(
        method, target, headers, body, signed_names, credentials, region, signed_at
    )
    if not hmac.compare_digest(signature.encode(), parameters["Signature"].encode()):
        raise Refusal(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your "
            "AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n"
            f"The Canonical String for this request should have been\n'{canonical}'\n\n"
            f"The String-to-Sign should have been\n'{string_to_sign}'\n",
        )
    return access_key


def expected_signature(
    method: str,
    target: str,
    headers: Message,
    body: bytes,
    signed_names: list[str],
    credentials: Credentials,
    region: str,
    signed_at: datetime,
) -> tuple[str, str, str]:
    """(canonical request, string to sign, signature) of the request as received, for execute-api."""
    request = AWSRequest(method=method, url=f"http://{headers.get('Host', '')}{target}", data=body)
    for name in signed_names:
        for value in headers.get_all(name, []):
            request.headers[name] = value
    request.context["timestamp"] = signed_at.strftime(SIGV4_TIMESTAMP)
    signer = _ReceivedRequestSigner(credentials, region, signed_names)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    return canonical, string_to_sign, signer.signature(string_to_sign, request)


class _ReceivedRequestSigner(SigV4Auth):
    """botocore's SigV4 over exactly the headers the caller signed: botocore's own choice leaves
    some out (User-Agent, which aws-amplify signs, say)."""

    def __init__(self, credentials: Credentials, region: str, signed_names: list[str]) -> None:
        super().__init__(credentials, "execute-api", region)
        self._signed_names = signed_names

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        signed = HTTPHeaders()
        for name in self._signed_names:
            for value in request.headers.get_all(name, []):
                signed[name] = value
        return signed


def _signing_time(headers: Message) -> datetime:
    amz_date = headers.get("X-Amz-Date")
    stated = amz_date if amz_date is not None else headers["Date"]
    try:
        if amz_date is not None:
            return datetime.strptime(stated, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
        return parsedate_to_datetime(stated).astimezone(UTC)
    except (TypeError, ValueError):
        raise Refusal(
            "IncompleteSignatureException",
            f"Date must be in ISO-8601 'basic format'. Got '{stated}'. See http://en.wikipedia.org/wiki/ISO_8601",
        ) from None


def _check_window(signed_at: datetime, now: datetime) -> None:
    minutes = f"{SIGNATURE_WINDOW.total_seconds() / 60:g} min."
    if signed_at < now - SIGNATURE_WINDOW:
        raise Refusal(
            "InvalidSignatureException",
            f"Signature expired: {_stamp(signed_at)} is now earlier than {_stamp(now - SIGNATURE_WINDOW)} "
            f"({_stamp(now)} - {minutes})",
        )
    if signed_at > now + SIGNATURE_WINDOW:
        raise Refusal(
            "InvalidSignatureException",
            f"Signature not yet current: {_stamp(signed_at)} is still later than "
            f"{_stamp(now + SIGNATURE_WINDOW)} ({_stamp(now)} + {minutes})",
        )


def _stamp(moment: datetime) -> str:
    return moment.strftime(SIGV4_TIMESTAMP)
