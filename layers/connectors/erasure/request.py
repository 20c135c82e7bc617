"""The deletion request: one person, one action, one or more identifiers.

Every entry point (vendor queues, vendor API routes, intake) parses its input here, so a bad
request is refused the same way everywhere, with every bad field named.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from erasure.errors import MAX_LISTED_ERRORS, ErrorsNotListed, FieldError, InvalidRequest, field_name
from erasure.identifiers import Identifier, IdentifierType, read_identifiers
from erasure.times import (
    epoch_timestamp,
    instant,
    one_month_after,
    utc_timestamp,
    whole_milliseconds,
    years_after,
)

# Names other modules read from here, where a request is read.
__all__ = [
    "MAX_BULK_REQUESTS",
    "Action",
    "DeletionRequest",
    "FieldError",
    "Identifier",
    "IdentifierType",
    "InvalidRequest",
    "Regulation",
    "epoch_timestamp",
    "identity_of",
    "is_request_id",
    "json_document",
    "parse",
    "request_id_or_none",
    "unknown_fields",
    "utc_timestamp",
]

MAX_REQUEST_ID_LENGTH = 128
# Times a request can have: from EARLIEST_TIME on, made at most a year ahead of now (clocks drift,
# not by years), due at most MAX_DUE_YEARS after it (no law sets a longer period). Both rules stay
# true of an accepted request when a vendor function parses its message again later.
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_REQUESTED_YEARS_AHEAD = 1
MAX_DUE_YEARS = 3
MAX_LISTED_POSITIONS = 10  # of the vendors a `vendors` error names by position
MAX_BULK_REQUESTS = 1000  # requests one POST /v1/deletions may carry
MAX_LEARNED = 64  # identifiers one step carries: far more than any one person's profiles name
_VENDOR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]+$")


class Action(StrEnum):
    REMOVE_IDENTIFIER = "remove_identifier"
    DELETE_PROFILE = "delete_profile"


class Regulation(StrEnum):
    """The law a request is made under; it sets the request's deadline."""

    GDPR = "gdpr"  # one month (Art. 12(3))
    CCPA = "ccpa"  # 45 days (Cal. Civ. Code 1798.130)


@dataclass(frozen=True)
class DeletionRequest:
    request_id: str
    action: Action
    identifiers: tuple[Identifier, ...]
    requested_at: str  # ISO-8601 UTC with milliseconds; stays the same on every retry
    vendors: tuple[str, ...] | None = field(default=None)
    regulation: Regulation | None = None  # as given; without it nor due_by, GDPR's month applies
    due_by: str | None = None  # as given (ISO-8601 UTC); it overrides the regulation's deadline
    enrich: bool = False  # identifiers a vendor's lookup ties to the person go to every vendor
    dry_run: bool = False  # resolution only: nothing is deleted
    # A step of an enriched request: identifiers `learned_from` a vendor's lookup, to be erased
    # here too (`identifiers` stay the ones the caller gave).
    learned: tuple[Identifier, ...] = ()
    learned_from: str | None = None

    @property
    def acted_on(self) -> tuple[Identifier, ...]:
        """What this message asks a vendor to act on: a step's learned identifiers, else the given."""
        return self.learned if self.learned_from else self.identifiers

    @property
    def deadline(self) -> str:
        """When the erasure is due by law: `due_by`, else the regulation's period (GDPR by
        default) from `requested_at` (which parse() keeps far from the calendar's end)."""
        if self.due_by:
            return self.due_by
        requested = datetime.fromisoformat(self.requested_at.replace("Z", "+00:00"))
        if self.regulation is Regulation.CCPA:
            return utc_timestamp(requested + timedelta(days=45))
        return utc_timestamp(one_month_after(requested))

    def to_message(self) -> dict[str, Any]:
        """The JSON form that travels between functions; parse() reads it back unchanged."""
        message: dict[str, Any] = {
            "request_id": self.request_id,
            "action": str(self.action),
            "identity": identity_of(self.identifiers),
            "requested_at": self.requested_at,
        }
        if self.vendors is not None:
            message["vendors"] = list(self.vendors)
        if self.regulation is not None:
            message["regulation"] = str(self.regulation)
        if self.due_by is not None:
            message["due_by"] = self.due_by
        for flag in ("enrich", "dry_run"):
            if getattr(self, flag):
                message[flag] = True
        if self.learned_from:
            message["learned_from"] = self.learned_from
            message["learned"] = [identity_of((i,)) for i in self.learned]
        return message


def identity_of(identifiers: tuple[Identifier, ...]) -> dict[str, Any]:
    """The `identity` object that read_identifiers reads back into these identifiers."""
    identity: dict[str, Any] = {}
    for identifier in identifiers:
        if identifier.type is IdentifierType.CUSTOM:
            identity.setdefault("custom", {})[identifier.name] = identifier.value
        elif identifier.type is IdentifierType.USER_ALIAS:
            identity["user_alias"] = {"alias_name": identifier.value, "alias_label": identifier.name}
        else:
            identity[str(identifier.type)] = identifier.value
    return identity


def request_id_or_none(body: Any) -> str | None:
    """The body's request_id when it is a valid one, whatever else is wrong with the body."""
    errors: list[FieldError] = []
    if not isinstance(body, dict) or "request_id" not in body:
        return None
    request_id = _request_id(body, None, errors)
    return None if errors else request_id


def json_document(text: Any) -> Any:
    """The decoded JSON of a body or message; InvalidRequest naming the body when it is not JSON
    (or nested deeper than the decoder can follow, which would otherwise escape as an error)."""
    if not isinstance(text, str | bytes):
        raise InvalidRequest([FieldError("body", "must be a JSON object")])
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidRequest([FieldError("body", "is nested too deeply")]) from None
    except ValueError:
        raise InvalidRequest([FieldError("body", "is not valid JSON")]) from None


def parse(
    body: Any,
    *,
    default_request_id: str | None = None,
    default_requested_at: str | None = None,
    known_vendors: frozenset[str] | None = None,
    default_enrich: bool = False,
    steps: bool = False,
) -> DeletionRequest:
    """Validate a decoded JSON body into a DeletionRequest, or raise InvalidRequest.

    `known_vendors` enables the optional `vendors` field (intake only); elsewhere it is unknown.
    `steps` enables `learned` and `learned_from` (a vendor queue's message from another vendor).
    """
    if not isinstance(body, dict):
        raise InvalidRequest([FieldError("body", "must be a JSON object")])
    errors: list[FieldError] = []
    allowed = {
        "request_id",
        "action",
        "identity",
        "requested_at",
        "regulation",
        "due_by",
        "enrich",
        "dry_run",
    }
    if known_vendors is not None:
        allowed.add("vendors")
    if steps:
        allowed |= {"learned", "learned_from"}
    errors += unknown_fields(body, allowed)

    request_id = _request_id(body, default_request_id, errors)
    action = _action(body, errors)
    identifiers = read_identifiers(body.get("identity"), errors)
    requested = _requested_at(body, default_requested_at, errors)
    vendors = _vendors(body, known_vendors, errors) if known_vendors is not None else None
    regulation = _regulation(body, errors)
    due_by = _due_by(body, requested, errors)
    enrich = _flag(body, "enrich", default_enrich, errors)
    dry_run = _flag(body, "dry_run", False, errors)
    learned, learned_from = _learned(body, errors) if steps else ((), None)
    if errors or requested is None:
        raise InvalidRequest(errors)
    return DeletionRequest(
        request_id,
        action,
        identifiers,
        utc_timestamp(requested),
        vendors,
        regulation,
        due_by,
        enrich,
        dry_run,
        learned,
        learned_from,
    )


def _flag(body: dict, name: str, default: bool, errors: list[FieldError]) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        errors.append(FieldError(name, "must be true or false"))
        return False
    return value


def _learned(body: dict, errors: list[FieldError]) -> tuple[tuple[Identifier, ...], str | None]:
    """A step's learned identifiers, each a one-key identity object, and the vendor they came from."""
    if "learned" not in body and "learned_from" not in body:
        return (), None
    source, items = body.get("learned_from"), body.get("learned")
    if not isinstance(source, str) or not _VENDOR_NAME.fullmatch(source):
        errors.append(FieldError("learned_from", "must be a vendor name"))
    if not isinstance(items, list) or not items or len(items) > MAX_LEARNED:
        errors.append(FieldError("learned", f"must be a list of 1 to {MAX_LEARNED} identity objects"))
        return (), None
    learned: list[Identifier] = []
    for n, item in enumerate(items):
        if isinstance(item, dict) and len(item) > 1:
            errors.append(FieldError(f"learned[{n}]", "must hold one identifier type"))
            continue
        found: list[FieldError] = []
        learned += read_identifiers(item, found)
        errors += [FieldError(f"learned[{n}]{e.field.removeprefix('identity')}", e.reason) for e in found]
    return tuple(sorted(set(learned))), source if isinstance(source, str) else None


def unknown_fields(body: dict, allowed: set[str]) -> list[FieldError]:
    """An error per key of `body` that is not allowed, named without echoing personal data: the
    first MAX_LISTED_ERRORS of them, and how many more there are (InvalidRequest lists no more)."""
    errors: list[FieldError] = []
    more = 0
    for n, key in enumerate(body):
        if key in allowed:
            continue
        if len(errors) < MAX_LISTED_ERRORS:
            errors.append(FieldError(field_name(key, n), "unknown field"))
        else:
            more += 1
    return [*errors, ErrorsNotListed.of(more)] if more else errors


def is_request_id(value: Any) -> bool:
    return _request_id_problem(value) is None


def _request_id(body: dict, default: str | None, errors: list[FieldError]) -> str:
    """The body's request_id, else the default (an Idempotency-Key, a message id), checked alike:
    every function downstream parses it again, and must accept what intake accepted."""
    if "request_id" not in body and not default:
        return str(uuid.uuid4())
    value = body.get("request_id", default)
    problem = _request_id_problem(value)
    if problem:
        errors.append(FieldError("request_id", problem))
        return ""
    return str(value)


def _request_id_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > MAX_REQUEST_ID_LENGTH:
        return f"longer than {MAX_REQUEST_ID_LENGTH} characters"
    if not _REQUEST_ID.fullmatch(value):
        return "only letters, digits and . _ : - are allowed"
    return None


def _action(body: dict, errors: list[FieldError]) -> Action:
    value = body.get("action", Action.DELETE_PROFILE.value)
    try:
        return Action(value)
    except ValueError:
        choices = ", ".join(a.value for a in Action)
        errors.append(FieldError("action", f"must be one of: {choices}"))
        return Action.DELETE_PROFILE


def _requested_at(body: dict, default: str | None, errors: list[FieldError]) -> datetime | None:
    """When the request was made; a default (a queue message's sending time) is checked alike:
    every function downstream parses the request again, and must accept what intake accepted."""
    if "requested_at" not in body and not default:
        return whole_milliseconds(datetime.now(UTC))
    moment = instant(body.get("requested_at", default))
    if moment is None:
        errors.append(FieldError("requested_at", "must be an ISO-8601 time with a time zone"))
        return None
    if moment < EARLIEST_TIME:
        errors.append(FieldError("requested_at", f"must be from {EARLIEST_TIME.year} on"))
        return None
    if moment > years_after(datetime.now(UTC), MAX_REQUESTED_YEARS_AHEAD):
        errors.append(FieldError("requested_at", "must not be more than a year ahead"))
        return None
    return moment


def _regulation(body: dict, errors: list[FieldError]) -> Regulation | None:
    value = body.get("regulation")
    if value is None:
        return None
    try:
        return Regulation(value)
    except ValueError:
        choices = ", ".join(r.value for r in Regulation)
        errors.append(FieldError("regulation", f"must be one of: {choices}"))
        return None


def _due_by(body: dict, requested: datetime | None, errors: list[FieldError]) -> str | None:
    """A date (due by its end, UTC) or a time with a time zone, not before the request, and not
    more than MAX_DUE_YEARS after it."""
    value = body.get("due_by")
    if value is None:
        return None
    moment = instant(value, date_ends_day=True)
    if moment is None:
        errors.append(FieldError("due_by", "must be an ISO-8601 date (2026-12-31) or time with a time zone"))
        return None
    if moment < EARLIEST_TIME:
        errors.append(FieldError("due_by", f"must be from {EARLIEST_TIME.year} on"))
        return None
    if requested is None:  # refused for its requested_at already
        return None
    if moment < requested:
        errors.append(FieldError("due_by", "is before requested_at"))
        return None
    if moment > years_after(requested, MAX_DUE_YEARS):
        errors.append(
            FieldError(
                "due_by",
                f"is more than {MAX_DUE_YEARS} years after requested_at: no law sets so long a deadline",
            )
        )
        return None
    return utc_timestamp(moment)


def _vendors(body: dict, known: frozenset[str], errors: list[FieldError]) -> tuple[str, ...] | None:
    if "vendors" not in body:
        return None
    value = body["vendors"]
    if not isinstance(value, list) or not value:
        errors.append(FieldError("vendors", "must be a non-empty list of vendor names"))
        return None
    unknown = [n for n, v in enumerate(value) if not isinstance(v, str) or v not in known]
    if unknown:
        names = ", ".join(sorted(known))
        positions = str(unknown[:MAX_LISTED_POSITIONS])
        if len(unknown) > MAX_LISTED_POSITIONS:
            positions += f" and {len(unknown) - MAX_LISTED_POSITIONS:,} more"
        errors.append(FieldError("vendors", f"unknown vendor at position(s) {positions}; known: {names}"))
        return None
    return tuple(dict.fromkeys(value))
