"""The template's functions, each run in a warm execution environment of its own (a process)."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tools.sam_local import worker
from tools.sam_local.template import LOG, Stack, TemplateError, UnresolvableReference, merge_globals

DEFAULT_TIMEOUT_S = 3  # SAM's defaults for Timeout and MemorySize
DEFAULT_MEMORY_MB = 128
INIT_TIMEOUT_S = 10  # Lambda's limit for the init phase of an on-demand function


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


def function_variables(stack: Stack, spec: FunctionSpec, env_vars: Mapping[str, Any]) -> dict[str, str]:
    """The function's Environment.Variables with the template's intrinsics resolved (one that
    names something with no local value is left empty), then SAM's env-vars file applied:
    "Parameters" for every function, the function's own entry wins; like SAM, it only overrides
    variables that the template declares."""
    variables = {}
    for name, value in spec.variables.items():
        try:
            variables[name] = env_string(stack.resolve(value))
        except UnresolvableReference as error:
            LOG.warning("%s: %s is left empty (%s)", spec.logical_id, name, error)
            variables[name] = ""
    overrides = {
        **(env_vars.get("Parameters") or {}),
        **(env_vars.get(spec.logical_id) or env_vars.get(spec.name) or {}),
    }
    for name in variables.keys() & overrides.keys():
        variables[name] = env_string(overrides[name])
    return variables


def env_string(value: Any) -> str:
    # As `sam local`: booleans as true/false, unresolved (dict/list) and None as "".
    if isinstance(value, bool):
        return str(value).lower()
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


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
            peak = self.peak_memory_mb()
            self._log(
                f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
                f"Memory Size: {self.spec.memory_mb} MB"
                + (f"\tMax Memory Used: {peak} MB" if peak is not None else "")
            )
            return result

    def peak_memory_mb(self) -> int | None:
        """The process's peak resident memory (Linux's VmHWM), as Lambda's "Max Memory Used"
        reports it for an instance; None when no process runs or the system does not say."""
        process = self._process
        if process is None:
            return None
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):  # "VmHWM:    65012 kB"
                return -(-int(line.split()[1]) // 1024)
        return None

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
        command = [sys.executable, "-I", "-B", str(Path(worker.__file__).resolve())]
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
