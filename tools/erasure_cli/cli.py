"""The command line: `python -m tools.erasure_cli submit|status|watch ...` (usage: the package's
docstring). Every error is one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import shtab
from rich.console import Console
from rich.text import Text

from tools import erasure_cli
from tools.erasure_cli.client import (
    API_URL_VARIABLE,
    DEFAULT_API_URL,
    ApiClient,
    OperatorError,
    resolve_target,
    unexpected,
)
from tools.erasure_cli.listing import add_list_arguments, list_params, listed, print_list
from tools.erasure_cli.people import add_person_arguments, person_from_flags, read_people, with_flags
from tools.erasure_cli.receipts import fetch_receipt, is_final, print_receipt, receipt_console, watch
from tools.erasure_cli.report import collect, write_csv
from tools.erasure_cli.report_html import render
from tools.erasure_cli.submit import DEFAULT_BULK_SIZE, SubmitStopped, print_results, submit_people

EXIT_DONE, EXIT_NOT_ALL_DONE, EXIT_ERROR = 0, 1, 2


def _parser(prog: str) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-url",
        help=f"the API's URL, with its stage (default: ${API_URL_VARIABLE}, else {DEFAULT_API_URL})",
    )
    common.add_argument("--local", action="store_true", help="sign with the local stack's key pair")
    common.add_argument("--profile", help="the AWS profile to sign with (default: as the AWS CLI chooses)")
    common.add_argument("--region", help="the API's region (default: from its URL, else the profile's)")
    parser = argparse.ArgumentParser(
        prog=prog,
        description=erasure_cli.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {erasure_cli.__version__}")
    shtab.add_argument_to(
        parser, ["--print-completion"], help="print a shell completion script: bash, zsh, tcsh"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    submit = commands.add_parser("submit", parents=[common], help="submit one person, or a file of many")
    submit.add_argument("--file", type=Path, help="people.jsonl or people.csv: one person a row")
    submit.add_argument(
        "--bulk-size",
        type=int,
        default=DEFAULT_BULK_SIZE,
        help=f"requests a call (default {DEFAULT_BULK_SIZE})",
    )
    submit.add_argument("--json", action="store_true", help="print every row's answer as JSON")
    add_person_arguments(submit)

    commands_with_id = (
        ("status", "print a request's receipt"),
        ("watch", "poll a receipt until final"),
        ("cancel", "stop what no vendor has been sent yet (what a vendor took is not undone)"),
    )
    for name, help_text in commands_with_id:
        command = commands.add_parser(name, parents=[common], help=help_text)
        command.add_argument("request_id")
        command.add_argument("--json", action="store_true", help="print the receipt's JSON")
    listing = commands.add_parser("list", parents=[common], help="the requests, newest first, filtered")
    add_list_arguments(listing)
    listing.add_argument("--limit", type=int, default=50, help="requests at most (50)")
    listing.add_argument("--json", action="store_true", help="print the summaries as JSON")
    report = commands.add_parser("report", parents=[common], help="a period's report: a CSV and an HTML page")
    report.add_argument("--from", dest="start", required=True, metavar="DATE", help="created from this date")
    report.add_argument("--to", dest="end", required=True, metavar="DATE", help="created up to this date")
    report.add_argument("--out", type=Path, default=Path("."), help="the directory to write to (.)")
    watch_command = commands.choices["watch"]
    watch_command.add_argument("--interval", type=float, default=2.0, help="seconds between polls (2)")
    watch_command.add_argument("--timeout", type=float, default=600.0, help="seconds to wait at most (600)")
    return parser


def run() -> None:
    """The installed command, `erasure`."""
    sys.exit(main(prog="erasure"))


def main(argv: list[str] | None = None, prog: str = "python -m tools.erasure_cli") -> int:
    args = _parser(prog).parse_args(argv)
    output, messages = receipt_console(), Console(stderr=True)
    try:
        return _run(args, output, messages)
    except OperatorError as error:
        messages.print(Text(f"erasure_cli: {error}"), soft_wrap=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        messages.print(Text("erasure_cli: interrupted"))
        return 130


def _cancel(client: ApiClient, args: argparse.Namespace, output: Console, messages: Console) -> int:
    """Cancel, then print the receipt as it stands; 1 when the request was final already."""
    answer = client.cancel(args.request_id)
    if answer.status == 409:
        messages.print(Text(f"erasure_cli: {args.request_id} is final: nothing left to cancel"))
        return EXIT_NOT_ALL_DONE
    if answer.status != 200 or not isinstance(answer.body, dict):
        raise unexpected(answer)
    print_receipt(output, answer.body, args.json)
    return EXIT_DONE


def _report(client: ApiClient, args: argparse.Namespace, output: Console) -> int:
    """Write the period's CSV and HTML report; 1 when a request of it is not final yet."""
    period = collect(client, args.start, args.end)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"erasure-report-{args.start}-to-{args.end}"
    write_csv(period, stem.with_suffix(".csv"))
    stem.with_suffix(".html").write_text(render(period), encoding="utf-8")
    totals = period.totals
    output.print(
        Text(
            f"{totals['requests']} request(s), {totals['final']} final, {totals['within_deadline']} within"
            f" their deadline: {stem.with_suffix('.csv')} and {stem.with_suffix('.html')}"
        )
    )
    return EXIT_DONE if totals["final"] == totals["requests"] else EXIT_NOT_ALL_DONE


def _run(args: argparse.Namespace, output: Console, messages: Console) -> int:
    person = person_from_flags(args) if args.command == "submit" else None
    if args.command == "submit" and (person is None) == (args.file is None):
        raise OperatorError("give one person's identifiers (--email, --external-id, ...) or --file, not both")
    client = ApiClient(resolve_target(args.api_url, args.local, args.region, args.profile))
    if args.command == "submit":
        people = with_flags([person] if person is not None else read_people(args.file), args)
        try:
            results = submit_people(client, people, args.bulk_size, messages)
        except SubmitStopped as stopped:
            if stopped.results:  # what was answered before the error: request_ids given here included
                print_results(output, client.target.api_url, stopped.results, args.json)
            raise
        print_results(output, client.target.api_url, results, args.json)
        return EXIT_DONE if all(r.status == 202 for r in results) else EXIT_NOT_ALL_DONE
    if args.command == "status":
        print_receipt(output, fetch_receipt(client, args.request_id), args.json)
        return EXIT_DONE
    if args.command == "cancel":
        return _cancel(client, args, output, messages)
    if args.command == "list":
        summaries = list(listed(client, list_params(args), args.limit))
        if args.json:
            print(json.dumps(summaries, indent=2))
        else:
            print_list(output, summaries)
        return EXIT_DONE
    if args.command == "report":
        return _report(client, args, output)
    receipt = watch(client, messages if args.json else output, args.request_id, args.interval, args.timeout)
    print_receipt(output, receipt, args.json)
    if not is_final(receipt):
        state = f"{receipt.get('status')}, verification {receipt.get('verification')}"
        messages.print(Text(f"erasure_cli: not final after {args.timeout:g} s: {state}"))
        return EXIT_NOT_ALL_DONE
    return EXIT_DONE
