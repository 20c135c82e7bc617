"""Signed calls to the relay API: the caller's credentials, SigV4 (execute-api), one-line errors."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import botocore.session
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import BotoCoreError

from erasure.outcomes import retry_after_seconds

API_URL_VARIABLE = "ERASURE_API_URL"
DEFAULT_API_URL = "http://127.0.0.1:3000"  # the local stack's (python -m tools.sam_local start)
# A deployed API's host names its region; the signature's scope must name the same.
_EXECUTE_API_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
# What API Gateway's own 403s mean for an operator (their x-amzn-ErrorType).
_REFUSAL_HINTS = {
    "MissingAuthenticationTokenException": "no such route: does --api-url name the stage (…/api)?",
    "AccessDeniedException": "are these credentials of the API's AWS account? (--local for the local stack)",
    "InvalidSignatureException": "check the credentials, the region and the computer's clock",
}


class OperatorError(Exception):
    """What stops a command: said in one line on stderr, with exit status 2."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # the decoded JSON, or None
    retry_after: float | None  # seconds, when the API asked to wait (Retry-After)


@dataclass(frozen=True)
class Target:
    """Where calls go, and as whom."""

    api_url: str
    credentials: ReadOnlyCredentials
    region: str


def resolve_target(api_url: str | None, local: bool, region: str | None, profile: str | None) -> Target:
    """The API, credentials and region of a command line's options."""
    api_url = (api_url or os.environ.get(API_URL_VARIABLE) or DEFAULT_API_URL).rstrip("/")
    if urlsplit(api_url).scheme not in ("http", "https"):
        raise OperatorError(f"--api-url must be an http(s) URL, not {api_url!r}")
    if local:
        # Imported here: only the local stack knows this key pair, and only --local needs its runner.
        from tools.sam_local.runtime import DEFAULT_REGION
        from tools.sam_local.sigv4 import LOCAL_CALLER

        return Target(api_url, LOCAL_CALLER.get_frozen_credentials(), region or DEFAULT_REGION)
    session = botocore.session.Session(profile=profile)
    try:
        credentials = session.get_credentials()
        configured_region = session.get_config_variable("region")
    except BotoCoreError as error:  # an unknown profile, an unreadable config file, ...
        raise OperatorError(f"cannot read the AWS credentials: {error}") from None
    if credentials is None:
        raise OperatorError(
            "no AWS credentials: set AWS_PROFILE (or --profile), or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY; for the local stack, use --local"
        )
    host_region = _EXECUTE_API_HOST.search(urlsplit(api_url).hostname or "")
    region = region or (host_region and host_region.group(1)) or configured_region or "us-east-1"
    return Target(api_url, credentials.get_frozen_credentials(), region)


class ApiClient:
    """POST and GET to the relay API, signed as an AWS_IAM caller; 403s and network errors raise."""

    def __init__(self, target: Target, timeout_s: float = 60) -> None:
        self.target = target
        self._timeout_s = timeout_s
        # No hidden retries: a call either answers or is reported (submit retries what may be).
        self._http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=timeout_s))

    def submit(self, requests: list[dict[str, Any]]) -> Answer:
        return self._call("POST", "/v1/deletions", {"requests": requests})

    def list_requests(self, params: dict[str, str]) -> Answer:
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())
        return self._call("GET", "/v1/deletions" + (f"?{query}" if query else ""))

    def cancel(self, request_id: str) -> Answer:
        return self._call("DELETE", f"/v1/deletions/{quote(request_id, safe='')}")

    def receipt(self, request_id: str) -> Answer:
        return self._call("GET", f"/v1/deletions/{quote(request_id, safe='')}")

    def _call(self, method: str, path: str, body: Any = None) -> Answer:
        url = self.target.api_url + path
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(self.target.credentials, "execute-api", self.target.region).add_auth(request)
        try:
            response = self._http.request(method, url, body=data, headers=dict(request.headers))
        except urllib3.exceptions.HTTPError as error:
            raise OperatorError(
                f"cannot reach the API at {self.target.api_url}: {self._why(error)}"
            ) from None
        try:
            decoded = json.loads(response.data) if response.data else None
        except ValueError:
            decoded = None
        if response.status == 403:
            raise OperatorError(refusal_line(response.headers.get("x-amzn-ErrorType", ""), decoded))
        return Answer(response.status, decoded, retry_after_seconds(response.headers))

    def _why(self, error: Exception) -> str:
        """The innermost reason urllib3 wraps: the socket's error, or the connection's end."""
        cause: BaseException = error
        while (inner := getattr(cause, "reason", None) or cause.__cause__ or cause.__context__) is not None:
            if isinstance(cause, OSError) and cause.strerror:
                break
            cause = inner
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror  # "Connection refused", "Name or service not known", ...
        if isinstance(error, urllib3.exceptions.TimeoutError):
            return f"no answer within {self._timeout_s:g} s"
        return str(cause) or type(cause).__name__


def refusal_line(error_type: str, body: Any) -> str:
    """API Gateway's 403 in one line: its message's first line, and what it likely means."""
    hint = _REFUSAL_HINTS.get(error_type)
    return f"the API refused the call (403 {error_type or 'Forbidden'}): {_message(body) or 'Forbidden'}" + (
        f" — {hint}" if hint else ""
    )


def unexpected(answer: Answer) -> OperatorError:
    """An answer the command has no use for, as its error."""
    message = _message(answer.body)
    return OperatorError(f"the API answered {answer.status}" + (f": {message}" if message else ""))


def _message(body: Any) -> str:
    """The first line of an answer's message (API Gateway's signature mismatch has several)."""
    message = body.get("message") if isinstance(body, dict) else None
    return str(message).splitlines()[0] if message else ""
