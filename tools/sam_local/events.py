"""Sample events for a function, as the local stack would deliver them (`generate-event`).

Unlike `sam local generate-event`, the SQS event names the queue the template maps to the
function, under the name the local stack gives it, and the API event the function's own route,
so that what the function does with them (a retry scheduled on its queue) works locally too.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from email.message import Message
from typing import Any

from tools.sam_local.api_gateway import ApiRoute, rest_event
from tools.sam_local.functions import FunctionSpec
from tools.sam_local.local_aws import queue_arn, queue_name
from tools.sam_local.sigv4 import LOCAL_CALLER
from tools.sam_local.template import ACCOUNT_ID, Stack, TemplateError

TRIGGERS = ("sqs", "api")
CALLER = LOCAL_CALLER.access_key  # the key pair the sample API event was "signed" with


def sample_event(
    stack: Stack, spec: FunctionSpec, routes: list[ApiRoute], trigger: str, body: Any
) -> dict[str, Any]:
    """The function's `trigger` event carrying `body`; for SQS, a JSON list is one record per item."""
    if trigger == "sqs":
        return sqs_event(stack, spec, body if isinstance(body, list) else [body])
    if trigger == "api":
        return api_event(spec, routes, body)
    raise TemplateError(f"no such trigger {trigger!r}; one of: {', '.join(TRIGGERS)}")


def sqs_event(stack: Stack, spec: FunctionSpec, bodies: list[Any]) -> dict[str, Any]:
    queues = [event["Properties"]["Queue"] for event in spec.events.values() if event.get("Type") == "SQS"]
    if not queues:
        raise TemplateError(f"{spec.logical_id} has no SQS event in the template")
    arn = _local_queue_arn(stack, queues[0])
    sent = str(int(time.time() * 1000))
    records = []
    for body in bodies:
        text = body if isinstance(body, str) else json.dumps(body)
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                # Not a live message: a retry scheduled on it is refused by the queue (and logged).
                "receiptHandle": f"sample-{uuid.uuid4()}",
                "body": text,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": sent,
                    "SenderId": CALLER,
                    "ApproximateFirstReceiveTimestamp": sent,
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(text.encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": stack.region,
            }
        )
    return {"Records": records}


def api_event(spec: FunctionSpec, routes: list[ApiRoute], body: Any) -> dict[str, Any]:
    route = next((r for r in routes if r.function_id == spec.logical_id), None)
    if route is None:
        raise TemplateError(f"{spec.logical_id} has no Api event in the template")
    method = "POST" if route.method == "ANY" else route.method
    # Each path parameter from the body's field of that name, else "sample-<name>".
    given = body if isinstance(body, dict) else {}
    parameters = {name: str(given.get(name, f"sample-{name}")) for name in route.parameter_names}
    path = route.path
    for name, value in parameters.items():
        path = path.replace(f"{{{name}}}", value).replace(f"{{{name}+}}", value)
    text = b"" if body is None or method == "GET" else json.dumps(body).encode()
    headers = Message()
    headers["Host"] = "127.0.0.1:3000"
    if text:
        headers["Content-Type"] = "application/json"
    identity = {
        "accountId": ACCOUNT_ID,
        "accessKey": CALLER,
        "caller": CALLER,
        "user": CALLER,
        "userArn": f"arn:aws:iam::{ACCOUNT_ID}:user/{CALLER}",
        "sourceIp": "127.0.0.1",
        "userAgent": "tools.sam_local generate-event",
    }
    return rest_event(route, method, path, headers, text, identity, parameters)


def _local_queue_arn(stack: Stack, queue: Any) -> str:
    """The ARN of an event source's queue: given as such, or !GetAtt of a queue in the template."""
    if isinstance(queue, dict) and "Fn::GetAtt" in queue:
        target = queue["Fn::GetAtt"]
        logical_id = target[0] if isinstance(target, list) else str(target).split(".")[0]
        properties = stack.resources[logical_id].get("Properties") or {}
        naming = {
            key: stack.resolve(properties[key]) for key in ("QueueName", "FifoQueue") if key in properties
        }
        return queue_arn(stack.region, queue_name(f"{stack.name}-{logical_id}", naming))
    return str(stack.resolve(queue))
