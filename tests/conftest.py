"""Shared fixtures: vendor connectors pointed at real local HTTP servers, and function loading."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
from werkzeug import Response

# Set before any Powertools import, the way template.yaml sets them for every function.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "erasure-relay")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ErasureRelay")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from erasure.observability import IdentifierHasher
from erasure.relay import Relay
from erasure.request import parse
from erasure.settings import VendorSettings
from erasure.vendors import CONNECTORS

ROOT = Path(__file__).resolve().parent.parent
HASH_KEY = "test-hash-key-0123456789abcdef0123456789abcdef"
CREDENTIALS = {
    "braze": {"api_key": "braze-secret-key-123"},
    "clevertap": {"account_id": "TEST-ACCOUNT", "passcode": "clevertap-passcode-456"},
    "insider": {"partner_name": "MyBrand", "request_token": "insider-token-789"},
    "dfinery": {"service_id": "svc-42", "access_token": "dfinery-token-abc"},
}


@pytest.fixture
def hasher() -> IdentifierHasher:
    return IdentifierHasher(HASH_KEY.encode())


@pytest.fixture
def make_relay(httpserver, hasher):
    """A Relay for one vendor whose base URL is a real local HTTP server."""

    def make(vendor: str, read_timeout: float = 5.0, concurrency: int = 2, per_minute: float = 0):
        settings = VendorSettings(
            base_url=httpserver.url_for("").rstrip("/"),
            credentials=CREDENTIALS[vendor],
            concurrency=concurrency,
            requests_per_minute=per_minute,
            connect_timeout=2.0,
            read_timeout=read_timeout,
        )
        return Relay(CONNECTORS[vendor], settings, hasher)

    return make


def request(identity: dict, action: str = "delete_profile", **extra):
    return parse({"identity": identity, "action": action, **extra})


def outcomes(results) -> list[tuple[str, str]]:
    """(identifier type, outcome) pairs of one request's results."""
    return [(r.identifier.label, str(r.verdict.outcome)) for r in results]


def load_function(name: str):
    """Import functions/<name>/app.py under its own module name, as Lambda would load it."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"function_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def event(name: str) -> dict:
    return json.loads((ROOT / "events" / name).read_text())


def answer_success(req):
    """Every vendor's documented success answer, by path: a stand-in for four healthy vendors."""
    if req.path == "/users/external_ids/remove":
        ids = req.get_json()["external_ids"]
        return Response(json.dumps({"message": "success", "removed_ids": ids, "removal_errors": []}), 201)
    if req.path == "/1/delete/profiles.json":
        return Response(json.dumps({"status": "success"}), 200)
    if req.path == "/api/user/v1/identity":
        return Response("{}", 200)
    if req.path == "/api/v1/identities/delete":
        return Response(json.dumps({"status": True, "code": "20000", "message": "OK", "data": True}), 200)
    return Response("not found", 404)


class FakeContext:
    """What Lambda passes as context, enough for Powertools and the relay's deadline."""

    function_name = "erasure-relay-test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:erasure-relay-test"
    aws_request_id = "test-invocation"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def aws(monkeypatch):
    """Moto in-process, with fake credentials so nothing can reach a real account."""
    from moto import mock_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def vendor_function(aws, httpserver, monkeypatch):
    """Load functions/<vendor>/app.py with its secrets in (moto) Secrets Manager and its vendor
    URL pointed at the local HTTP server, as template.yaml configures it in AWS."""
    import boto3

    secrets = boto3.client("secretsmanager")
    base_url = httpserver.url_for("").rstrip("/")
    secrets.create_secret(Name="hash-key", SecretString=json.dumps({"key": HASH_KEY}))
    monkeypatch.setenv("HASH_KEY_SECRET_ID", "hash-key")
    for vendor, credentials in CREDENTIALS.items():
        secrets.create_secret(Name=f"{vendor}-credentials", SecretString=json.dumps(credentials))
        monkeypatch.setenv(f"{vendor.upper()}_SECRET_ID", f"{vendor}-credentials")
    for variable in ("BRAZE_REST_ENDPOINT", "CLEVERTAP_API_URL", "INSIDER_API_URL", "DFINERY_API_URL"):
        monkeypatch.setenv(variable, base_url)
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    return load_function
