"""Move dead-lettered messages back to their queue once the cause is fixed (e.g. rotated keys).

    python -m tools.redrive --stack erasure-relay --queue <Vendor>      # by the stack's outputs
    python -m tools.redrive --from DLQ_URL --to QUEUE_URL [--max 500]   # by URL

Each message is sent again with its body and attributes, then deleted from the dead-letter queue
only once the source queue has accepted it, so a crash mid-way duplicates at worst (vendor
deletions and ledger writes are idempotent) and never loses a message. The redriven message is a
new delivery, so the ledger counts the attempts it makes. (AWS's own StartMessageMoveTask does the
same in the console; this works anywhere, moto included.)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

BATCH = 10
ORIGINAL_MESSAGE_ID = "original_message_id"  # read by erasure.handlers.sqs.delivery_id


def redrive(sqs, source_dlq: str, target: str, limit: int | None = None) -> int:
    """Move up to `limit` messages from `source_dlq` to `target`; returns how many moved."""
    moved = 0
    while limit is None or moved < limit:
        wanted = BATCH if limit is None else min(BATCH, limit - moved)
        messages = sqs.receive_message(
            QueueUrl=source_dlq,
            MaxNumberOfMessages=wanted,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
            VisibilityTimeout=60,
            WaitTimeSeconds=1,
        ).get("Messages", [])
        if not messages:
            break
        entries = [
            {"Id": str(n), "MessageBody": m["Body"], "MessageAttributes": _kept(m)}
            for n, m in enumerate(messages)
        ]
        answer = sqs.send_message_batch(QueueUrl=target, Entries=entries)
        accepted = [messages[int(s["Id"])] for s in answer.get("Successful", [])]
        if accepted:
            sqs.delete_message_batch(
                QueueUrl=source_dlq,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(accepted)],
            )
        moved += len(accepted)
        if answer.get("Failed"):
            codes = sorted({f["Code"] for f in answer["Failed"]})
            raise RuntimeError(f"{len(answer['Failed'])} message(s) not accepted by the queue: {codes}")
    return moved


def _kept(message: dict) -> dict:
    """The message's attributes, plus the id it had before the DLQ: a request without a
    request_id is known by that id, and must stay the same request when it comes back."""
    attributes = dict(message.get("MessageAttributes") or {})
    attributes.setdefault(ORIGINAL_MESSAGE_ID, {"DataType": "String", "StringValue": message["MessageId"]})
    return attributes


def stack_queue_urls(
    stack: str, queue: str, session: boto3.Session, endpoint_url: str | None
) -> tuple[str, str]:
    cloudformation = session.client("cloudformation", endpoint_url=endpoint_url)
    try:
        outputs = cloudformation.describe_stacks(StackName=stack)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ValidationError":
            raise
        hint = (
            " (the local stack has no CloudFormation: give --from and --to, the queue URLs that"
            " `python -m tools.sam_local start` prints)"
            if endpoint_url
            else ""
        )
        raise SystemExit(f"redrive: no stack {stack} in {session.region_name}{hint}") from None
    values = {o["OutputKey"]: o["OutputValue"] for o in outputs["Stacks"][0].get("Outputs", [])}
    try:
        return values[f"{queue}DeadLetterQueueUrl"], values[f"{queue}QueueUrl"]
    except KeyError:
        names = sorted(k[: -len("QueueUrl")] for k in values if k.endswith("QueueUrl") and "Dead" not in k)
        raise SystemExit(f"stack {stack} has no queue {queue!r}; its queues: {', '.join(names)}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.redrive", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", help="the deployed stack, to find the queues by --queue")
    parser.add_argument(
        "--queue",
        help="a vendor function's queue as the stack's outputs name it (<Vendor>), or Intake (with --stack)",
    )
    parser.add_argument("--from", dest="source", help="dead-letter queue URL")
    parser.add_argument("--to", dest="target", help="queue URL to send the messages back to")
    parser.add_argument("--max", type=int, default=None, help="move at most this many")
    parser.add_argument("--endpoint-url", default=None, help="an SQS endpoint, e.g. a local moto server")
    parser.add_argument("--region", default=None, help="default: AWS_REGION, or your AWS config's")
    args = parser.parse_args(argv)
    if not (args.stack and args.queue) and not (args.source and args.target):
        parser.error("give --stack and --queue, or --from and --to")
    try:
        session = boto3.Session(region_name=args.region)
        if args.stack and args.queue:
            source, target = stack_queue_urls(args.stack, args.queue, session, args.endpoint_url)
        else:
            source, target = args.source, args.target
        moved = redrive(session.client("sqs", endpoint_url=args.endpoint_url), source, target, args.max)
    except NoRegionError:
        raise SystemExit("redrive: no AWS region: give --region, or set AWS_REGION") from None
    except NoCredentialsError:
        raise SystemExit(
            "redrive: no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        ) from None
    except EndpointConnectionError as error:
        raise SystemExit(f"redrive: cannot reach {error.kwargs.get('endpoint_url')}") from None
    except ClientError as error:
        code, message = error.response["Error"].get("Code"), error.response["Error"].get("Message")
        raise SystemExit(f"redrive: {error.operation_name}: {code}: {message}") from None
    except BotoCoreError as error:
        raise SystemExit(f"redrive: {error}") from None
    print(f"moved {moved} message(s) from {source} to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
