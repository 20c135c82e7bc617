"""The command line: `python -m tools.sam_local invoke ...` and `python -m tools.sam_local start ...`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from tools import sam_local
from tools.local_secrets import local_secrets
from tools.ports import PortInUse
from tools.sam_local.events import TRIGGERS
from tools.sam_local.runtime import DEFAULT_REGION, DEFAULT_STACK_NAME, LocalRuntime
from tools.sam_local.template import LOG, TemplateError


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
    common.add_argument(
        "--secrets",
        help="JSON {SecretLogicalId: value} (default: tools/secrets.local.json, else the vendor sandbox's)",
    )
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
        description=sam_local.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    invoke = commands.add_parser("invoke", parents=[common], help="invoke one function once")
    invoke.add_argument("function", metavar="FunctionLogicalId")
    invoke.add_argument("-e", "--event", help="event JSON file, or - for stdin (default {})")
    generate = commands.add_parser(
        "generate-event", parents=[common], help="print a function's SQS or API event, as this stack sends it"
    )
    generate.add_argument("function", metavar="FunctionLogicalId")
    generate.add_argument("trigger", choices=TRIGGERS)
    generate.add_argument(
        "-b", "--body", help="JSON file of the body (for sqs, a list is one record per item); default {}"
    )
    start = commands.add_parser("start", parents=[common], help="serve the API and SQS mappings")
    start.add_argument("-p", "--port", type=int, default=3000)
    start.add_argument("--aws-port", type=int, default=0, help="port of the moto server")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    try:
        return _run(args)
    except (TemplateError, OperatorError) as error:
        LOG.error("%s", error)
        return 2
    except PortInUse as error:
        LOG.error("%s: stop what holds it, or choose another with --port", error)
        return 2
    except KeyboardInterrupt:
        LOG.info("stopped")
        return 130


class OperatorError(Exception):
    """A mistake in the command line or the files it names: one line, no traceback."""


def _json_file(path: str, what: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as error:
        raise OperatorError(f"cannot read the {what} {path}: {error.strerror}") from None
    except ValueError as error:
        raise OperatorError(f"the {what} {path} is not JSON: {error}") from None


def _run(args: argparse.Namespace) -> int:
    if not Path(args.template).is_file():
        raise OperatorError(f"no template at {args.template} (run from the repository root, or give -t)")
    runtime = LocalRuntime(
        args.template,
        env_vars=_json_file(args.env_vars, "env-vars file") if args.env_vars else None,
        secrets=_json_file(args.secrets, "secrets file") if args.secrets else local_secrets,
        endpoint_url=args.endpoint_url,
        parameter_overrides=_parameter_overrides(args.parameter_overrides),
        stack_name=args.stack_name,
        region=args.region,
        aws_port=getattr(args, "aws_port", 0),
    )
    if args.command == "generate-event":
        body = _json_file(args.body, "body file") if args.body else {}
        print(json.dumps(runtime.sample_event(args.function, args.trigger, body), indent=2))
        return 0
    if args.command == "invoke":
        event = _json_file(args.event, "event file") if args.event else {}
        with runtime:
            result = runtime.invoke(args.function, event)
        print(json.dumps(result.payload))
        return 0 if result.ok else 1
    interrupted = False
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
        terminated = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: terminated.set())
        try:
            terminated.wait()
        except KeyboardInterrupt:  # Ctrl-C
            interrupted = True
        LOG.info("stopping: the API, the queue pollers, the functions and the AWS endpoint")
    LOG.info("stopped")
    return 130 if interrupted else 0
