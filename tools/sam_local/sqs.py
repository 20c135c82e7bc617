"""SQS event source mappings: the template's SQS events, Lambda's SQS event, the pollers."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tools.sam_local.functions import FunctionSpec, InvokeResult
from tools.sam_local.template import LOG


@dataclass(frozen=True)
class SqsEventSource:
    function_id: str
    queue: Any  # the template's Queue value (usually !GetAtt X.Arn), resolved at start
    batch_size: int = 10
    batching_window_s: int = 0
    report_batch_item_failures: bool = False


def sqs_event_sources(functions: Mapping[str, FunctionSpec]) -> list[SqsEventSource]:
    sources = []
    for spec in functions.values():
        for event_name, event in spec.events.items():
            kind = event.get("Type")
            properties = event.get("Properties") or {}
            if kind == "Api":
                continue
            if kind != "SQS":
                LOG.warning("%s.%s: %s events are not emulated", spec.logical_id, event_name, kind)
                continue
            if str(properties.get("Enabled", True)).lower() == "false":
                LOG.info("%s.%s: disabled", spec.logical_id, event_name)
                continue
            sources.append(
                SqsEventSource(
                    function_id=spec.logical_id,
                    queue=properties["Queue"],
                    batch_size=int(properties.get("BatchSize", 10)),
                    batching_window_s=int(properties.get("MaximumBatchingWindowInSeconds", 0)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (properties.get("FunctionResponseTypes") or []),
                )
            )
    return sources


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of Lambda's SQS event, from one ReceiveMessage message."""
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _lambda_message_attribute(attribute)
            for name, attribute in (message.get("MessageAttributes") or {}).items()
        },
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return {
        **record,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _lambda_message_attribute(attribute: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    if "StringValue" in attribute:
        converted["stringValue"] = attribute["StringValue"]
    if "BinaryValue" in attribute:
        converted["binaryValue"] = base64.b64encode(attribute["BinaryValue"]).decode()
    converted["stringListValues"] = attribute.get("StringListValues", [])
    converted["binaryListValues"] = [
        base64.b64encode(value).decode() for value in attribute.get("BinaryListValues", [])
    ]
    converted["dataType"] = attribute["DataType"]
    return converted


def failed_message_ids(payload: Any, message_ids: list[str]) -> set[str]:
    """The records to retry after a ReportBatchItemFailures response, by Lambda's rules."""
    if payload is None or payload == {}:
        return set()
    if not isinstance(payload, dict):
        return set(message_ids)  # not an SQSBatchResponse: the whole batch failed
    failed = set()
    for item in payload.get("batchItemFailures") or []:  # null or []: all succeeded
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if identifier not in message_ids:  # null, empty or unknown: the whole batch failed
            return set(message_ids)
        failed.add(identifier)
    return failed


class SqsDelivery:
    """What an SQS event source mapping does with its queue, one step at a time: receive a
    batch, invoke the function with it, delete what did not fail. SqsPoller repeats the steps
    in a thread; tests (tests/helpers.py) take them one by one."""

    def __init__(
        self,
        source: SqsEventSource,
        queue_arn: str,
        sqs: Any,
        invoke: Callable[[str, Any], InvokeResult],
        region: str,
        queue_url: str | None = None,
    ) -> None:
        self.source = source
        self.queue_arn = queue_arn
        self.queue_url = queue_url or sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]
        self._sqs = sqs
        self._invoke = invoke
        self._region = region

    def receive(self, max_messages: int = 10, wait_s: int = 0) -> list[dict[str, Any]]:
        """One ReceiveMessage: at most `max_messages` (and 10), waiting at most `wait_s` for one."""
        response = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(10, max_messages)),
            WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return response.get("Messages", [])

    def invoke(self, batch: list[dict[str, Any]]) -> InvokeResult:
        """The function invoked with Lambda's SQS event of the batch."""
        event = {"Records": [sqs_record(m, self.queue_arn, self._region) for m in batch]}
        return self._invoke(self.source.function_id, event)

    def failed(self, batch: list[dict[str, Any]], result: InvokeResult) -> set[str]:
        """The ids of the messages that stay in the queue after this invocation: all of them if
        the function failed, else those it reported (with ReportBatchItemFailures)."""
        message_ids = [message["MessageId"] for message in batch]
        if not result.ok:
            return set(message_ids)
        if not self.source.report_batch_item_failures:
            return set()
        return failed_message_ids(result.payload, message_ids)

    def delete(self, batch: list[dict[str, Any]], failed: set[str]) -> None:
        """Delete the batch's messages but the failed ones, as the mapping does after a return."""
        done = [message for message in batch if message["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(done[start : start + 10])
            ]
            response = self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            for failure in response.get("Failed", []):
                LOG.warning("could not delete a message from %s: %s", self.queue_arn, failure)

    def deliver(self, batch: list[dict[str, Any]]) -> InvokeResult:
        """Invoke the function with the batch, then delete what did not fail."""
        result = self.invoke(batch)
        if not result.ok:
            LOG.warning(
                "%s failed; its %d message(s) return after the visibility timeout",
                self.source.function_id,
                len(batch),
            )
        self.delete(batch, self.failed(batch, result))
        return result


class SqsPoller:
    """An SQS event source mapping: poll, invoke with a batch, delete what succeeded."""

    def __init__(
        self,
        source: SqsEventSource,
        queue_arn: str,
        sqs: Any,
        invoke: Callable[[str, Any], InvokeResult],
        region: str,
    ) -> None:
        self.source = source
        self.queue_arn = queue_arn
        self.delivery = SqsDelivery(source, queue_arn, sqs, invoke, region)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        """Stop polling; wait=False only asks, so that many pollers can wind down together."""
        self._stopping.set()
        if wait:
            self._thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = self._receive_batch()
                if batch:
                    self.delivery.deliver(batch)
            except Exception:
                LOG.exception("SQS poller for %s failed; retrying", self.source.function_id)
                self._stopping.wait(1)

    def _receive_batch(self) -> list[dict[str, Any]]:
        """Up to BatchSize messages, gathered for at most MaximumBatchingWindowInSeconds."""
        # By message id: one that comes back during a long window is not in the batch twice.
        batch: dict[str, dict[str, Any]] = {}
        window_ends = None
        while not self._stopping.is_set() and len(batch) < self.source.batch_size:
            # Short long-polls keep stop() prompt.
            received = self.delivery.receive(self.source.batch_size - len(batch), wait_s=1)
            batch.update((m["MessageId"], m) for m in received)
            if batch and window_ends is None:
                window_ends = time.monotonic() + self.source.batching_window_s
            if window_ends is not None and time.monotonic() >= window_ends:
                break
        return list(batch.values())
