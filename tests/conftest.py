"""Shared fixtures: vendor connectors pointed at real local HTTP servers, and function loading."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

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
