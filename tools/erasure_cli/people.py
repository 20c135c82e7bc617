"""The people to erase: one from the command line's flags, or one a row of a JSONL or CSV file.

Each becomes a request as POST /v1/deletions takes it (erasure/request.py), given a request_id when
it has none. Only what keeps a row from being a request at all is refused here, naming its line and
field, never its values; the API judges the rest, and its answers name the fields.
"""

from __future__ import annotations

import argparse
import csv
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from erasure.request import Action, IdentifierType
from tools.erasure_cli.client import OperatorError

# The identifier types given as a plain value (user_alias and custom have a name besides).
PLAIN_TYPES = tuple(t for t in IdentifierType if t not in (IdentifierType.USER_ALIAS, IdentifierType.CUSTOM))
ALIAS_COLUMNS = ("user_alias.alias_name", "user_alias.alias_label")
CUSTOM_PREFIX = "custom."
CSV_COLUMNS = ("request_id", "action", "vendors", *PLAIN_TYPES, *ALIAS_COLUMNS, f"{CUSTOM_PREFIX}<name>")


@dataclass(frozen=True)
class Person:
    """One request to submit, and where it came from (a file's line; None for the flags)."""

    request: dict[str, Any]
    line: int | None = None

    @property
    def request_id(self) -> str:
        return self.request["request_id"]


def add_person_arguments(parser: argparse.ArgumentParser) -> None:
    person = parser.add_argument_group("one person (or --file)")
    for kind in PLAIN_TYPES:
        flags = [f"--{kind.replace('_', '-')}"] + (["--phone"] if kind is IdentifierType.PHONE_NUMBER else [])
        person.add_argument(*flags, dest=kind, metavar="VALUE", help=f"the person's {kind}")
    person.add_argument("--user-alias", metavar="LABEL=NAME", help="a user alias (identity.user_alias)")
    person.add_argument("--custom", action="append", default=[], metavar="NAME=VALUE", help="repeatable")
    person.add_argument("--action", choices=[a.value for a in Action], help="default: delete_profile")
    person.add_argument("--request-id", help="default: a new UUID")
    person.add_argument("--vendor", action="append", dest="vendors", help="repeatable; default: every vendor")
    how = parser.add_argument_group("how (for one person or every row of --file)")
    how.add_argument(
        "--dry-run",
        action="store_true",
        help="resolution only: each vendor says what it would erase (a check of its credentials too);"
        " nothing is deleted",
    )
    how.add_argument(
        "--enrich",
        action="store_true",
        help="carry what one vendor's lookup ties to the person (external id, email, phone) to every vendor",
    )


def with_flags(people: list[Person], args: argparse.Namespace) -> list[Person]:
    """--dry-run and --enrich set on every request that does not say otherwise itself."""
    flags = {name: True for name in ("dry_run", "enrich") if getattr(args, name, False)}
    return [Person({**flags, **p.request}, p.line) for p in people] if flags else people


def person_from_flags(args: argparse.Namespace) -> Person | None:
    """The person the flags name, or None when they name no identifier."""
    identity: dict[str, Any] = {kind: getattr(args, kind) for kind in PLAIN_TYPES if getattr(args, kind)}
    if args.user_alias:
        label, name = _pair("--user-alias", args.user_alias, "LABEL=NAME")
        identity["user_alias"] = {"alias_name": name, "alias_label": label}
    for custom in args.custom:
        name, value = _pair("--custom", custom, "NAME=VALUE")
        identity.setdefault("custom", {})[name] = value
    if not identity:
        if args.request_id or args.action or args.vendors:
            raise OperatorError("--request-id, --action and --vendor go with one person's identifiers")
        return None
    request = {"identity": identity, "action": args.action, "vendors": args.vendors}
    return Person(_with_request_id({"request_id": args.request_id, **request}))


def read_people(path: Path) -> list[Person]:
    """Every person of a .jsonl (.ndjson) or .csv file."""
    readers = {".jsonl": _jsonl_people, ".ndjson": _jsonl_people, ".csv": _csv_people}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise OperatorError(f"{path}: --file takes a .jsonl or a .csv file")
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark, read as no part of a name.
        with path.open(encoding="utf-8-sig", newline="") as rows:
            people = list(reader(path, rows))
    except OSError as error:
        raise OperatorError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise OperatorError(f"{path} is not UTF-8 text") from None
    except csv.Error as error:  # a NUL byte, an unterminated quote, ...
        raise OperatorError(f"{path} is not CSV: {error}") from None
    if not people:
        raise OperatorError(f"{path} holds no one")
    return people


def _jsonl_people(path: Path, rows: Any) -> Iterator[Person]:
    for line, text in enumerate(rows, 1):
        if not text.strip():
            continue
        try:
            request = json.loads(text)
        except ValueError as error:
            raise OperatorError(f"{path} line {line}: not JSON ({error})") from None
        if not isinstance(request, dict):
            raise OperatorError(f"{path} line {line}: must be a JSON object, a request with an identity")
        yield Person(_with_request_id(request), line)


def _csv_people(path: Path, rows: Any) -> Iterator[Person]:
    first = rows.readline()
    rows.seek(0)
    # Excel writes ";" where "," is the decimal mark (much of Europe), and tabs as "Text": the
    # header, whose names hold none of these, says which.
    delimiter = max(",;\t", key=first.count) if first else ","
    reader = csv.reader(rows, delimiter=delimiter)
    header = [name.strip() for name in next(reader, [])]
    for column, name in enumerate(header, 1):
        if name not in CSV_COLUMNS and not (
            name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX)
        ):
            # Named by position: a file without a header would have a person's value here.
            raise OperatorError(
                f"{path} line 1: column {column} is not a known field (known: {', '.join(CSV_COLUMNS)})"
            )
    for cells in reader:
        line = reader.line_num
        if len(cells) > len(header):
            raise OperatorError(f"{path} line {line}: {len(cells)} cells for {len(header)} columns")
        row = {name: cell.strip() for name, cell in zip(header, cells, strict=False) if cell.strip()}
        if row:
            yield Person(_with_request_id(_csv_request(path, line, row)), line)


def _csv_request(path: Path, line: int, row: dict[str, str]) -> dict[str, Any]:
    identity: dict[str, Any] = {kind: row[kind] for kind in PLAIN_TYPES if kind in row}
    alias = [row.get(column) for column in ALIAS_COLUMNS]
    if any(alias):
        missing = next(
            (column for column, value in zip(ALIAS_COLUMNS, alias, strict=True) if not value), None
        )
        if missing:
            raise OperatorError(f"{path} line {line}: {missing} is empty, and the alias needs both fields")
        identity["user_alias"] = {"alias_name": alias[0], "alias_label": alias[1]}
    custom = {
        name[len(CUSTOM_PREFIX) :]: value for name, value in row.items() if name.startswith(CUSTOM_PREFIX)
    }
    if custom:
        identity["custom"] = custom
    vendors = [vendor.strip() for vendor in row.get("vendors", "").split(";") if vendor.strip()]
    return {
        "request_id": row.get("request_id"),
        "action": row.get("action"),
        "identity": identity,
        "vendors": vendors or None,
    }


def _with_request_id(request: dict[str, Any]) -> dict[str, Any]:
    """The request without its unset fields, and with a request_id (a new UUID, as the API would
    give it) so that every answer, a bulk's 503 included, can be told which row it is about."""
    request = {name: value for name, value in request.items() if value is not None}
    request.setdefault("request_id", str(uuid.uuid4()))
    return request


def _pair(flag: str, text: str, form: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name or not value:
        raise OperatorError(f"{flag} takes {form}")
    return name, value
