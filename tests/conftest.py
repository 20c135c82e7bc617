"""Fixtures only (builders live in tests/helpers.py): vendor connectors pointed at real local
HTTP servers, moto, the functions loaded with their settings, and the deployed relay."""

from __future__ import annotations

import io
import json
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
    VENDORS,
    DeployedRelay,
    answer_success,
    create_ledger_table,
    load_function,
)


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


@pytest.fixture
def relay(vendor_function, httpserver, monkeypatch):
    """The deployed relay: every function loaded, its queues and ledger in moto, healthy vendors."""
    import boto3

    create_ledger_table()
    monkeypatch.setenv("LEDGER_TABLE", "ledger")
    sqs = boto3.client("sqs")
    queue_urls = {}
    for queue in [*VENDORS, "intake"]:
        url = sqs.create_queue(QueueName=f"erasure-relay-{queue}")["QueueUrl"]
        queue_urls[queue] = url
        if queue != "intake":
            monkeypatch.setenv(f"{queue.upper()}_QUEUE_URL", url)
    httpserver.expect_request("").respond_with_handler(answer_success)
    return DeployedRelay(vendor_function, queue_urls)


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
