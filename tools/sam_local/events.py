"""Sample events for a function, as the local stack would deliver them (`generate-event`), and the
event files of `events/` (`generate-event --all`).

Unlike `sam local generate-event`, the SQS event names the queue the template maps to the
function, under the name the local stack gives it, the API event the function's own route, the
DynamoDB stream record the table's keys (and image, as its StreamViewType says) and the stream's
ARN, and the scheduled event the rule SAM makes for the function's Schedule, so that what the
function does with them (a retry scheduled on its queue) works locally too.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.message import Message
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from tools.sam_local.api_gateway import ApiRoute, rest_event
from tools.sam_local.functions import FunctionSpec
from tools.sam_local.local_aws import queue_arn, queue_name
from tools.sam_local.sigv4 import LOCAL_CALLER
from tools.sam_local.template import ACCOUNT_ID, Stack, TemplateError

# The template's event types a sample can be built for, and the trigger each is asked by.
EVENT_TRIGGERS = {"SQS": "sqs", "Api": "api", "DynamoDB": "stream", "Schedule": "schedule"}
TRIGGERS = tuple(EVENT_TRIGGERS.values())
CALLER = LOCAL_CALLER.access_key  # the key pair the sample API event was "signed" with
# The time of every pinned event (an event file): regenerating one changes nothing by itself.
PINNED_TIME = datetime(2024, 1, 1, tzinfo=UTC)
STREAM_LABEL = "2024-01-01T00:00:00.000"  # a stream ARN's last part: when the stream was enabled
# <folder>-<trigger>.json, or <folder>-<trigger>-<event>.json for a further event of that trigger.
EVENT_FILE = re.compile(rf"(?P<folder>.+?)-(?P<trigger>{'|'.join(TRIGGERS)})(?:-(?P<event>[a-z0-9]+))?\.json")


@dataclass(frozen=True)
class EventFile:
    """One file of events/: a function's event source (the template's event `event` of
    `logical_id`), asked by `trigger`."""

    name: str
    logical_id: str
    event: str
    trigger: str


class _Stamps:
    """Ids and the time of one event: fresh ones, or (pinned, with a seed) derived from the seed."""

    def __init__(self, seed: str | None = None) -> None:
        self.seed = seed
        self.count = itertools.count()
        self.now = PINNED_TIME if seed else datetime.now(UTC)

    def uuid(self) -> uuid.UUID:
        if self.seed is None:
            return uuid.uuid4()
        return uuid.uuid5(uuid.NAMESPACE_URL, f"tools.sam_local/{self.seed}/{next(self.count)}")

    @property
    def millis(self) -> int:
        return int(self.now.timestamp() * 1000)


def sample_event(
    stack: Stack,
    spec: FunctionSpec,
    routes: list[ApiRoute],
    trigger: str,
    body: Any,
    *,
    event: str | None = None,
    seed: str | None = None,
) -> dict[str, Any]:
    """The function's `trigger` event carrying `body`, from the template's event named `event`
    (default: the function's first of that trigger, in the template's order); for SQS and a
    stream, a JSON list is one record per item; a schedule's event carries no body. With a
    `seed`, the event is pinned: its ids derive from the seed and its time is PINNED_TIME, so the
    same seed gives the same event."""
    if trigger not in TRIGGERS:
        raise TemplateError(f"no such trigger {trigger!r}; one of: {', '.join(TRIGGERS)}")
    name, properties = _event_source(spec, trigger, event)
    stamps = _Stamps(seed)
    bodies = body if isinstance(body, list) else [body]
    if trigger == "sqs":
        return sqs_event(stack, spec, bodies, stamps, properties)
    if trigger == "api":
        return api_event(spec, routes, body, stamps, name)
    if trigger == "stream":
        return stream_event(stack, spec, bodies, stamps, properties)
    return schedule_event(stack, spec, stamps, name, properties)


def _event_source(spec: FunctionSpec, trigger: str, event: str | None) -> tuple[str, Mapping[str, Any]]:
    """(name, Properties) of the function's event `event`, else of its first of that trigger."""
    kind = next(kind for kind, found in EVENT_TRIGGERS.items() if found == trigger)
    for name, source in spec.events.items():
        if source.get("Type") == kind and event in (None, name):
            return name, source.get("Properties") or {}
    if event is not None:
        raise TemplateError(f"{spec.logical_id} has no {kind} event {event} in the template")
    raise TemplateError(f"{spec.logical_id} has no {kind} event in the template")


def function_folder(stack: Stack, logical_id: str) -> str:
    """The name of the folder the function's CodeUri names (functions/intake/ -> intake)."""
    code_uri = (stack.resources[logical_id].get("Properties") or {}).get("CodeUri")
    if not isinstance(code_uri, str):
        raise TemplateError(f"{logical_id}: CodeUri must be a local folder")
    return Path(code_uri).name


def event_file_names(stack: Stack, functions: Mapping[str, FunctionSpec]) -> list[EventFile]:
    """A file for each event source of each function: `<folder>-<trigger>.json` after the folder
    of its CodeUri (intake-sqs.json) for its first event of a trigger, in the template's order;
    `<folder>-<trigger>-<event name in lower case>.json` for each further one (status-api-list.json).
    An event of a type no sample is built for is a TemplateError: its file could not be made."""
    files: list[EventFile] = []
    owners: dict[str, str] = {}
    for logical_id, spec in functions.items():
        folder = function_folder(stack, logical_id)
        if owners.setdefault(folder, logical_id) != logical_id:
            raise TemplateError(
                f"{owners[folder]} and {logical_id} both have their code in a folder {folder}"
            )
        seen: set[str] = set()
        for event, source in spec.events.items():
            kind = source.get("Type")
            if kind not in EVENT_TRIGGERS:
                raise TemplateError(
                    f"{logical_id}.{event}: no sample event for {kind} events "
                    f"(only {', '.join(EVENT_TRIGGERS)}); teach tools/sam_local/events.py"
                )
            trigger = EVENT_TRIGGERS[kind]
            suffix = f"-{event.lower()}" if trigger in seen else ""
            seen.add(trigger)
            files.append(EventFile(f"{folder}-{trigger}{suffix}.json", logical_id, event, trigger))
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise TemplateError(f"two event sources would share an event file: {sorted(names)}")
    return files


def event_files(
    stack: Stack, functions: Mapping[str, FunctionSpec], routes: list[ApiRoute], body: Any
) -> dict[str, dict[str, Any]]:
    """{file name: event} for each event source of each function (event_file_names), carrying
    `body`, each pinned by its file name (sample_event's seed): a file changes only when the
    template or the body does."""
    return {
        f.name: sample_event(
            stack, functions[f.logical_id], routes, f.trigger, body, event=f.event, seed=f.name
        )
        for f in event_file_names(stack, functions)
    }


def sqs_event(
    stack: Stack,
    spec: FunctionSpec,
    bodies: list[Any],
    stamps: _Stamps | None = None,
    source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Lambda's SQS event from the queue of `source` (an SQS event's Properties; default the
    function's first): one record per body."""
    stamps = stamps or _Stamps()
    if source is None:
        source = _event_source(spec, "sqs", None)[1]
    arn = _local_queue_arn(stack, source["Queue"])
    sent = str(stamps.millis)
    records = []
    for body in bodies:
        text = body if isinstance(body, str) else json.dumps(body)
        records.append(
            {
                "messageId": str(stamps.uuid()),
                # Not a live message: a retry scheduled on it is refused by the queue (and logged).
                "receiptHandle": f"sample-{stamps.uuid()}",
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


def api_event(
    spec: FunctionSpec,
    routes: list[ApiRoute],
    body: Any,
    stamps: _Stamps | None = None,
    event: str | None = None,
) -> dict[str, Any]:
    """API Gateway's event for the route of the function's Api event `event` (default its first,
    in the template's order), carrying `body`."""
    stamps = stamps or _Stamps()
    if event is None:
        event = _event_source(spec, "api", None)[0]
    route = next((r for r in routes if r.function_id == spec.logical_id and r.event == event), None)
    if route is None:
        raise TemplateError(f"{spec.logical_id} has no Api event {event} in the template")
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
    return rest_event(
        route,
        method,
        path,
        headers,
        text,
        identity,
        parameters,
        request_id=str(stamps.uuid()),
        now=stamps.now,
    )


def stream_event(
    stack: Stack,
    spec: FunctionSpec,
    bodies: list[Any],
    stamps: _Stamps | None = None,
    source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The DynamoDB stream's event (of `source`, a DynamoDB event's Properties; default the
    function's first): one record per body (an item: its fields of the table's key names give
    the keys, else "sample-<name>"), with the image the table's StreamViewType holds."""
    stamps = stamps or _Stamps()
    if source is None:
        source = _event_source(spec, "stream", None)[1]
    arn, key_types, view = _stream(stack, source.get("Stream"))
    serialize = TypeSerializer().serialize
    records = []
    for n, body in enumerate(bodies):
        item = json.loads(json.dumps(body), parse_float=Decimal) if isinstance(body, dict) else {}
        keys = {name: _key_value(name, kind, item.get(name)) for name, kind in key_types.items()}
        change: dict[str, Any] = {
            "ApproximateCreationDateTime": int(stamps.now.timestamp()),
            "Keys": keys,
        }
        image = {**{name: serialize(value) for name, value in item.items()}, **keys}
        if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
            change["NewImage"] = image
        if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
            change["OldImage"] = image
        change["SequenceNumber"] = f"{n + 1:021d}"
        change["SizeBytes"] = len(json.dumps(change.get("NewImage") or change.get("OldImage") or keys))
        change["StreamViewType"] = view
        records.append(
            {
                "eventID": stamps.uuid().hex,
                "eventName": "MODIFY",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": stack.region,
                "dynamodb": change,
                "eventSourceARN": arn,
            }
        )
    return {"Records": records}


def schedule_event(
    stack: Stack,
    spec: FunctionSpec,
    stamps: _Stamps | None = None,
    name: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """EventBridge's scheduled event from the rule SAM makes for the function's Schedule `name`
    (default its first), or that Schedule's Input if the template gives one."""
    stamps = stamps or _Stamps()
    if name is None or properties is None:
        name, properties = _event_source(spec, "schedule", name)
    if "Input" in properties:
        return json.loads(str(stack.resolve(properties["Input"])))
    # SAM's rule is <FunctionLogicalId><EventName>; CloudFormation names it <stack>-<that>-<suffix>.
    rule = f"{stack.name}-{spec.logical_id}{name}"
    return {
        "version": "0",
        "id": str(stamps.uuid()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": stamps.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": stack.region,
        "resources": [f"arn:aws:events:{stack.region}:{ACCOUNT_ID}:rule/{rule}"],
        "detail": {},
    }


def _stream(stack: Stack, stream: Any) -> tuple[str, dict[str, str], str]:
    """(the stream's ARN, {key name: attribute type}, StreamViewType) of an event source's Stream:
    !GetAtt of a table in the template (the local stack makes its tables without a stream), or an
    ARN as given (then no keys are known: a body's fields are its image only)."""
    if isinstance(stream, dict) and "Fn::GetAtt" in stream:
        target = stream["Fn::GetAtt"]
        logical_id = target[0] if isinstance(target, list) else str(target).split(".")[0]
        properties = stack.resources[logical_id].get("Properties") or {}
        name = stack.resolve(properties.get("TableName") or f"{stack.name}-{logical_id}")
        types = {
            d["AttributeName"]: d["AttributeType"]
            for d in stack.resolve(properties.get("AttributeDefinitions") or [])
        }
        keys = {
            k["AttributeName"]: types.get(k["AttributeName"], "S")
            for k in stack.resolve(properties["KeySchema"])
        }
        view = stack.resolve((properties.get("StreamSpecification") or {}).get("StreamViewType", "KEYS_ONLY"))
        arn = f"arn:aws:dynamodb:{stack.region}:{ACCOUNT_ID}:table/{name}/stream/{STREAM_LABEL}"
        return arn, keys, str(view)
    return str(stack.resolve(stream)), {}, "NEW_AND_OLD_IMAGES"


def _key_value(name: str, kind: str, value: Any) -> dict[str, str]:
    if kind == "N":
        return {"N": str(value if value is not None else 0)}
    if kind == "B":
        return {"B": value if value is not None else base64.b64encode(f"sample-{name}".encode()).decode()}
    return {"S": str(value if value is not None else f"sample-{name}")}


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
