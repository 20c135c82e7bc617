"""The local stack with AWS and the functions in this process: for tests that take each step.

LocalRuntime runs each function in a process of its own, against a moto server, and polls the
queues in threads. A test wants the opposite: the handlers called in its own process (to patch
them, read their logs, see their exceptions), moto in-process (`moto.mock_aws`), and each SQS
delivery taken when the test says. InProcessStack gives it the local stack's own parts for that:
the template's resources provisioned as LocalRuntime provisions them (local_aws.provision), each
function's environment as LocalRuntime computes it (functions.function_variables), and each SQS
event source mapping's receive, invoke and delete steps (sqs.SqsDelivery).

    with moto.mock_aws():
        stack = InProcessStack("template.yaml", env_vars={"Parameters": {"STAGE": "test"}})
        stack.provision({"ApiKeySecret": {"key": "..."}})    # {secret logical id: value}
        shared, own = stack.environments()
        os.environ.update(shared)            # one process: what every function agrees on
        with cold_start(own["WorkFunction"]):
            handler = import_the_handler()   # its cold start reads its own settings
        invoke = lambda _id, event: InvokeResult("request-1", handler(event, context))
        delivery = stack.sqs_delivery("WorkFunction", invoke)
        delivery.deliver(delivery.receive())
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from tools.sam_local.functions import FunctionSpec, InvokeResult, function_specs, function_variables
from tools.sam_local.local_aws import aws_client, provision
from tools.sam_local.runtime import DEFAULT_REGION, DEFAULT_STACK_NAME
from tools.sam_local.sqs import SqsDelivery, SqsEventSource, sqs_event_sources
from tools.sam_local.template import Stack, TemplateError


class InProcessStack:
    """A SAM template's resources in this process's AWS (an in-process moto), and its
    functions' environments and SQS event source mappings, for handlers called in-process."""

    def __init__(
        self,
        template_path: str | os.PathLike[str],
        env_vars: Mapping[str, Any] | None = None,
        *,
        parameter_overrides: Mapping[str, str] | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
    ) -> None:
        """env_vars: SAM's --env-vars content; template parameters come from
        parameter_overrides, then its "Parameters", as in LocalRuntime."""
        self.env_vars = dict(env_vars or {})
        given = {**(self.env_vars.get("Parameters") or {}), **(parameter_overrides or {})}
        self.stack = Stack(template_path, given, stack_name, region)
        self.functions: dict[str, FunctionSpec] = function_specs(self.stack)
        self.sqs_sources: list[SqsEventSource] = sqs_event_sources(self.functions)

    def provision(
        self, secret_values: Mapping[str, Any] | None = None, kinds: Collection[str] | None = None
    ) -> None:
        """Create the template's queues, tables, secrets and keys (or only those of `kinds`, with
        what they refer to) in the in-process AWS, as LocalRuntime does on its moto server."""
        provision(self.stack, None, secret_values or {}, kinds)

    def client(self, service: str) -> Any:
        return aws_client(service, None, self.stack.region)

    def functions_by_folder(self) -> dict[str, str]:
        """{the name of the folder its CodeUri names: logical id} of every function."""
        found = {}
        for logical_id in self.functions:
            code_uri = (self.stack.resources[logical_id].get("Properties") or {}).get("CodeUri")
            if isinstance(code_uri, str):
                found[Path(code_uri).name] = logical_id
        return found

    def function_id(self, folder: str) -> str:
        """The logical id of the function whose CodeUri is a folder named `folder`."""
        found = self.functions_by_folder()
        if folder not in found:
            raise TemplateError(f"no function has its code in a folder named {folder}")
        return found[folder]

    def physical(self, kind: str) -> dict[str, dict[str, Any]]:
        """{logical id: attributes ("Ref", "Arn", ...)} of the provisioned resources of a type."""
        return {
            logical_id: attributes
            for logical_id, attributes in self.stack.physical.items()
            if self.stack.resources[logical_id].get("Type") == kind
        }

    def environment(self, logical_id: str) -> dict[str, str]:
        """The function's variables (Environment.Variables), as LocalRuntime gives them."""
        return function_variables(self.stack, self.functions[logical_id], self.env_vars)

    def environments(self) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
        """(shared, own): in one process every function reads the same os.environ. `shared` holds
        the variables on whose value every function that declares them agrees: set them once.
        `own[logical id]` holds the function's variables that another function gives another
        value: set them around its cold start only (cold_start), when it reads its settings."""
        environments = {logical_id: self.environment(logical_id) for logical_id in self.functions}
        values: dict[str, set[str]] = {}
        for variables in environments.values():
            for name, value in variables.items():
                values.setdefault(name, set()).add(value)
        shared = {name: next(iter(found)) for name, found in values.items() if len(found) == 1}
        own = {
            logical_id: {name: value for name, value in variables.items() if name not in shared}
            for logical_id, variables in environments.items()
        }
        return shared, own

    def sqs_delivery(self, logical_id: str, invoke: Callable[[str, Any], InvokeResult]) -> SqsDelivery:
        """The function's SQS event source mapping (its first), delivering to `invoke`."""
        source = next((s for s in self.sqs_sources if s.function_id == logical_id), None)
        if source is None:
            raise TemplateError(f"{logical_id} has no SQS event in the template")
        queue_arn = str(self.stack.resolve(source.queue))
        queue_url = self.queue_url(queue_arn)
        return SqsDelivery(source, queue_arn, self.client("sqs"), invoke, self.stack.region, queue_url)

    def queue_url(self, queue_arn: str) -> str:
        """The URL of a provisioned queue, by its ARN."""
        for attributes in self.stack.physical.values():
            if attributes.get("Arn") == queue_arn and "QueueUrl" in attributes:
                return attributes["QueueUrl"]
        raise TemplateError(f"no queue {queue_arn} was provisioned")

    def dead_letter_arn(self, queue_arn: str) -> str | None:
        """The ARN of the queue's dead-letter queue, if its RedrivePolicy names one."""
        for logical_id, attributes in self.stack.physical.items():
            if attributes.get("Arn") == queue_arn:
                properties = self.stack.resources[logical_id].get("Properties") or {}
                policy = self.stack.resolve(properties.get("RedrivePolicy") or {})
                return policy.get("deadLetterTargetArn")
        return None


@contextlib.contextmanager
def cold_start(variables: Mapping[str, str]) -> Iterator[None]:
    """os.environ with these variables while the block runs (a function's cold start), then
    as it was."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
