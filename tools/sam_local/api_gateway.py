"""API Gateway (REST API, Lambda proxy integration) in front of the template's functions.

Local AWS_IAM auth: see the package docstring (tools/sam_local/__init__.py).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tools.ports import binding
from tools.sam_local.functions import FunctionSpec, InvokeResult
from tools.sam_local.sigv4 import KNOWN_CALLERS, Refusal, unrouted, verified_caller
from tools.sam_local.template import ACCOUNT_ID, LOG, Stack, merge_globals


@dataclass(frozen=True)
class ApiRoute:
    function_id: str
    method: str  # upper case, or ANY
    path: str  # the resource, e.g. /items/{id}
    api_id: str
    stage: str
    iam_auth: bool
    region: str  # the stack's: what a caller's SigV4 credential scope must name
    binary_media_types: tuple[str, ...] = ()
    event: str = field(default="", compare=False)  # the template's name of the function's Api event
    pattern: re.Pattern[str] = field(init=False, compare=False)
    parameter_names: tuple[str, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        names = []
        parts = []
        for segment in self.path.strip("/").split("/"):
            match = re.fullmatch(r"\{([^{}+]+)(\+?)\}", segment)
            if match is None:
                parts.append(re.escape(segment))
                continue
            names.append(match.group(1))
            parts.append("(.+)" if match.group(2) else "([^/]+)")  # {proxy+} is greedy
        object.__setattr__(self, "pattern", re.compile("/" + "/".join(parts)))
        object.__setattr__(self, "parameter_names", tuple(names))

    @property
    def specificity(self) -> tuple[bool, int]:
        """Sort key: static paths before parameterized ones, greedy ones last (as API Gateway)."""
        return ("+}" in self.path, len(self.parameter_names))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None or self.method not in ("ANY", method):
            return None
        return dict(zip(self.parameter_names, found.groups(), strict=True))


def api_routes(stack: Stack, functions: Mapping[str, FunctionSpec]) -> list[ApiRoute]:
    global_api = stack.globals.get("Api") or {}
    routes = []
    for spec in functions.values():
        for event_name, event in spec.events.items():
            if event.get("Type") != "Api":
                continue
            properties = event.get("Properties") or {}
            api_ref = properties.get("RestApiId") or {"Ref": "ServerlessRestApi"}
            api_id = api_ref["Ref"] if isinstance(api_ref, dict) else str(api_ref)
            api = stack.resources.get(api_id, {}).get("Properties") or {}
            api = merge_globals(global_api, api)
            authorizer = stack.resolve(
                (properties.get("Auth") or {}).get(
                    "Authorizer", (api.get("Auth") or {}).get("DefaultAuthorizer", "NONE")
                )
            )
            if authorizer not in ("AWS_IAM", "NONE"):
                LOG.warning(
                    "%s %s: authorizer %s is not enforced locally",
                    spec.logical_id,
                    properties.get("Path"),
                    authorizer,
                )
            routes.append(
                ApiRoute(
                    function_id=spec.logical_id,
                    method=str(properties["Method"]).upper(),
                    path=str(stack.resolve(properties["Path"])),
                    api_id=api_id,
                    stage=str(stack.resolve(api.get("StageName", "Prod"))),
                    iam_auth=authorizer == "AWS_IAM",
                    region=stack.region,
                    binary_media_types=tuple(
                        media.replace("~1", "/") for media in stack.resolve(api.get("BinaryMediaTypes") or [])
                    ),
                    event=event_name,
                )
            )
    return sorted(routes, key=lambda route: route.specificity)


def iam_identity(access_key: str, headers: Message, source_ip: str) -> dict[str, Any]:
    """requestContext.identity of a request whose SigV4 signature was verified for access_key."""
    return {
        **_anonymous_identity(headers, source_ip),
        "accountId": ACCOUNT_ID,
        "accessKey": access_key,
        "caller": access_key,
        "user": access_key,
        "userArn": f"arn:aws:iam::{ACCOUNT_ID}:user/{access_key}",
    }


def _anonymous_identity(headers: Message, source_ip: str) -> dict[str, Any]:
    keys = (
        "cognitoIdentityPoolId",
        "accountId",
        "cognitoIdentityId",
        "caller",
        "principalOrgId",
        "accessKey",
        "cognitoAuthenticationType",
        "cognitoAuthenticationProvider",
        "userArn",
        "user",
    )
    return {**dict.fromkeys(keys), "sourceIp": source_ip, "userAgent": headers.get("User-Agent")}


def rest_event(
    route: ApiRoute,
    method: str,
    target: str,
    headers: Message,
    body: bytes,
    identity: dict[str, Any],
    path_parameters: Mapping[str, str],
    *,
    request_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The API Gateway REST proxy (payload 1.0) event for one HTTP request (its request id and
    time fresh unless given: a sample event file pins them)."""
    url = urlsplit(target)
    query = parse_qsl(url.query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        multi_query.setdefault(name, []).append(value)
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers.items():
        multi_headers.setdefault(name, []).append(value)
    content_type = headers.get_content_type()
    body_text = None
    if body and not any(fnmatch(content_type, media) for media in route.binary_media_types):
        with contextlib.suppress(UnicodeDecodeError):
            body_text = body.decode("utf-8")
    binary = bool(body) and body_text is None  # binary media type, or not UTF-8 text
    if binary:
        body_text = base64.b64encode(body).decode()
    request_id = request_id or str(uuid.uuid4())
    now = now or datetime.now(UTC)
    path = unquote(url.path)
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {name: unquote(value) for name, value in path_parameters.items()} or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": hashlib.sha1(route.path.encode()).hexdigest()[:6],
            "resourcePath": route.path,
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{route.stage}{path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": route.stage,
            "domainPrefix": "localhost",
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": identity,
            "domainName": headers.get("Host", "localhost"),
            "apiId": route.api_id,
        },
        "body": body_text,
        "isBase64Encoded": binary,
    }


def http_response(result: InvokeResult) -> tuple[int, list[tuple[str, str]], bytes]:
    """Turn a Lambda proxy result into (status, headers, body), with API Gateway's 502s."""
    if not result.ok:
        return _json_response(502, {"message": "Internal server error"})
    payload = result.payload
    try:
        status = int(payload["statusCode"])
        multi = {
            name: [str(v) for v in values]
            for name, values in (payload.get("multiValueHeaders") or {}).items()
        }
        single = {name: [str(value)] for name, value in (payload.get("headers") or {}).items()}
        merged = {**single, **multi}  # as API Gateway: multiValueHeaders win
        headers = [(name, value) for name, values in merged.items() for value in values]
        body = payload.get("body") or ""
        if not isinstance(body, str):
            raise TypeError("body must be a string")
        data = base64.b64decode(body) if payload.get("isBase64Encoded") else body.encode()
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as error:
        LOG.error("malformed Lambda proxy response (%s): %r", error, payload)
        return _json_response(502, {"message": "Internal server error"})
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return status, headers, data


def _json_response(status: int, body: Any, *extra: tuple[str, str]) -> tuple[int, list, bytes]:
    return status, [("Content-Type", "application/json"), *extra], json.dumps(body).encode()


class ApiGateway:
    """Serves API routes over HTTP on 127.0.0.1, invoking the functions behind them."""

    def __init__(
        self,
        routes: list[ApiRoute],
        invoke: Callable[[str, Any], InvokeResult],
        port: int,
        callers: Mapping[str, str] = KNOWN_CALLERS,
    ) -> None:
        """callers: {access key id: secret access key} of whom AWS_IAM routes let in."""
        self.routes = routes
        self._invoke = invoke
        self._callers = callers
        with binding(port, "the local API"):
            self._server = ThreadingHTTPServer(("127.0.0.1", port), _ApiRequestHandler)
        self._server.daemon_threads = True
        self._server.gateway = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def respond(
        self, method: str, target: str, headers: Message, body: bytes, source_ip: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        path = urlsplit(target).path
        matched = next(((r, p) for r in self.routes if (p := r.match(method, path)) is not None), None)
        try:
            if matched is None:
                raise unrouted(headers)
            route, path_parameters = matched
            identity = self._identity(route, method, target, headers, body, source_ip)
        except Refusal as refusal:
            LOG.info("API Gateway refused %s %s: %s", method, path, refusal.error_type)
            return refusal.response()
        event = rest_event(route, method, target, headers, body, identity, path_parameters)
        return http_response(self._invoke(route.function_id, event))

    def _identity(
        self, route: ApiRoute, method: str, target: str, headers: Message, body: bytes, source_ip: str
    ) -> dict[str, Any]:
        if not route.iam_auth:
            return _anonymous_identity(headers, source_ip)
        access_key = verified_caller(method, target, headers, body, route.region, self._callers)
        return iam_identity(access_key, headers, source_ip)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _ApiRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = Message()
        for name, value in self.headers.items():
            headers[name] = value
        headers["X-Forwarded-For"] = self.client_address[0]
        headers["X-Forwarded-Port"] = str(self.server.server_address[1])
        headers["X-Forwarded-Proto"] = "http"
        status, response_headers, data = self.server.gateway.respond(
            self.command, self.path, headers, body, self.client_address[0]
        )
        self.send_response(status)
        for name, value in response_headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    def log_message(self, format: str, *args: Any) -> None:
        LOG.info("%s %s", self.address_string(), format % args)
