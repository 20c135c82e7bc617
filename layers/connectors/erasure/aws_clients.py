"""The AWS clients the handlers use (DynamoDB for the ledger, SQS), built once per cold start.

Only the functions that need one import this module: boto3 costs ~0.3 s at cold start.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

SQS_BATCH = 10  # SendMessageBatch maximum


class FanOutFailed(RuntimeError):
    """A vendor queue did not accept the messages; the requests are recorded: resubmit them
    under the same request_ids and only what is missing is sent."""

    def __init__(self, reason: str, request_ids: list[str] | None = None):
        super().__init__(reason)
        self.request_ids = request_ids or []


# Our requests are built by code, not typed by people: botocore's check of every parameter
# against the model was a fifth of a bulk intake's CPU.
TRUSTED_CALLS = Config(parameter_validation=False)


def dynamodb_client() -> Any:
    # A client, not boto3.resource("dynamodb"): the resource model costs ~60 ms more at cold start.
    return boto3.client("dynamodb", config=TRUSTED_CALLS)


def eventbridge_client() -> Any:
    return boto3.client("events", config=TRUSTED_CALLS)


def sqs_batch_sender(in_flight: int):
    """send_batch(queue_url, bodies): every body accepted by the queue, or FanOutFailed.
    Safe to call from `in_flight` threads at once, each with its own connection."""
    pool = Config(max_pool_connections=in_flight)  # botocore's default 10 would drop the rest's
    client = boto3.client("sqs", config=TRUSTED_CALLS.merge(pool))

    def send_batch(queue_url: str, bodies: list[str]) -> None:
        _send_batches(client, queue_url, [{"MessageBody": body} for body in bodies])

    return send_batch


def _send_batches(client: Any, queue_url: str, entries: list[dict[str, Any]]) -> None:
    """SendMessageBatch, 10 entries a call; FanOutFailed unless the queue accepts every one."""
    for start in range(0, len(entries), SQS_BATCH):
        chunk = [{"Id": str(n), **entry} for n, entry in enumerate(entries[start : start + SQS_BATCH])]
        try:
            answer = client.send_message_batch(QueueUrl=queue_url, Entries=chunk)
        except (BotoCoreError, ClientError) as error:
            raise FanOutFailed(type(error).__name__) from None
        if answer.get("Failed"):
            codes = sorted({f["Code"] for f in answer["Failed"]})
            raise FanOutFailed(f"{len(answer['Failed'])} message(s) not accepted: {codes}")


class QueueVisibility:
    """Makes SQS redeliver a received message after a given wait (ChangeMessageVisibility), and
    sends messages that wait before their first delivery (a vendor function's verification
    checks); the client is made on first use, so a function that does neither never pays for it."""

    def __init__(self) -> None:
        self._sqs: Any = None
        self._queue_urls: dict[str, str] = {}

    def send_delayed(self, queue_url: str, messages: list[tuple[str, int]]) -> None:
        """Send (body, delay in seconds up to 900) pairs; FanOutFailed if any is refused."""
        entries = [{"MessageBody": body, "DelaySeconds": delay} for body, delay in messages]
        _send_batches(self._client(), queue_url, entries)

    def delay(self, queue_arn: str, receipt_handle: str, seconds: int) -> None:
        self._client().change_message_visibility(
            QueueUrl=self._queue_url(queue_arn), ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )

    def _client(self) -> Any:
        if self._sqs is None:
            self._sqs = boto3.client("sqs")
        return self._sqs

    def _queue_url(self, queue_arn: str) -> str:
        if queue_arn not in self._queue_urls:
            *_, account, name = queue_arn.split(":")
            answer = self._client().get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
            self._queue_urls[queue_arn] = answer["QueueUrl"]
        return self._queue_urls[queue_arn]
