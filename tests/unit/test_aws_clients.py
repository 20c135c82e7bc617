"""Every AWS client the layer makes retries in botocore's standard mode with short timeouts, so
no call can outlast the time it runs in (a bulk's 20 s, a vendor function's deadline)."""

import pytest

from erasure.aws_clients import (
    AWS_ATTEMPTS,
    AWS_CONNECT_TIMEOUT_S,
    AWS_READ_TIMEOUT_S,
    QueueVisibility,
    dynamodb_client,
    eventbridge_client,
)


@pytest.fixture(autouse=True)
def region(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.mark.parametrize(
    "make",
    [dynamodb_client, eventbridge_client, lambda: QueueVisibility()._client()],
    ids=["dynamodb", "events", "sqs"],
)
def test_each_client_retries_in_standard_mode_within_bounded_timeouts(make):
    config = make().meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": AWS_ATTEMPTS}
    assert (config.connect_timeout, config.read_timeout) == (AWS_CONNECT_TIMEOUT_S, AWS_READ_TIMEOUT_S)
    # The worst a call can take, every attempt timing out, stays far inside a bulk's 20 s.
    assert AWS_ATTEMPTS * (AWS_CONNECT_TIMEOUT_S + AWS_READ_TIMEOUT_S) <= 12
