"""The command line: `python -m tools.sam_local invoke ...`, `... generate-event ...` and
`python -m tools.sam_local start ...`."""

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
from tools.sam_local.events import EVENT_FILE, TRIGGERS
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
        "generate-event",
        parents=[common],
        help="print a function's SQS, API, stream or schedule event, as this stack sends it; "
        "--all writes every function's",
    )
    generate.add_argument("function", metavar="FunctionLogicalId", nargs="?")
    generate.add_argument("trigger", choices=TRIGGERS, nargs="?")
    generate.add_argument(
        "-b",
        "--body",
        help="JSON file of the body (for sqs and stream, a list is one record per item; a stream "
        "record's keys are its fields of the table's key names); default {}",
    )
    generate.add_argument(
        "--event",
        metavar="EventName",
        help="the template's name of the function's event (default: its first of that trigger)",
    )
    generate.add_argument(
        "--all",
        action="store_true",
        help="write each function's event for each of its triggers to --output-dir as "
        "<folder>-<trigger>.json (pinned: ids and time fixed), removing such files no function has",
    )
    generate.add_argument("-o", "--output-dir", default="events", help="with --all (default events)")
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


def event_file_text(event: Any) -> str:
    """An event file's text, as `generate-event --all` writes it."""
    return json.dumps(event, indent=2) + "\n"


def _write_event_files(runtime: LocalRuntime, body: Any, folder: Path) -> int:
    """Every function's event files in `folder`; a file of that naming that no function and trigger
    of the template has any more is removed. The paths written, one a line."""
    files = runtime.event_files(body)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in sorted(folder.glob("*.json")):
            if EVENT_FILE.fullmatch(stale.name) and stale.name not in files:
                stale.unlink()
                LOG.info("removed %s: no function has that trigger", stale)
        for name, event in files.items():
            (folder / name).write_text(event_file_text(event), encoding="utf-8")
            print(folder / name)
    except OSError as error:
        raise OperatorError(f"cannot write the event files in {folder}: {error.strerror}") from None
    return 0


def _run(args: argparse.Namespace) -> int:
    if not Path(args.template).is_file():
        raise OperatorError(f"no template at {args.template} (run from the repository root, or give -t)")
    if args.command == "generate-event" and args.all and (args.function or args.trigger or args.event):
        raise OperatorError("generate-event --all takes no FunctionLogicalId, trigger or --event")
    if args.command == "generate-event" and not args.all and not (args.function and args.trigger):
        raise OperatorError(
            f"generate-event takes a FunctionLogicalId and a trigger ({', '.join(TRIGGERS)}), or --all"
        )
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
        if args.all:
            return _write_event_files(runtime, body, Path(args.output_dir))
        print(json.dumps(runtime.sample_event(args.function, args.trigger, body, args.event), indent=2))
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
