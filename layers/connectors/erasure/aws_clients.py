"""The AWS clients the handlers use (DynamoDB for the ledger, SQS), built once per cold start.

Only the functions that need one import this module: boto3 costs ~0.3 s at cold start.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from erasure.errors import FanOutFailed

SQS_BATCH = 10  # SendMessageBatch's most entries a call
# SendMessageBatch's most payload a call, all bodies together: 256 KiB (a queue may allow 1 MiB
# now, but not one made with the old default). Measured in UTF-8 bytes, as SQS measures it.
SQS_BATCH_BYTES = 256 * 1024


# Our requests are built by code, not typed by people: botocore's check of every parameter
# against the model was a fifth of a bulk intake's CPU. Standard retries (3 attempts, with
# backoff) and short timeouts: botocore's defaults (60 s to connect, 60 s to read) would let one
# stuck call outlast the time it runs in (a bulk's 20 s, a vendor function's deadline); at most
# 3 x (1 + 3) s and the backoff between, for calls that normally take milliseconds.
AWS_CONNECT_TIMEOUT_S, AWS_READ_TIMEOUT_S, AWS_ATTEMPTS = 1, 3, 3
TRUSTED_CALLS = Config(
    parameter_validation=False,
    connect_timeout=AWS_CONNECT_TIMEOUT_S,
    read_timeout=AWS_READ_TIMEOUT_S,
    retries={"mode": "standard", "total_max_attempts": AWS_ATTEMPTS},
)


def dynamodb_client() -> Any:
    # A client, not boto3.resource("dynamodb"): the resource model costs ~60 ms more at cold start.
    return boto3.client("dynamodb", config=TRUSTED_CALLS)


def eventbridge_client() -> Any:
    return boto3.client("events", config=TRUSTED_CALLS)


def sqs_batch_sender(in_flight: int, lazy: bool = False):
    """send_batch(queue_url, bodies): every body accepted by the queue, or FanOutFailed.
    Safe to call from `in_flight` threads at once, each with its own connection. `lazy`: the
    client is made on the first send (a function that rarely sends does not pay at cold start)."""
    pool = Config(max_pool_connections=in_flight)  # botocore's default 10 would drop the rest's
    made: list[Any] = [] if lazy else [boto3.client("sqs", config=TRUSTED_CALLS.merge(pool))]
    lock = threading.Lock()

    def send_batch(queue_url: str, bodies: list[str]) -> None:
        with lock:
            if not made:
                made.append(boto3.client("sqs", config=TRUSTED_CALLS.merge(pool)))
        _send_batches(made[0], queue_url, [{"MessageBody": body} for body in bodies])

    return send_batch


def sqs_batches(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The entries in order, in calls of at most SQS_BATCH entries and SQS_BATCH_BYTES of bodies."""
    batches: list[list[dict[str, Any]]] = []
    size = 0
    for entry in entries:
        length = len(entry["MessageBody"].encode())
        if not batches or len(batches[-1]) == SQS_BATCH or size + length > SQS_BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(entry)
        size += length
    return batches


def _send_batches(client: Any, queue_url: str, entries: list[dict[str, Any]]) -> None:
    """SendMessageBatch in as few calls as sqs_batches allows; FanOutFailed unless the queue
    accepts every entry."""
    for batch in sqs_batches(entries):
        chunk = [{"Id": str(n), **entry} for n, entry in enumerate(batch)]
        try:
            answer = client.send_message_batch(QueueUrl=queue_url, Entries=chunk)
        except (BotoCoreError, ClientError) as error:
            raise FanOutFailed(type(error).__name__) from None
        if answer.get("Failed"):
            codes = sorted({f["Code"] for f in answer["Failed"]})
            raise FanOutFailed(f"{len(answer['Failed'])} message(s) not accepted: {codes}")


# ChangeMessageVisibility's most: 12 h from the receive, less the batching window and the
# function's time that may have passed since.
MAX_HIDE_S = 12 * 3600 - 600
MAX_SQS_DELAY_S = 900  # SendMessage's DelaySeconds


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
        """Hide a received message for `seconds` (at most MAX_HIDE_S: SQS refuses more)."""
        self._client().change_message_visibility(
            QueueUrl=self._queue_url(queue_arn),
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=min(MAX_HIDE_S, seconds),
        )

    def resend(self, queue_arn: str, body: str, attributes: dict[str, str], delay: int) -> None:
        """Send `body` anew to the queue of `queue_arn`, with string attributes, `delay` seconds
        (at most MAX_SQS_DELAY_S) before its first delivery."""
        self._client().send_message(
            QueueUrl=self._queue_url(queue_arn),
            MessageBody=body,
            DelaySeconds=max(0, min(MAX_SQS_DELAY_S, delay)),
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
            },
        )

    def _client(self) -> Any:
        if self._sqs is None:
            self._sqs = boto3.client("sqs", config=TRUSTED_CALLS)
        return self._sqs

    def _queue_url(self, queue_arn: str) -> str:
        if queue_arn not in self._queue_urls:
            *_, account, name = queue_arn.split(":")
            answer = self._client().get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
            self._queue_urls[queue_arn] = answer["QueueUrl"]
        return self._queue_urls[queue_arn]
