"""The bootstrap of each function's process (`_worker_main`), run with `python -I` as a script.

FunctionWorker (tools/sam_local/functions.py) starts this file directly, so the process imports
neither the rest of the runner nor anything outside the standard library: the function's own code
and its layers must decide which boto3 (or anything else) gets imported, as in Lambda.
"""

from __future__ import annotations

import decimal
import importlib
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any


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


if __name__ == "__main__":
    _worker_main(sys.argv[1], sys.argv[2:])
