"""The AWS clients of intake and the ledger (DynamoDB table, SQS sender) and their settings,
built once per cold start."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from erasure.intake import FanOutFailed
from erasure.vendors.base import ConfigError

SQS_BATCH = 10  # SendMessageBatch maximum


def ledger_table(env: Mapping[str, str]) -> Any:
    name = env.get("LEDGER_TABLE", "").strip()
    if not name:
        raise ConfigError("LEDGER_TABLE is not set")
    return boto3.resource("dynamodb").Table(name)


def ledger_ttl_days(env: Mapping[str, str]) -> int:
    raw = env.get("LEDGER_TTL_DAYS", "").strip() or "400"
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError("LEDGER_TTL_DAYS must be a whole number of days, at least 1")
    return int(raw)


def sqs_batch_sender():
    client = boto3.client("sqs")

    def send_batch(queue_url: str, bodies: list[str]) -> None:
        for start in range(0, len(bodies), SQS_BATCH):
            chunk = bodies[start : start + SQS_BATCH]
            entries = [{"Id": str(n), "MessageBody": body} for n, body in enumerate(chunk)]
            try:
                answer = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            except (BotoCoreError, ClientError) as error:
                raise FanOutFailed(type(error).__name__) from None
            if answer.get("Failed"):
                codes = sorted({f["Code"] for f in answer["Failed"]})
                raise FanOutFailed(f"{len(answer['Failed'])} message(s) not accepted: {codes}")

    return send_batch
