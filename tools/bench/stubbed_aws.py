"""boto3 clients whose calls never leave the process: botocore builds, signs and parses each call
as usual, and a `before-send` hook answers it. What is left to measure is the relay's own CPU."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config

# The least each operation's answer must hold for the code that reads it.
ANSWERS = {
    "TransactWriteItems": {},
    "PutItem": {},
    "UpdateItem": {},
    "BatchGetItem": {"Responses": {}},
    "SendMessageBatch": {"Successful": [], "Failed": []},
}


class _Body:
    def __init__(self, content: bytes) -> None:
        self.content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.content


class StubbedAws:
    """Clients of one session whose calls are answered in-process, and the calls they made."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.session = boto3.session.Session(
            aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1"
        )
        self.session.events.register("before-send", self._answer)

    def client(self, service: str, config: Config | None = None) -> Any:
        return self.session.client(service, endpoint_url="https://stubbed.invalid", config=config)

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        operation = request.headers["X-Amz-Target"].decode().rsplit(".", 1)[1]
        self.calls[operation] += 1
        body = json.dumps(ANSWERS[operation]).encode()
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _Body(body))
