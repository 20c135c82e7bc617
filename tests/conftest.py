"""Fixtures only (builders live in tests/helpers.py): vendor connectors pointed at real local
HTTP servers, moto, the functions loaded with their settings, and the deployed relay."""

from __future__ import annotations

import io
import logging
import os

import pytest

# Set before any Powertools import, the way template.yaml sets them for every function.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "erasure-relay")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ErasureRelay")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from erasure.config import VendorSettings
from erasure.observability import IdentifierHasher, logger
from erasure.relay import Relay
from erasure.vendors import CONNECTORS
from tests.helpers import (
    CREDENTIALS,
    HASH_KEY,
    answer_success,
    configure_functions,
    deploy_relay,
    load_function,
)
from tools.sam_local import moto_server


@pytest.fixture
def hasher() -> IdentifierHasher:
    return IdentifierHasher(HASH_KEY.encode())


@pytest.fixture
def make_relay(httpserver, hasher):
    """A Relay for one vendor whose base URL is a real local HTTP server."""

    def make(vendor: str, read_timeout: float = 5.0, concurrency: int = 2, per_minute: float = 0):
        connector = CONNECTORS[vendor]
        settings = VendorSettings(
            base_url=httpserver.url_for("").rstrip("/"),
            credentials=CREDENTIALS[vendor],
            concurrency=concurrency,
            rates={call.key: per_minute for call in connector.calls},
            connect_timeout=2.0,
            read_timeout=read_timeout,
            options=connector.options({}),
        )
        return Relay(connector, settings, hasher)

    return make


@pytest.fixture
def aws(monkeypatch):
    """Moto in-process, with fake credentials so nothing can reach a real account; with the local
    stack's two cuts of moto's costs that grow with the data (tools/sam_local/moto_server.py)."""
    from moto import mock_aws

    moto_server.install()

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("LEDGER_WRITERS", "1")  # moto's DynamoDB is not thread-safe
    with mock_aws():
        yield


@pytest.fixture
def vendor_function(aws, httpserver, monkeypatch):
    """Load functions/<vendor>/app.py with its secrets in (moto) Secrets Manager and its vendor
    URL pointed at the local HTTP server, as template.yaml configures it in AWS."""
    configure_functions(monkeypatch, httpserver.url_for("").rstrip("/"), CREDENTIALS)
    return load_function


@pytest.fixture
def relay(vendor_function, httpserver, monkeypatch):
    """The deployed relay: every function loaded, its queues and ledger in moto, healthy vendors."""
    httpserver.expect_request("").respond_with_handler(answer_success)
    return deploy_relay(vendor_function, monkeypatch)


@pytest.fixture
def everything_logged(caplog, capsys):
    """Our JSON log lines (from the Logger's own stream), Powertools' internal logs, and stdout,
    at debug level. Each call returns what was logged since the previous call."""
    handler = logger.registered_handler
    stream = io.StringIO()
    previous = handler.setStream(stream)
    logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="aws_lambda_powertools")
    read = {"stream": 0, "records": 0}

    def since_last_call() -> str:
        text, records = stream.getvalue(), caplog.records
        # werkzeug's records are the fake vendor's own access log, not the relay's.
        ours = [r.getMessage() for r in records[read["records"] :] if not r.name.startswith("werkzeug")]
        fresh = text[read["stream"] :] + "\n".join(ours) + "".join(capsys.readouterr())
        read.update(stream=len(text), records=len(records))
        return fresh

    yield since_last_call
    logger.setLevel(logging.INFO)
    handler.setStream(previous)
