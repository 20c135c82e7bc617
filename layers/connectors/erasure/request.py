"""The deletion request: one person, one action, one or more identifiers.

Every entry point (vendor queues, vendor API routes, intake) parses its input here, so a bad
request is refused the same way everywhere, with every bad field named.
"""

from __future__ import annotations

import json
import re
import uuid
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any

MAX_REQUEST_ID_LENGTH = 128
# Times a request can have: from EARLIEST_TIME on, made at most a year ahead of now (clocks drift,
# not by years), due at most MAX_DUE_YEARS after it (no law sets a longer period). Both rules stay
# true of an accepted request when a vendor function parses its message again later.
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_REQUESTED_YEARS_AHEAD = 1
MAX_DUE_YEARS = 3
MAX_TIME_LENGTH = 64  # characters of a requested_at or due_by
# Errors an InvalidRequest lists; the rest are counted in one last error. What names them must fit
# a Lambda answer (6 MB), a ledger item (DynamoDB's 400 KB) and a log line (CloudWatch's 256 KB).
MAX_LISTED_ERRORS = 20
MAX_LISTED_POSITIONS = 10  # of the vendors a `vendors` error names by position
MAX_IDENTIFIER_LENGTH = 512
MAX_CUSTOM_IDENTIFIERS = 20
MAX_CUSTOM_NAME_LENGTH = 64

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Deliberately plain: one @, a dotted domain, no spaces. Vendors validate further.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]+$")
_CUSTOM_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A key that looks like a name may be echoed in an error; anything else (an email used as a key,
# say) is named by its position, so that an error never repeats personal data.
_ECHOABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")


class Action(StrEnum):
    REMOVE_IDENTIFIER = "remove_identifier"
    DELETE_PROFILE = "delete_profile"


class Regulation(StrEnum):
    """The law a request is made under; it sets the request's deadline."""

    GDPR = "gdpr"  # one month (Art. 12(3))
    CCPA = "ccpa"  # 45 days (Cal. Civ. Code 1798.130)


class IdentifierType(StrEnum):
    EXTERNAL_ID = "external_id"
    EMAIL = "email"
    PHONE_NUMBER = "phone_number"
    UUID = "uuid"
    GUID = "guid"  # CleverTap's own id
    BRAZE_ID = "braze_id"  # Braze's own id
    USER_ALIAS = "user_alias"  # a Braze alias: {"alias_name": value, "alias_label": name}
    CUSTOM = "custom"


@dataclass(frozen=True, order=True)
class Identifier:
    """One identifier of a person. `name` is set only for custom identifiers."""

    type: IdentifierType
    value: str
    name: str = ""

    @property
    def label(self) -> str:
        """What the identifier is, never its value: safe for logs and answers."""
        return f"{self.type}.{self.name}" if self.name else str(self.type)


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


@dataclass(frozen=True)
class ErrorsNotListed(FieldError):
    """The last error of a list cut short: how many more there were."""

    count: int = 0

    @classmethod
    def of(cls, count: int) -> ErrorsNotListed:
        return cls("body", f"and {count:,} more error{'s' if count > 1 else ''} not listed", count)


class InvalidRequest(ValueError):
    """The input is not a deletion request; `errors` names each bad field and why: the first
    MAX_LISTED_ERRORS of them, then (when there were more) one error on "body" counting the rest.
    Errors of an InvalidRequest raised again with others are counted once."""

    def __init__(self, errors: list[FieldError]):
        self.errors = _listed(errors)
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in self.errors))


def _listed(errors: list[FieldError]) -> list[FieldError]:
    listed: list[FieldError] = []
    more = 0
    for error in errors:
        if isinstance(error, ErrorsNotListed):
            more += error.count
        elif len(listed) < MAX_LISTED_ERRORS:
            listed.append(error)
        else:
            more += 1
    return [*listed, ErrorsNotListed.of(more)] if more else listed


@dataclass(frozen=True)
class DeletionRequest:
    request_id: str
    action: Action
    identifiers: tuple[Identifier, ...]
    requested_at: str  # ISO-8601 UTC with milliseconds; stays the same on every retry
    vendors: tuple[str, ...] | None = field(default=None)
    regulation: Regulation | None = None  # as given; without it nor due_by, GDPR's month applies
    due_by: str | None = None  # as given (ISO-8601 UTC); it overrides the regulation's deadline

    @property
    def deadline(self) -> str:
        """When the erasure is due by law: `due_by`, else the regulation's period (GDPR by
        default) from `requested_at` (which parse() keeps far from the calendar's end)."""
        if self.due_by:
            return self.due_by
        requested = datetime.fromisoformat(self.requested_at.replace("Z", "+00:00"))
        if self.regulation is Regulation.CCPA:
            return utc_timestamp(requested + timedelta(days=45))
        return utc_timestamp(_one_month_after(requested))

    def to_message(self) -> dict[str, Any]:
        """The JSON form that travels between functions; parse() reads it back unchanged."""
        identity: dict[str, Any] = {}
        for identifier in self.identifiers:
            if identifier.type is IdentifierType.CUSTOM:
                identity.setdefault("custom", {})[identifier.name] = identifier.value
            elif identifier.type is IdentifierType.USER_ALIAS:
                identity["user_alias"] = {"alias_name": identifier.value, "alias_label": identifier.name}
            else:
                identity[str(identifier.type)] = identifier.value
        message: dict[str, Any] = {
            "request_id": self.request_id,
            "action": str(self.action),
            "identity": identity,
            "requested_at": self.requested_at,
        }
        if self.vendors is not None:
            message["vendors"] = list(self.vendors)
        if self.regulation is not None:
            message["regulation"] = str(self.regulation)
        if self.due_by is not None:
            message["due_by"] = self.due_by
        return message


def _one_month_after(moment: datetime) -> datetime:
    """The same day of the next month, or that month's last day when it has no such day."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))


def _years_after(moment: datetime, years: int) -> datetime:
    """The same day `years` later, or February's last day for a 29th it does not have."""
    year = moment.year + years
    return moment.replace(year=year, day=min(moment.day, monthrange(year, moment.month)[1]))


def utc_timestamp(moment: datetime | None = None) -> str:
    """ISO-8601 UTC with milliseconds and Z, the form Dfinery documents; the year always has four
    digits (strftime's %Y has fewer before 1000 on Linux, which fromisoformat cannot read), so
    that timestamps also sort as text."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def epoch_timestamp(epoch: float) -> str:
    """utc_timestamp of a time given in epoch seconds."""
    return utc_timestamp(datetime.fromtimestamp(epoch, UTC))


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
) -> DeletionRequest:
    """Validate a decoded JSON body into a DeletionRequest, or raise InvalidRequest.

    `known_vendors` enables the optional `vendors` field (intake only); elsewhere it is unknown.
    """
    if not isinstance(body, dict):
        raise InvalidRequest([FieldError("body", "must be a JSON object")])
    errors: list[FieldError] = []
    allowed = {"request_id", "action", "identity", "requested_at", "regulation", "due_by"}
    if known_vendors is not None:
        allowed.add("vendors")
    errors += unknown_fields(body, allowed)

    request_id = _request_id(body, default_request_id, errors)
    action = _action(body, errors)
    identifiers = _identifiers(body.get("identity"), errors)
    requested = _requested_at(body, default_requested_at, errors)
    vendors = _vendors(body, known_vendors, errors) if known_vendors is not None else None
    regulation = _regulation(body, errors)
    due_by = _due_by(body, requested, errors)
    if errors or requested is None:
        raise InvalidRequest(errors)
    return DeletionRequest(
        request_id, action, identifiers, utc_timestamp(requested), vendors, regulation, due_by
    )


def unknown_fields(body: dict, allowed: set[str]) -> list[FieldError]:
    """An error per key of `body` that is not allowed, named without echoing personal data: the
    first MAX_LISTED_ERRORS of them, and how many more there are (InvalidRequest lists no more)."""
    errors: list[FieldError] = []
    more = 0
    for n, key in enumerate(body):
        if key in allowed:
            continue
        if len(errors) < MAX_LISTED_ERRORS:
            errors.append(FieldError(_name(key, n), "unknown field"))
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
    return value


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


def _instant(value: Any, date_ends_day: bool = False) -> datetime | None:
    """An ISO-8601 time with a time zone (or, with `date_ends_day`, a date: its last moment, UTC)
    as the UTC instant it is stored as (whole milliseconds); None when it is none, or when its
    time zone carries it past either end of the calendar."""
    if not isinstance(value, str) or len(value) > MAX_TIME_LENGTH:
        return None
    try:
        if date_ends_day and len(value) == 10:  # YYYY-MM-DD
            moment = datetime.combine(datetime.fromisoformat(value).date(), time.max, UTC)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            return None
        # The stored form keeps milliseconds: every rule is checked on what the vendors read back.
        return _whole_milliseconds(moment.astimezone(UTC))
    except (ValueError, OverflowError):
        return None


def _whole_milliseconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _requested_at(body: dict, default: str | None, errors: list[FieldError]) -> datetime | None:
    """When the request was made; a default (a queue message's sending time) is checked alike:
    every function downstream parses the request again, and must accept what intake accepted."""
    if "requested_at" not in body and not default:
        return _whole_milliseconds(datetime.now(UTC))
    moment = _instant(body.get("requested_at", default))
    if moment is None:
        errors.append(FieldError("requested_at", "must be an ISO-8601 time with a time zone"))
        return None
    if moment < EARLIEST_TIME:
        errors.append(FieldError("requested_at", f"must be from {EARLIEST_TIME.year} on"))
        return None
    if moment > _years_after(datetime.now(UTC), MAX_REQUESTED_YEARS_AHEAD):
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
    moment = _instant(value, date_ends_day=True)
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
    if moment > _years_after(requested, MAX_DUE_YEARS):
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


def _identifiers(identity: Any, errors: list[FieldError]) -> tuple[Identifier, ...]:
    if not isinstance(identity, dict):
        errors.append(FieldError("identity", "required: an object of identifiers"))
        return ()
    found: list[Identifier] = []
    for position, (key, value) in enumerate(identity.items()):
        where = f"identity.{key}"
        if key == IdentifierType.CUSTOM:
            found += _custom_identifiers(value, errors)
        elif key == IdentifierType.USER_ALIAS:
            found += _user_alias(value, errors)
        elif key in IdentifierType.__members__.values():
            text = _identifier_value(where, value, errors)
            if text is not None and _well_formed(where, IdentifierType(key), text, errors):
                found.append(Identifier(IdentifierType(key), text))
        else:
            errors.append(FieldError(f"identity.{_name(key, position)}", "unknown identifier type"))
    if not found and not any(e.field.startswith("identity") for e in errors):
        errors.append(FieldError("identity", "at least one identifier is required"))
    return tuple(sorted(found))


def _custom_identifiers(value: Any, errors: list[FieldError]) -> list[Identifier]:
    if not isinstance(value, dict) or not value:
        errors.append(FieldError("identity.custom", "must be a non-empty object of name: value"))
        return []
    if len(value) > MAX_CUSTOM_IDENTIFIERS:
        errors.append(FieldError("identity.custom", f"more than {MAX_CUSTOM_IDENTIFIERS} names"))
        return []
    found = []
    for position, (name, custom_value) in enumerate(value.items()):
        where = f"identity.custom.{_name(name, position)}"
        if len(name) > MAX_CUSTOM_NAME_LENGTH or not _CUSTOM_NAME.fullmatch(name):
            errors.append(FieldError(where, "name must be 1-64 letters, digits, _ . -"))
            continue
        text = _identifier_value(where, custom_value, errors)
        if text is not None:
            found.append(Identifier(IdentifierType.CUSTOM, text, name))
    return found


def _user_alias(value: Any, errors: list[FieldError]) -> list[Identifier]:
    where = "identity.user_alias"
    if not isinstance(value, dict) or set(value) != {"alias_name", "alias_label"}:
        errors.append(FieldError(where, "must be an object with alias_name and alias_label"))
        return []
    label = value["alias_label"]
    if not isinstance(label, str) or len(label) > MAX_CUSTOM_NAME_LENGTH or not _CUSTOM_NAME.fullmatch(label):
        errors.append(FieldError(f"{where}.alias_label", "must be 1-64 letters, digits, _ . -"))
        return []
    name = _identifier_value(f"{where}.alias_name", value["alias_name"], errors)
    return [Identifier(IdentifierType.USER_ALIAS, name, label)] if name is not None else []


def _name(key: Any, position: int) -> str:
    return key if isinstance(key, str) and _ECHOABLE.fullmatch(key) else f"#{position}"


def _identifier_value(where: str, value: Any, errors: list[FieldError]) -> str | None:
    if not isinstance(value, str):
        errors.append(FieldError(where, "must be a string"))
        return None
    text = value.strip()
    if not text:
        errors.append(FieldError(where, "must not be empty"))
        return None
    if len(text) > MAX_IDENTIFIER_LENGTH:
        errors.append(FieldError(where, f"longer than {MAX_IDENTIFIER_LENGTH} characters"))
        return None
    if not _is_plain_text(text):
        # A lone surrogate cannot be encoded for a vendor (nor hashed); no real identifier holds
        # a control character.
        errors.append(FieldError(where, "must be text without control characters or lone surrogates"))
        return None
    return text


def _is_plain_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not _CONTROL.search(text)


def _well_formed(where: str, kind: IdentifierType, text: str, errors: list[FieldError]) -> bool:
    if kind is IdentifierType.PHONE_NUMBER and not _E164.fullmatch(text):
        errors.append(
            FieldError(where, "must be in E.164 format: +, country code, number; 15 digits at most")
        )
        return False
    if kind is IdentifierType.EMAIL and not _EMAIL.fullmatch(text):
        errors.append(FieldError(where, "is not an email address"))
        return False
    return True
