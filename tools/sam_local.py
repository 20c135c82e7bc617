"""Run a SAM template's Python functions locally without Docker or an AWS account.

A stand-in for `sam local invoke` / `sam local start-api` (plus SQS event source mappings) that
runs each function in a plain Python process and points boto3 at a local moto server:

    python -m tools.sam_local invoke EchoFunction -e events/echo.json [--env-vars env.json]
    python -m tools.sam_local start [--port 3000] [--env-vars env.json] [--secrets secrets.json]

Or in-process (tests, demos):

    with LocalRuntime("template.yaml") as runtime:   # starts moto, creates the template's resources
        runtime.invoke("EchoFunction", {"hello": "world"})
        url = runtime.serve_api()                     # API Gateway (REST, proxy) on 127.0.0.1
        runtime.start_event_sources()                 # SQS -> Lambda pollers

Local AWS_IAM auth: a route whose authorizer is AWS_IAM accepts any request whose Authorization
header starts with `AWS4-HMAC-SHA256` (the signature is NOT verified) and reports the access key id
of its `Credential=` as the caller: requestContext.identity gets accessKey/caller/user = that key,
accountId = 123456789012 and userArn = arn:aws:iam::123456789012:user/<access key id>. Any other
request gets API Gateway's 403 {"message": "Missing Authentication Token"}.

This file is also the bootstrap of each function's process (`_worker_main`), run with `python -I`.
That is why only the standard library is imported at module level: the function's own code and its
layers must decide which boto3 (or anything else) gets imported, as in Lambda. boto3 and PyYAML are
imported inside the few functions of the runner that use them; moto runs in a process of its own.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import decimal
import graphlib
import hashlib
import importlib
import json
import logging
import os
import queue
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl, unquote, urlsplit

LOG = logging.getLogger("sam_local")

DEFAULT_STACK_NAME = "erasure-relay"
DEFAULT_REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIALOCALTESTING0000",
    "AWS_SECRET_ACCESS_KEY": "local-testing-secret",
    "AWS_SESSION_TOKEN": "local-testing-session",
}
DEFAULT_TIMEOUT_S = 3  # SAM's defaults for Timeout and MemorySize
DEFAULT_MEMORY_MB = 128
INIT_TIMEOUT_S = 10  # Lambda's limit for the init phase of an on-demand function
TOOLS_DIR = Path(__file__).resolve().parent
DEFAULT_SECRETS_FILES = (TOOLS_DIR / "secrets.local.json", TOOLS_DIR / "secrets.example.json")
_WORKER_ARG = "__lambda_worker__"
_MISSING_TOKEN = {"message": "Missing Authentication Token"}


class TemplateError(Exception):
    """The template (or the way it is used) is not something this runner can run."""


class UnresolvableReference(TemplateError):
    """An intrinsic function refers to something that has no local value."""


# --------------------------------------------------------------------------- template loading


def load_template(path: Path) -> dict[str, Any]:
    """Read a CloudFormation/SAM template, turning short-form tags (!Ref, !Sub...) into dicts."""
    import yaml  # see the module docstring for why this import is local

    class CfnLoader(yaml.SafeLoader):
        pass

    def construct_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)  # !GetAtt Queue.Arn is short for [Queue, Arn]
        key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
        return {key: value}

    CfnLoader.add_multi_constructor("!", construct_tag)
    with path.open(encoding="utf-8") as stream:
        template = yaml.load(stream, Loader=CfnLoader)  # a SafeLoader subclass
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise TemplateError(f"{path} has no Resources section")
    return template


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rules: maps merge (local wins), lists concatenate (globals first)."""
    if _is_intrinsic(global_value) or _is_intrinsic(local_value):
        return local_value
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(global_value[key], value) if key in merged else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    (key,) = value
    return key == "Ref" or key.startswith("Fn::")


# --------------------------------------------------------------------------- intrinsic functions

_NO_VALUE = object()  # AWS::NoValue: the surrounding key or list item disappears
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LOCAL_RESOURCE_TYPES = ("AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::SecretsManager::Secret")
_FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")


class Stack:
    """A template plus the local values its intrinsic functions resolve to."""

    def __init__(
        self,
        template_path: str | os.PathLike[str],
        parameter_values: Mapping[str, Any],
        stack_name: str,
        region: str,
    ) -> None:
        self.path = Path(template_path).resolve()
        self.dir = self.path.parent
        self.template = load_template(self.path)
        self.name = stack_name
        self.region = region
        self.resources: dict[str, dict[str, Any]] = self.template["Resources"]
        self.globals: dict[str, Any] = self.template.get("Globals") or {}
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{ACCOUNT_ID}:stack/{stack_name}/0",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.parameters = self._parameter_values(parameter_values)
        # Attributes ("Ref", "Arn", ...) of the resources created on the local AWS endpoint.
        self.physical: dict[str, dict[str, Any]] = {}

    def _parameter_values(self, given: Mapping[str, Any]) -> dict[str, Any]:
        values = {}
        for name, declaration in (self.template.get("Parameters") or {}).items():
            if name in given:
                value = given[name]
            elif "Default" in declaration:
                value = declaration["Default"]
            else:
                continue  # only an error if something refers to it
            if declaration.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                values[name] = value.split(",")
            else:
                values[name] = value if isinstance(value, list) else str(value)
        return values

    def is_active(self, logical_id: str) -> bool:
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def condition(self, name: str) -> bool:
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"unknown condition {name}")
        return bool(self.resolve(conditions[name]))

    def resolve(self, value: Any) -> Any:
        """Evaluate every intrinsic function in value (Ref, Fn::GetAtt, Fn::Sub, ...)."""
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, argument),) = value.items()
                function = self._FUNCTIONS.get(key)
                if function is not None:
                    return function(self, argument)
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not _NO_VALUE}
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not _NO_VALUE]
        return value

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in (self.template.get("Parameters") or {}):
            raise TemplateError(f"parameter {name} has no Default; give it a value")
        return self.attributes(name)["Ref"]

    def get_att(self, logical_id: str, attribute: str) -> Any:
        attributes = self.attributes(logical_id)
        if attribute not in attributes:
            raise UnresolvableReference(f"no local value for !GetAtt {logical_id}.{attribute}")
        return attributes[attribute]

    def attributes(self, logical_id: str) -> Mapping[str, Any]:
        """The local values of a resource's Ref and attributes."""
        if logical_id in self.physical:
            return self.physical[logical_id]
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"reference to unknown resource or parameter {logical_id}")
        kind = resource.get("Type")
        properties = resource.get("Properties") or {}
        if kind in _FUNCTION_TYPES:
            name = self.function_name(logical_id)
            return {
                "Ref": name,
                "Arn": f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{name}",
            }
        if kind == "AWS::Serverless::LayerVersion":
            name = self.resolve(properties.get("LayerName", logical_id))
            return {"Ref": f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:layer:{name}:1"}
        if kind == "AWS::Serverless::Api":
            return {"Ref": logical_id.lower(), "RootResourceId": "root"}
        if kind in _LOCAL_RESOURCE_TYPES:
            raise UnresolvableReference(f"{logical_id} has not been created on the local endpoint")
        raise UnresolvableReference(f"{logical_id}: resources of type {kind} are not emulated")

    def function_name(self, logical_id: str) -> str:
        # Like `sam local`: the FunctionName if the template sets one, else the logical id.
        properties = self.resources[logical_id].get("Properties") or {}
        return str(self.resolve(properties.get("FunctionName", logical_id)))

    def _fn_get_att(self, argument: Any) -> Any:
        logical_id, attribute = self.resolve(argument)
        return self.get_att(logical_id, attribute)

    def _fn_sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {name: self.resolve(value) for name, value in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} stays as ${Literal}
                return "${" + name[1:] + "}"
            if name in values:
                return str(values[name])
            if "." in name:
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(substitute, text)

    def _fn_join(self, argument: Any) -> str:
        delimiter, items = argument
        return str(delimiter).join(str(item) for item in self.resolve(items))

    def _fn_select(self, argument: Any) -> Any:
        index, items = argument
        return self.resolve(items)[int(self.resolve(index))]

    def _fn_split(self, argument: Any) -> list[str]:
        delimiter, text = argument
        return str(self.resolve(text)).split(delimiter)

    def _fn_if(self, argument: Any) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _fn_find_in_map(self, argument: Any) -> Any:
        map_name, top_key, second_key = (self.resolve(item) for item in argument)
        return self.resolve(self.template["Mappings"][map_name][top_key][second_key])

    def _fn_base64(self, argument: Any) -> str:
        return base64.b64encode(str(self.resolve(argument)).encode()).decode()

    def _fn_equals(self, argument: Any) -> bool:
        left, right = (self.resolve(item) for item in argument)
        return str(left) == str(right)

    def _fn_not(self, argument: Any) -> bool:
        return not self.resolve(argument[0])

    def _fn_and(self, argument: Any) -> bool:
        return all(self.resolve(item) for item in argument)

    def _fn_or(self, argument: Any) -> bool:
        return any(self.resolve(item) for item in argument)

    _FUNCTIONS: dict[str, Callable[[Stack, Any], Any]] = {
        "Ref": ref,
        "Condition": condition,
        "Fn::GetAtt": _fn_get_att,
        "Fn::Sub": _fn_sub,
        "Fn::Join": _fn_join,
        "Fn::Select": _fn_select,
        "Fn::Split": _fn_split,
        "Fn::If": _fn_if,
        "Fn::FindInMap": _fn_find_in_map,
        "Fn::Base64": _fn_base64,
        "Fn::Equals": _fn_equals,
        "Fn::Not": _fn_not,
        "Fn::And": _fn_and,
        "Fn::Or": _fn_or,
    }


def referenced_ids(value: Any) -> set[str]:
    """Logical ids (and parameters) that value refers to through Ref, Fn::GetAtt or Fn::Sub."""
    if isinstance(value, list):
        return set().union(*map(referenced_ids, value)) if value else set()
    if not isinstance(value, dict):
        return set()
    found = set().union(*map(referenced_ids, value.values())) if value else set()
    if isinstance(value.get("Ref"), str):
        found.add(value["Ref"])
    get_att = value.get("Fn::GetAtt")
    if isinstance(get_att, list) and get_att and isinstance(get_att[0], str):
        found.add(get_att[0])
    sub = value.get("Fn::Sub")
    text = sub[0] if isinstance(sub, list) and sub else sub
    if isinstance(text, str):
        found.update(name.split(".")[0] for name in _SUB_VARIABLE.findall(text))
    return found


# --------------------------------------------------------------------------- functions


@dataclass(frozen=True)
class FunctionSpec:
    """One AWS::Serverless::Function with Globals.Function merged in."""

    logical_id: str
    name: str
    handler: str
    runtime: str
    timeout_s: int
    memory_mb: int
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    variables: Mapping[str, Any]  # Environment.Variables, intrinsics not yet resolved
    events: Mapping[str, Any]
    arn: str


def function_specs(stack: Stack) -> dict[str, FunctionSpec]:
    global_properties = stack.globals.get("Function") or {}
    specs = {}
    for logical_id, resource in stack.resources.items():
        if resource.get("Type") != "AWS::Serverless::Function" or not stack.is_active(logical_id):
            continue
        properties = merge_globals(global_properties, resource.get("Properties") or {})
        runtime = str(properties.get("Runtime", ""))
        if not runtime.startswith("python") or "Handler" not in properties:
            raise TemplateError(f"{logical_id}: only zip functions with a python runtime are run")
        running = f"python{sys.version_info.major}.{sys.version_info.minor}"
        if runtime != running:
            LOG.warning("%s declares %s; it runs on this runner's %s", logical_id, runtime, running)
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            name=stack.function_name(logical_id),
            handler=str(properties["Handler"]),
            runtime=runtime,
            timeout_s=int(stack.resolve(properties.get("Timeout", DEFAULT_TIMEOUT_S))),
            memory_mb=int(stack.resolve(properties.get("MemorySize", DEFAULT_MEMORY_MB))),
            code_dir=_code_dir(stack, logical_id, properties),
            layer_dirs=tuple(
                path
                for path in (_layer_dir(stack, layer) for layer in properties.get("Layers") or [])
                if path is not None
            ),
            variables=(properties.get("Environment") or {}).get("Variables") or {},
            events=properties.get("Events") or {},
            arn=stack.get_att(logical_id, "Arn"),
        )
    return specs


def _code_dir(stack: Stack, logical_id: str, properties: Mapping[str, Any]) -> Path:
    code_uri = properties.get("CodeUri", ".")
    if not isinstance(code_uri, str):
        raise TemplateError(f"{logical_id}: CodeUri must be a local folder")
    return _built_or_source(stack.dir / ".aws-sam" / "build" / logical_id, stack.dir / code_uri)


def _layer_dir(stack: Stack, layer: Any) -> Path | None:
    """The folder that plays /opt/python for a layer given as !Ref to a template layer."""
    layer_id = layer.get("Ref") if isinstance(layer, dict) else None
    resource = stack.resources.get(layer_id) if isinstance(layer_id, str) else None
    if resource is None or resource.get("Type") != "AWS::Serverless::LayerVersion":
        LOG.warning("layer %s is not a !Ref to a local layer; skipped", layer)
        return None
    content_uri = (resource.get("Properties") or {}).get("ContentUri")
    if not isinstance(content_uri, str):
        raise TemplateError(f"{layer_id}: ContentUri must be a local folder")
    content = stack.dir / content_uri
    # With a BuildMethod, `sam build` copies the folder itself into python/; without one the
    # folder is zipped as is, so its python/ subfolder is what lands on the import path.
    has_build_method = "BuildMethod" in (resource.get("Metadata") or {})
    source = content if has_build_method else content / "python"
    return _built_or_source(stack.dir / ".aws-sam" / "build" / layer_id / "python", source)


def _built_or_source(built: Path, source: Path) -> Path:
    """The `sam build` output, like SAM, unless a source file changed after it was built: a stale
    build would run old code without a word."""
    if not built.is_dir():
        return source
    built_at = built.stat().st_mtime
    changed = [f for f in source.rglob("*.py") if f.stat().st_mtime > built_at]
    if changed:
        LOG.warning("%s is older than %s (e.g. %s): using the source", built, source, changed[0].name)
        return source
    LOG.info("using the `sam build` output %s", built)
    return built


@dataclass(frozen=True)
class InvokeResult:
    """What Lambda's Invoke API returns: the payload, and FunctionError if the function failed."""

    request_id: str
    payload: Any  # the handler's return value, or Lambda's error object
    function_error: str | None = None  # "Unhandled", like Lambda's X-Amz-Function-Error

    @property
    def ok(self) -> bool:
        return self.function_error is None


class FunctionWorker:
    """A warm execution environment: one Python process with the handler imported once.

    Invocations are serial, like one Lambda instance. A crash or timeout discards the process; the
    next invocation starts a fresh one (a cold start).
    """

    def __init__(
        self, spec: FunctionSpec, environment: Mapping[str, str], logs: TextIO | None = None
    ) -> None:
        self.spec = spec
        self._environment = dict(environment)
        self._logs = logs or sys.stderr  # where the function's logs go, as CloudWatch would get them
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()

    def invoke(self, event: Any) -> InvokeResult:
        with self._lock:
            request_id = str(uuid.uuid4())
            self._log(f"START RequestId: {request_id} Version: $LATEST")
            started = time.monotonic()
            result = self._invoke(request_id, event)
            duration_ms = (time.monotonic() - started) * 1000
            self._log(f"END RequestId: {request_id}")
            self._log(
                f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
                f"Memory Size: {self.spec.memory_mb} MB"
            )
            return result

    def stop(self) -> None:
        with self._lock:
            self._discard()

    def _log(self, text: str) -> None:
        self._logs.write(text + "\n")
        self._logs.flush()

    def _invoke(self, request_id: str, event: Any) -> InvokeResult:
        if self._process is None:
            init_error = self._start()
            if init_error is not None:
                return InvokeResult(request_id, {**init_error, "requestId": request_id}, "Unhandled")
        deadline_ms = int((time.time() + self.spec.timeout_s) * 1000)
        request = {
            "requestId": request_id,
            "deadlineMs": deadline_ms,
            "invokedFunctionArn": self.spec.arn,
            "event": event,
        }
        try:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            response = self._lines.get(timeout=self.spec.timeout_s)
        except BrokenPipeError:
            response = None
        except queue.Empty:
            self._discard(kill=True)
            message = f"Task timed out after {self.spec.timeout_s:.2f} seconds"
            return self._runtime_error(request_id, "Sandbox.Timedout", message)
        if response is None:
            exit_code = self._discard()
            message = f"Runtime exited with error: exit status {exit_code}"
            return self._runtime_error(request_id, "Runtime.ExitError", message)
        outcome = json.loads(response)
        return InvokeResult(request_id, outcome["payload"], None if outcome["ok"] else "Unhandled")

    def _start(self) -> dict[str, Any] | None:
        """Start the process and wait for its init phase; Lambda's error object if init failed."""
        # Lambda extracts layers into /opt in their listed order, a later layer overwriting an
        # earlier one's files: so the last-listed layer comes first after the function's code.
        paths = [str(self.spec.code_dir), *map(str, reversed(self.spec.layer_dirs))]
        # -I: neither PYTHONPATH nor the runner's folders leak into the function's import path.
        # -B: no __pycache__ in the code and layer folders (read-only /var/task and /opt in Lambda).
        command = [sys.executable, "-I", "-B", str(Path(__file__).resolve()), _WORKER_ARG]
        self._process = subprocess.Popen(
            [*command, self.spec.handler, *paths],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._logs,
            cwd=self.spec.code_dir,
            env=self._environment,
            text=True,
            encoding="utf-8",
            start_new_session=True,  # Ctrl-C in a terminal reaches the runner, which stops workers
        )
        self._lines = queue.Queue()
        threading.Thread(target=_pump_lines, args=(self._process.stdout, self._lines), daemon=True).start()
        try:
            first = self._lines.get(timeout=INIT_TIMEOUT_S)
        except queue.Empty:
            first = None
        message = json.loads(first) if first else {}
        if message.get("ready"):
            return None
        self._discard()
        return message.get("initError") or {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"Runtime exited or took over {INIT_TIMEOUT_S} s to initialize",
        }

    def _discard(self, kill: bool = False) -> int | None:
        """End the process (if any): closing its stdin ends its loop. Its exit code."""
        process, self._process = self._process, None
        if process is None:
            return None
        if kill:
            process.kill()
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
        try:
            return process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def _runtime_error(self, request_id: str, error_type: str, message: str) -> InvokeResult:
        LOG.error("%s: %s", self.spec.logical_id, message)
        payload = {
            "errorType": error_type,
            "errorMessage": f"RequestId: {request_id} Error: {message}",
        }
        return InvokeResult(request_id, payload, "Unhandled")


def _pump_lines(stream: Any, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)  # end of stream: the process exited


# --------------------------------------------------------------------------- the function's process


class _LambdaContext:
    """The context object of the Python runtime (awslambdaric's LambdaContext)."""

    def __init__(self, request: Mapping[str, Any]) -> None:
        self.aws_request_id = request["requestId"]
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.invoked_function_arn = request["invokedFunctionArn"]
        # A string, as in the real runtime, which copies it from the environment.
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline_ms = request["deadlineMs"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _worker_main(handler: str, import_paths: list[str]) -> None:
    """The function's process: import the handler once, then serve invocations from stdin."""
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    responses = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)  # whatever the function prints is log output (stderr), as in CloudWatch Logs
    sys.stdout.reconfigure(line_buffering=True)
    sys.path[:0] = import_paths
    request_ids = _RequestIdFilter()
    log_handler = logging.StreamHandler(sys.stderr)
    log_handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    log_handler.addFilter(request_ids)
    logging.getLogger().addHandler(log_handler)  # the runtime's handler on the root logger

    def send(message: dict[str, Any]) -> None:
        try:
            text = json.dumps(message, default=_json_default)
        except (TypeError, ValueError) as error:
            text = json.dumps(
                {
                    "ok": False,
                    "payload": {
                        "errorType": "Runtime.MarshalError",
                        "errorMessage": f"Unable to marshal response: {error}",
                    },
                }
            )
        responses.write(text + "\n")
        responses.flush()

    try:
        function = _import_handler(handler)
    except Exception as error:
        send({"initError": _error_payload(error, "", _init_error_type(error))})
        return
    send({"ready": True})
    for line in requests:
        request = json.loads(line)
        request_ids.request_id = request["requestId"]
        context = _LambdaContext(request)
        try:
            send({"ok": True, "payload": function(request["event"], context)})
        except Exception as error:
            send({"ok": False, "payload": _error_payload(error, request["requestId"])})


def _import_handler(handler: str) -> Callable[[Any, Any], Any]:
    module_path, _, function_name = handler.rpartition(".")
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise _InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}"
        ) from error
    function = getattr(module, function_name, None)
    if not callable(function):
        raise _InitError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return function


class _InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _init_error_type(error: Exception) -> str:
    return error.error_type if isinstance(error, _InitError) else type(error).__name__


def _error_payload(error: BaseException, request_id: str, error_type: str | None = None) -> dict:
    error_type = error_type or type(error).__name__
    frames = traceback.extract_tb(error.__traceback__)[1:]  # drop the runtime's own frame
    stack = traceback.format_list(frames)
    sys.stderr.write(f"[ERROR] {error_type}: {error}\nTraceback (most recent call last):\n")
    sys.stderr.write("".join(stack))
    sys.stderr.flush()
    return {
        "errorMessage": str(error),
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack,
    }


def _json_default(value: Any) -> Any:
    # The Python runtime's encoder accepts Decimal (what boto3's DynamoDB layer returns).
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# --------------------------------------------------------------------------- local AWS resources


def _aws_client(service: str, endpoint_url: str, region: str) -> Any:
    import boto3  # see the module docstring for why this import is local

    session = boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
    )
    return session.client(service, endpoint_url=endpoint_url)


def _error_code(error: Exception) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code", "")


def provision(stack: Stack, endpoint_url: str, secret_values: Mapping[str, Any]) -> None:
    """Create (or find) the template's queues, tables and secrets on the local AWS endpoint."""
    local_ids = {
        logical_id
        for logical_id, resource in stack.resources.items()
        if resource.get("Type") in _LOCAL_RESOURCE_TYPES and stack.is_active(logical_id)
    }
    order = graphlib.TopologicalSorter()
    for logical_id in local_ids:
        resource = stack.resources[logical_id]
        depends_on = resource.get("DependsOn") or []
        depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
        needed = referenced_ids(resource.get("Properties") or {}) | set(depends_on)
        order.add(logical_id, *(needed & local_ids))
    clients: dict[str, Any] = {}
    for logical_id in order.static_order():
        resource = stack.resources[logical_id]
        kind = resource["Type"]
        service = {"AWS::SQS::Queue": "sqs", "AWS::DynamoDB::Table": "dynamodb"}.get(kind, "secretsmanager")
        if service not in clients:
            clients[service] = _aws_client(service, endpoint_url, stack.region)
        properties = stack.resolve(resource.get("Properties") or {})
        name_base = f"{stack.name}-{logical_id}"
        if kind == "AWS::SQS::Queue":
            attributes = _create_queue(clients[service], stack.region, name_base, properties)
        elif kind == "AWS::DynamoDB::Table":
            attributes = _create_table(clients[service], name_base, properties)
        else:
            value = _secret_string(logical_id, properties, secret_values)
            attributes = _create_secret(clients[service], name_base, properties, value)
        stack.physical[logical_id] = attributes
        LOG.info("created %s %s", logical_id, attributes["Ref"])


def _create_queue(sqs: Any, region: str, name_base: str, properties: Mapping[str, Any]) -> dict:
    fifo = str(properties.get("FifoQueue", "")).lower() == "true"
    name = properties.get("QueueName") or (f"{name_base}.fifo" if fifo else name_base)
    attributes = {
        key: _queue_attribute(value) for key, value in properties.items() if key not in ("QueueName", "Tags")
    }
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except Exception as error:
        if _error_code(error) != "QueueAlreadyExists":
            raise
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    arn = f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{name}"
    return {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}


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
    parameters = {key: properties[key] for key in _TABLE_PARAMETERS if key in properties}
    if "StreamSpecification" in properties:
        parameters["StreamSpecification"] = {
            "StreamEnabled": True,
            **properties["StreamSpecification"],
        }
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
    """A moto server in its own process (so each runtime has its own state); (process, url)."""
    port = port or _free_port()
    with tempfile.TemporaryFile() as log:  # the server keeps its own handle on it
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
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


# --------------------------------------------------------------------------- API Gateway (REST)


@dataclass(frozen=True)
class ApiRoute:
    function_id: str
    method: str  # upper case, or ANY
    path: str  # the resource, e.g. /items/{id}
    api_id: str
    stage: str
    iam_auth: bool
    binary_media_types: tuple[str, ...] = ()
    pattern: re.Pattern[str] = field(init=False, compare=False)
    parameter_names: tuple[str, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        names = []
        parts = []
        for segment in self.path.strip("/").split("/"):
            match = re.fullmatch(r"\{([^{}+]+)(\+?)\}", segment)
            if match is None:
                parts.append(re.escape(segment))
                continue
            names.append(match.group(1))
            parts.append("(.+)" if match.group(2) else "([^/]+)")  # {proxy+} is greedy
        object.__setattr__(self, "pattern", re.compile("/" + "/".join(parts)))
        object.__setattr__(self, "parameter_names", tuple(names))

    @property
    def specificity(self) -> tuple[bool, int]:
        """Sort key: static paths before parameterized ones, greedy ones last (as API Gateway)."""
        return ("+}" in self.path, len(self.parameter_names))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None or self.method not in ("ANY", method):
            return None
        return dict(zip(self.parameter_names, found.groups(), strict=True))


def api_routes(stack: Stack, functions: Mapping[str, FunctionSpec]) -> list[ApiRoute]:
    global_api = stack.globals.get("Api") or {}
    routes = []
    for spec in functions.values():
        for event in spec.events.values():
            if event.get("Type") != "Api":
                continue
            properties = event.get("Properties") or {}
            api_ref = properties.get("RestApiId") or {"Ref": "ServerlessRestApi"}
            api_id = api_ref["Ref"] if isinstance(api_ref, dict) else str(api_ref)
            api = stack.resources.get(api_id, {}).get("Properties") or {}
            api = merge_globals(global_api, api)
            authorizer = stack.resolve(
                (properties.get("Auth") or {}).get(
                    "Authorizer", (api.get("Auth") or {}).get("DefaultAuthorizer", "NONE")
                )
            )
            if authorizer not in ("AWS_IAM", "NONE"):
                LOG.warning(
                    "%s %s: authorizer %s is not enforced locally",
                    spec.logical_id,
                    properties.get("Path"),
                    authorizer,
                )
            routes.append(
                ApiRoute(
                    function_id=spec.logical_id,
                    method=str(properties["Method"]).upper(),
                    path=str(stack.resolve(properties["Path"])),
                    api_id=api_id,
                    stage=str(stack.resolve(api.get("StageName", "Prod"))),
                    iam_auth=authorizer == "AWS_IAM",
                    binary_media_types=tuple(
                        media.replace("~1", "/") for media in stack.resolve(api.get("BinaryMediaTypes") or [])
                    ),
                )
            )
    return sorted(routes, key=lambda route: route.specificity)


def iam_identity(headers: Message, source_ip: str) -> dict[str, Any] | None:
    """requestContext.identity of a SigV4-signed request (signature not checked), else None."""
    authorization = headers.get("Authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256"):
        return None
    credential = re.search(r"Credential=([^/,\s]+)", authorization)
    access_key = credential.group(1) if credential else "UNKNOWN"
    return {
        **_anonymous_identity(headers, source_ip),
        "accountId": ACCOUNT_ID,
        "accessKey": access_key,
        "caller": access_key,
        "user": access_key,
        "userArn": f"arn:aws:iam::{ACCOUNT_ID}:user/{access_key}",
    }


def _anonymous_identity(headers: Message, source_ip: str) -> dict[str, Any]:
    keys = (
        "cognitoIdentityPoolId",
        "accountId",
        "cognitoIdentityId",
        "caller",
        "principalOrgId",
        "accessKey",
        "cognitoAuthenticationType",
        "cognitoAuthenticationProvider",
        "userArn",
        "user",
    )
    return {**dict.fromkeys(keys), "sourceIp": source_ip, "userAgent": headers.get("User-Agent")}


def rest_event(
    route: ApiRoute,
    method: str,
    target: str,
    headers: Message,
    body: bytes,
    identity: dict[str, Any],
    path_parameters: Mapping[str, str],
) -> dict[str, Any]:
    """The API Gateway REST proxy (payload 1.0) event for one HTTP request."""
    url = urlsplit(target)
    query = parse_qsl(url.query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        multi_query.setdefault(name, []).append(value)
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers.items():
        multi_headers.setdefault(name, []).append(value)
    content_type = headers.get_content_type()
    body_text = None
    if body and not any(fnmatch(content_type, media) for media in route.binary_media_types):
        with contextlib.suppress(UnicodeDecodeError):
            body_text = body.decode("utf-8")
    binary = bool(body) and body_text is None  # binary media type, or not UTF-8 text
    if binary:
        body_text = base64.b64encode(body).decode()
    request_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    path = unquote(url.path)
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {name: unquote(value) for name, value in path_parameters.items()} or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": hashlib.sha1(route.path.encode()).hexdigest()[:6],
            "resourcePath": route.path,
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{route.stage}{path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": route.stage,
            "domainPrefix": "localhost",
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": identity,
            "domainName": headers.get("Host", "localhost"),
            "apiId": route.api_id,
        },
        "body": body_text,
        "isBase64Encoded": binary,
    }


def http_response(result: InvokeResult) -> tuple[int, list[tuple[str, str]], bytes]:
    """Turn a Lambda proxy result into (status, headers, body), with API Gateway's 502s."""
    if not result.ok:
        return _json_response(502, {"message": "Internal server error"})
    payload = result.payload
    try:
        status = int(payload["statusCode"])
        multi = {
            name: [str(v) for v in values]
            for name, values in (payload.get("multiValueHeaders") or {}).items()
        }
        single = {name: [str(value)] for name, value in (payload.get("headers") or {}).items()}
        merged = {**single, **multi}  # as API Gateway: multiValueHeaders win
        headers = [(name, value) for name, values in merged.items() for value in values]
        body = payload.get("body") or ""
        if not isinstance(body, str):
            raise TypeError("body must be a string")
        data = base64.b64decode(body) if payload.get("isBase64Encoded") else body.encode()
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as error:
        LOG.error("malformed Lambda proxy response (%s): %r", error, payload)
        return _json_response(502, {"message": "Internal server error"})
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return status, headers, data


def _json_response(status: int, body: Any, *extra: tuple[str, str]) -> tuple[int, list, bytes]:
    return status, [("Content-Type", "application/json"), *extra], json.dumps(body).encode()


class ApiGateway:
    """Serves API routes over HTTP on 127.0.0.1, invoking the functions behind them."""

    def __init__(self, routes: list[ApiRoute], invoke: Callable[[str, Any], InvokeResult], port: int) -> None:
        self.routes = routes
        self._invoke = invoke
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _ApiRequestHandler)
        self._server.daemon_threads = True
        self._server.gateway = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def respond(
        self, method: str, target: str, headers: Message, body: bytes, source_ip: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        path = urlsplit(target).path
        for route in self.routes:
            path_parameters = route.match(method, path)
            if path_parameters is not None:
                break
        else:
            return _missing_token()
        identity = (
            iam_identity(headers, source_ip) if route.iam_auth else _anonymous_identity(headers, source_ip)
        )
        if identity is None:
            return _missing_token()
        event = rest_event(route, method, target, headers, body, identity, path_parameters)
        return http_response(self._invoke(route.function_id, event))

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _missing_token() -> tuple[int, list[tuple[str, str]], bytes]:
    # What API Gateway answers for an unknown route and for an unsigned request to an IAM route.
    return _json_response(403, _MISSING_TOKEN, ("x-amzn-ErrorType", "MissingAuthenticationTokenException"))


class _ApiRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = Message()
        for name, value in self.headers.items():
            headers[name] = value
        headers["X-Forwarded-For"] = self.client_address[0]
        headers["X-Forwarded-Port"] = str(self.server.server_address[1])
        headers["X-Forwarded-Proto"] = "http"
        status, response_headers, data = self.server.gateway.respond(  # type: ignore[attr-defined]
            self.command, self.path, headers, body, self.client_address[0]
        )
        self.send_response(status)
        for name, value in response_headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    def log_message(self, format: str, *args: Any) -> None:
        LOG.info("%s %s", self.address_string(), format % args)


# --------------------------------------------------------------------------- SQS event sources


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
        self._queue_url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]
        self._sqs = sqs
        self._invoke = invoke
        self._region = region
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = self._receive_batch()
                if batch:
                    self._process(batch)
            except Exception:
                LOG.exception("SQS poller for %s failed; retrying", self.source.function_id)
                self._stopping.wait(1)

    def _receive_batch(self) -> list[dict[str, Any]]:
        """Up to BatchSize messages, gathered for at most MaximumBatchingWindowInSeconds."""
        # By message id: one that comes back during a long window is not in the batch twice.
        batch: dict[str, dict[str, Any]] = {}
        window_ends = None
        while not self._stopping.is_set() and len(batch) < self.source.batch_size:
            response = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(10, self.source.batch_size - len(batch)),
                WaitTimeSeconds=1,  # short long-polls keep stop() prompt
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            batch.update((m["MessageId"], m) for m in response.get("Messages", []))
            if batch and window_ends is None:
                window_ends = time.monotonic() + self.source.batching_window_s
            if window_ends is not None and time.monotonic() >= window_ends:
                break
        return list(batch.values())

    def _process(self, batch: list[dict[str, Any]]) -> None:
        event = {"Records": [sqs_record(m, self.queue_arn, self._region) for m in batch]}
        result = self._invoke(self.source.function_id, event)
        if not result.ok:
            LOG.warning(
                "%s failed; its %d message(s) return after the visibility timeout",
                self.source.function_id,
                len(batch),
            )
            return
        message_ids = [message["MessageId"] for message in batch]
        failed = (
            failed_message_ids(result.payload, message_ids)
            if self.source.report_batch_item_failures
            else set()
        )
        done = [message for message in batch if message["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(done[start : start + 10])
            ]
            response = self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
            for failure in response.get("Failed", []):
                LOG.warning("could not delete a message from %s: %s", self.queue_arn, failure)


# --------------------------------------------------------------------------- the runtime


def _read_json_option(value: Mapping[str, Any] | str | os.PathLike[str] | None) -> dict:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    return json.loads(Path(value).read_text(encoding="utf-8"))


def _env_string(value: Any) -> str:
    # As `sam local`: booleans as true/false, unresolved (dict/list) and None as "".
    if isinstance(value, bool):
        return str(value).lower()
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


class LocalRuntime:
    """A SAM template's functions, API routes and SQS mappings, running against local AWS."""

    def __init__(
        self,
        template_path: str | os.PathLike[str],
        env_vars: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        secrets: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        endpoint_url: str | None = None,
        *,
        parameter_overrides: Mapping[str, str] | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
        aws_port: int = 0,
        logs: TextIO | None = None,
    ) -> None:
        """env_vars: SAM's --env-vars content or file; secrets: {SecretLogicalId: value} or file
        (default tools/secrets.local.json, else tools/secrets.example.json); endpoint_url: an
        already running AWS endpoint to use instead of starting a moto server on aws_port."""
        self.env_vars = _read_json_option(env_vars)
        if secrets is None:
            secrets = next((path for path in DEFAULT_SECRETS_FILES if path.exists()), None)
        self.secret_values = _read_json_option(secrets)
        # Template parameters come from --parameter-overrides, then the env-vars Parameters.
        given = {**(self.env_vars.get("Parameters") or {}), **(parameter_overrides or {})}
        self.stack = Stack(template_path, given, stack_name, region)
        self.functions = function_specs(self.stack)
        self.routes = api_routes(self.stack, self.functions)
        self.sqs_sources = sqs_event_sources(self.functions)
        self._endpoint_url = endpoint_url
        self._aws_port = aws_port
        self._logs = logs
        self._moto: subprocess.Popen[bytes] | None = None
        self._aws_started = False
        self._workers: dict[str, FunctionWorker] = {}
        self._workers_lock = threading.Lock()
        self._api: ApiGateway | None = None
        self._pollers: list[SqsPoller] = []

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            raise RuntimeError("call start_aws() first")
        return self._endpoint_url

    def start_aws(self) -> str:
        """Start moto unless an endpoint was given, create the template's resources; the URL."""
        if not self._aws_started:
            if self._endpoint_url is None:
                self._moto, self._endpoint_url = start_moto_server(self._aws_port)
                LOG.info("moto server at %s", self._endpoint_url)
            provision(self.stack, self._endpoint_url, self.secret_values)
            self._aws_started = True
        return self.endpoint_url

    def ref(self, logical_id: str) -> Any:
        return self.stack.ref(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        return self.stack.get_att(logical_id, attribute)

    def client(self, service: str) -> Any:
        """A boto3 client for the local AWS endpoint."""
        return _aws_client(service, self.start_aws(), self.stack.region)

    def environment(self, logical_id: str) -> dict[str, str]:
        """The function's process environment, as Lambda (and `sam local`) would set it."""
        spec = self._spec(logical_id)
        variables = {}
        for name, value in spec.variables.items():
            try:
                variables[name] = _env_string(self.stack.resolve(value))
            except UnresolvableReference as error:
                LOG.warning("%s: %s is left empty (%s)", logical_id, name, error)
                variables[name] = ""
        # SAM's env-vars file: "Parameters" for every function, the function's own entry wins;
        # like SAM, it only overrides variables that the template declares.
        overrides = {
            **(self.env_vars.get("Parameters") or {}),
            **(self.env_vars.get(logical_id) or self.env_vars.get(spec.name) or {}),
        }
        for name in variables.keys() & overrides.keys():
            variables[name] = _env_string(overrides[name])
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "AWS_SAM_LOCAL": "true",
            "AWS_REGION": self.stack.region,
            "AWS_DEFAULT_REGION": self.stack.region,
            "AWS_ACCOUNT_ID": ACCOUNT_ID,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout_s),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]local",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            # Keep the developer's real AWS configuration and the metadata service out of reach.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            **variables,
        }

    def invoke(self, logical_id: str, event: Any) -> InvokeResult:
        """Invoke a function in its warm worker (started on first use)."""
        return self._worker(logical_id).invoke(event)

    def serve_api(self, port: int = 0) -> str:
        """Serve the template's Api events on 127.0.0.1:port (0: any free port); the base URL."""
        self.start_aws()
        if self._api is None:
            self._api = ApiGateway(self.routes, self.invoke, port)
        return self._api.url

    def start_event_sources(self) -> None:
        """Start polling the queues of the template's (enabled) SQS events."""
        self.start_aws()
        if self._pollers:
            return
        sqs = self.client("sqs")
        for source in self.sqs_sources:
            queue_arn = str(self.stack.resolve(source.queue))
            self._pollers.append(SqsPoller(source, queue_arn, sqs, self.invoke, self.stack.region))

    def stop(self) -> None:
        for poller in self._pollers:
            poller.stop()
        self._pollers = []
        if self._api is not None:
            self._api.stop()
            self._api = None
        for worker in self._workers.values():
            worker.stop()
        self._workers = {}
        if self._moto is not None:
            self._moto.terminate()
            self._moto.wait()
            self._moto = None
            self._endpoint_url = None
            self._aws_started = False

    def __enter__(self) -> LocalRuntime:
        self.start_aws()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _spec(self, logical_id: str) -> FunctionSpec:
        if logical_id not in self.functions:
            known = ", ".join(sorted(self.functions))
            raise TemplateError(f"no function {logical_id} in the template (functions: {known})")
        return self.functions[logical_id]

    def _worker(self, logical_id: str) -> FunctionWorker:
        with self._workers_lock:
            if logical_id not in self._workers:
                spec = self._spec(logical_id)
                self.start_aws()
                self._workers[logical_id] = FunctionWorker(spec, self.environment(logical_id), self._logs)
            return self._workers[logical_id]


# --------------------------------------------------------------------------- command line


def _parameter_overrides(tokens: list[str]) -> dict[str, str]:
    """SAM's --parameter-overrides: `Key=Value` or `ParameterKey=Key,ParameterValue=Value`."""
    values = {}
    for token in tokens:
        match = re.fullmatch(r"ParameterKey=([^,]+),ParameterValue=(.*)", token)
        key, value = match.groups() if match else token.split("=", 1)
        values[key] = value
    return values


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-t", "--template", default="template.yaml")
    common.add_argument("-n", "--env-vars", help="SAM env-vars JSON file")
    common.add_argument("--secrets", help="JSON {SecretLogicalId: value} (default tools/secrets.*)")
    common.add_argument("--parameter-overrides", nargs="*", default=[], metavar="KEY=VALUE")
    common.add_argument("--stack-name", default=DEFAULT_STACK_NAME)
    common.add_argument("--region", default=DEFAULT_REGION)
    common.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        help="use this AWS endpoint instead of starting a moto server",
    )
    parser = argparse.ArgumentParser(
        prog="python -m tools.sam_local",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    invoke = commands.add_parser("invoke", parents=[common], help="invoke one function once")
    invoke.add_argument("function", metavar="FunctionLogicalId")
    invoke.add_argument("-e", "--event", help="event JSON file, or - for stdin (default {})")
    start = commands.add_parser("start", parents=[common], help="serve the API and SQS mappings")
    start.add_argument("-p", "--port", type=int, default=3000)
    start.add_argument("--aws-port", type=int, default=0, help="port of the moto server")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    try:
        return _run(args)
    except TemplateError as error:
        LOG.error("%s", error)
        return 2


def _run(args: argparse.Namespace) -> int:
    runtime = LocalRuntime(
        args.template,
        env_vars=args.env_vars,
        secrets=args.secrets,
        endpoint_url=args.endpoint_url,
        parameter_overrides=_parameter_overrides(args.parameter_overrides),
        stack_name=args.stack_name,
        region=args.region,
        aws_port=getattr(args, "aws_port", 0),
    )
    if args.command == "invoke":
        event_text = "{}"
        if args.event == "-":
            event_text = sys.stdin.read()
        elif args.event:
            event_text = Path(args.event).read_text(encoding="utf-8")
        with runtime:
            result = runtime.invoke(args.function, json.loads(event_text))
        print(json.dumps(result.payload))
        return 0 if result.ok else 1
    with runtime:
        url = runtime.serve_api(args.port)
        for route in runtime.routes:
            LOG.info(
                "Mounted %s at %s%s [%s]%s",
                route.function_id,
                url,
                route.path,
                route.method,
                " (AWS_IAM)" if route.iam_auth else "",
            )
        runtime.start_event_sources()
        for source in runtime.sqs_sources:
            LOG.info("Polling %s for %s", source.queue, source.function_id)
        LOG.info("AWS endpoint: %s  (Ctrl-C to stop)", runtime.endpoint_url)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == [_WORKER_ARG]:
        _worker_main(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(main())
