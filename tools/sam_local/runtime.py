"""LocalRuntime: the template's functions, API routes and SQS mappings against local AWS."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from tools.sam_local.api_gateway import ApiGateway, api_routes
from tools.sam_local.events import event_files, sample_event
from tools.sam_local.functions import (
    FunctionSpec,
    FunctionWorker,
    InvokeResult,
    function_specs,
    function_variables,
)
from tools.sam_local.local_aws import FAKE_CREDENTIALS, aws_client, provision, start_moto_server
from tools.sam_local.sqs import SqsPoller, sqs_event_sources
from tools.sam_local.template import ACCOUNT_ID, LOG, Stack, TemplateError

DEFAULT_STACK_NAME = "erasure-relay"
DEFAULT_REGION = "us-east-1"


def _read_json_option(value: Mapping[str, Any] | str | os.PathLike[str] | None) -> dict:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    return json.loads(Path(value).read_text(encoding="utf-8"))


class LocalRuntime:
    """A SAM template's functions, API routes and SQS mappings, running against local AWS."""

    def __init__(
        self,
        template_path: str | os.PathLike[str],
        env_vars: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        secrets: Mapping[str, Any] | str | os.PathLike[str] | Callable[[Stack], Mapping] | None = None,
        endpoint_url: str | None = None,
        *,
        parameter_overrides: Mapping[str, str] | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
        aws_port: int = 0,
        logs: TextIO | None = None,
    ) -> None:
        """env_vars: SAM's --env-vars content or file; secrets: {SecretLogicalId: value}, a file
        of it, or a function of the Stack giving it (a secret not given gets the template's
        value); endpoint_url: an already running AWS endpoint to use instead of starting a moto
        server on aws_port."""
        self.env_vars = _read_json_option(env_vars)
        # Template parameters come from --parameter-overrides, then the env-vars Parameters.
        given = {**(self.env_vars.get("Parameters") or {}), **(parameter_overrides or {})}
        self.stack = Stack(template_path, given, stack_name, region)
        self.secret_values = _read_json_option(secrets(self.stack) if callable(secrets) else secrets)
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
        return aws_client(service, self.start_aws(), self.stack.region)

    def environment(self, logical_id: str) -> dict[str, str]:
        """The function's process environment, as Lambda (and `sam local`) would set it."""
        spec = self._spec(logical_id)
        variables = function_variables(self.stack, spec, self.env_vars)
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

    def peak_memory_mb(self) -> dict[str, int]:
        """Each running function's peak memory so far (MB), as Lambda reports "Max Memory Used"."""
        with self._workers_lock:
            workers = dict(self._workers)
        peaks = {logical_id: worker.peak_memory_mb() for logical_id, worker in workers.items()}
        return {logical_id: peak for logical_id, peak in peaks.items() if peak is not None}

    def sample_event(
        self, logical_id: str, trigger: str, body: Any, event: str | None = None
    ) -> dict[str, Any]:
        """The function's `trigger` (sqs, api, stream, schedule) event carrying `body`, as this stack
        delivers it: of its template event named `event`, else its first of that trigger."""
        return sample_event(self.stack, self._spec(logical_id), self.routes, trigger, body, event=event)

    def event_files(self, body: Any) -> dict[str, dict[str, Any]]:
        """{`<folder>-<trigger>.json`: event} for every function and each of its triggers, pinned
        (`generate-event --all`: the files of events/)."""
        return event_files(self.stack, self.functions, self.routes, body)

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
        for poller in self._pollers:  # each ends its current long poll (≤ 1 s) at the same time
            poller.stop(wait=False)
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
