"""The template's queues, tables and secrets, created on a local AWS endpoint (a moto server)."""

from __future__ import annotations

import contextlib
import graphlib
import json
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import boto3

from tools.sam_local.template import ACCOUNT_ID, LOCAL_RESOURCE_SERVICES, LOG, Stack, referenced_ids

REPO_ROOT = Path(__file__).resolve().parents[2]

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIALOCALTESTING0000",
    "AWS_SECRET_ACCESS_KEY": "local-testing-secret",
    "AWS_SESSION_TOKEN": "local-testing-session",
}


_SESSIONS: dict[str, boto3.session.Session] = {}
_SESSIONS_LOCK = threading.Lock()  # a session is not thread-safe; the clients it makes are


def aws_client(service: str, endpoint_url: str | None, region: str) -> Any:
    """A client of the local AWS endpoint; with no endpoint, of AWS's own, which an in-process
    moto (`moto.mock_aws`) answers. One session a region: it reads each service's model once."""
    with _SESSIONS_LOCK:
        if region not in _SESSIONS:
            _SESSIONS[region] = boto3.session.Session(
                aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                region_name=region,
            )
        return _SESSIONS[region].client(service, endpoint_url=endpoint_url)


def _error_code(error: Exception) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code", "")


def provision(
    stack: Stack,
    endpoint_url: str | None,
    secret_values: Mapping[str, Any],
    kinds: Collection[str] | None = None,
) -> None:
    """Create (or find) the template's queues, tables, secrets and keys on the local AWS endpoint
    (None: AWS's own endpoint, which an in-process moto answers). A key is only created (the
    others name it); nothing is encrypted locally. With `kinds` (resource types), only the
    resources of those types, and what they refer to, are made; a resource made before (in
    stack.physical) is not made again."""
    local_ids = {
        logical_id
        for logical_id, resource in stack.resources.items()
        if resource.get("Type") in LOCAL_RESOURCE_SERVICES and stack.is_active(logical_id)
    }
    needs = {}
    for logical_id in local_ids:
        resource = stack.resources[logical_id]
        depends_on = resource.get("DependsOn") or []
        depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
        needed = referenced_ids(resource.get("Properties") or {}) | set(depends_on)
        needs[logical_id] = needed & local_ids
    wanted = {i for i in local_ids if kinds is None or stack.resources[i]["Type"] in kinds}
    order = graphlib.TopologicalSorter()
    for logical_id in _with_what_they_need(wanted, needs):
        order.add(logical_id, *needs[logical_id])
    clients: dict[str, Any] = {}
    for logical_id in order.static_order():
        if logical_id in stack.physical:
            continue
        resource = stack.resources[logical_id]
        kind = resource["Type"]
        service = LOCAL_RESOURCE_SERVICES[kind]
        if service not in clients:
            clients[service] = aws_client(service, endpoint_url, stack.region)
        properties = stack.resolve(resource.get("Properties") or {})
        name_base = f"{stack.name}-{logical_id}"
        if kind == "AWS::SQS::Queue":
            attributes = _create_queue(clients[service], stack.region, name_base, properties)
        elif kind == "AWS::DynamoDB::Table":
            attributes = _create_table(clients[service], name_base, properties)
        elif kind == "AWS::KMS::Key":
            key = clients[service].create_key(Description=properties.get("Description", name_base))
            attributes = {"Ref": key["KeyMetadata"]["KeyId"], "Arn": key["KeyMetadata"]["Arn"]}
        else:
            value = _secret_string(logical_id, properties, secret_values)
            attributes = _create_secret(clients[service], name_base, properties, value)
        stack.physical[logical_id] = attributes
        LOG.info("created %s %s", logical_id, attributes["Ref"])


def _with_what_they_need(wanted: set[str], needs: Mapping[str, set[str]]) -> set[str]:
    found, todo = set(), list(wanted)
    while todo:
        logical_id = todo.pop()
        if logical_id not in found:
            found.add(logical_id)
            todo.extend(needs[logical_id])
    return found


def queue_name(name_base: str, properties: Mapping[str, Any]) -> str:
    """A queue's name: its QueueName, else the stack's name and its logical id (.fifo for FIFO)."""
    fifo = str(properties.get("FifoQueue", "")).lower() == "true"
    return properties.get("QueueName") or (f"{name_base}.fifo" if fifo else name_base)


def queue_arn(region: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{name}"


def _create_queue(sqs: Any, region: str, name_base: str, properties: Mapping[str, Any]) -> dict:
    name = queue_name(name_base, properties)
    attributes = {
        key: _queue_attribute(value) for key, value in properties.items() if key not in ("QueueName", "Tags")
    }
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except Exception as error:
        if _error_code(error) != "QueueAlreadyExists":
            raise
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return {"Ref": url, "Arn": queue_arn(region, name), "QueueName": name, "QueueUrl": url}


def _queue_attribute(value: Any) -> str:
    # SQS takes every attribute as a string; RedrivePolicy is a JSON document in the template.
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


_TABLE_PARAMETERS = (
    "KeySchema",
    "AttributeDefinitions",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
)


def _create_table(dynamodb: Any, name_base: str, properties: Mapping[str, Any]) -> dict:
    name = properties.get("TableName") or name_base
    # No stream (StreamSpecification): nothing reads one here, DynamoDB event sources are not
    # emulated, and moto would keep every record of it and copy them all with the table at each
    # transaction, slowing the local stack as it fills.
    parameters = {key: properties[key] for key in _TABLE_PARAMETERS if key in properties}
    try:
        table = dynamodb.create_table(TableName=name, **parameters)["TableDescription"]
    except Exception as error:
        if _error_code(error) != "ResourceInUseException":
            raise
        return _table_attributes(dynamodb.describe_table(TableName=name)["Table"])
    ttl = properties.get("TimeToLiveSpecification") or {}
    if str(ttl.get("Enabled", "")).lower() == "true":
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )
    return _table_attributes(table)


def _table_attributes(table: Mapping[str, Any]) -> dict:
    attributes = {"Ref": table["TableName"], "Arn": table["TableArn"]}
    if "LatestStreamArn" in table:
        attributes["StreamArn"] = table["LatestStreamArn"]
    return attributes


def _secret_string(logical_id: str, properties: Mapping[str, Any], values: Mapping[str, Any]) -> str:
    if logical_id in values:
        value = values[logical_id]
        return value if isinstance(value, str) else json.dumps(value)
    if "SecretString" in properties:
        return str(properties["SecretString"])
    generate = properties.get("GenerateSecretString") or {}
    password = secrets.token_urlsafe(48)[: int(generate.get("PasswordLength", 32))]
    if "SecretStringTemplate" in generate and "GenerateStringKey" in generate:
        document = json.loads(generate["SecretStringTemplate"])
        document[generate["GenerateStringKey"]] = password
        return json.dumps(document)
    return password


def _create_secret(client: Any, name_base: str, properties: Mapping[str, Any], value: str) -> dict:
    name = properties.get("Name") or name_base
    try:
        arn = client.describe_secret(SecretId=name)["ARN"]  # kept as is on a shared endpoint
    except Exception as error:
        if _error_code(error) != "ResourceNotFoundException":
            raise
        arn = client.create_secret(Name=name, SecretString=value)["ARN"]
    return {"Ref": arn, "Id": arn}


def start_moto_server(port: int = 0) -> tuple[subprocess.Popen[bytes], str]:
    """A moto server in its own process (so each runtime has its own state); (process, url).

    It is moto with two of its costs that grow with the data removed (tools/sam_local/moto_server.py),
    so the local stack does not slow as it fills."""
    port = port or _free_port()
    with tempfile.TemporaryFile() as log:  # the server keeps its own handle on it
        process = subprocess.Popen(
            [sys.executable, "-m", "tools.sam_local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=REPO_ROOT,  # where `tools` is importable from
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                return process, f"http://127.0.0.1:{port}"
            time.sleep(0.05)
        process.kill()
        log.seek(0)
        raise RuntimeError(f"moto server did not start:\n{log.read().decode(errors='replace')}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
