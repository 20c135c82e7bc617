"""The relay's domain errors, in one place; handlers/http_answers.py maps each to its HTTP answer.
Pure: every layer module may import it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Errors an InvalidRequest lists; the rest are counted in one last error. What names them must fit
# a Lambda answer (6 MB), a ledger item (DynamoDB's 400 KB) and a log line (CloudWatch's 256 KB).
MAX_LISTED_ERRORS = 20
# A key that looks like a name may be echoed in an error; anything else (an email used as a key,
# say) is named by its position, so that an error never repeats personal data.
_ECHOABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")


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


def field_name(key: Any, position: int) -> str:
    return key if isinstance(key, str) and _ECHOABLE.fullmatch(key) else f"#{position}"


class ConflictingRequest(Exception):
    """A request_id already names a different request."""


class AlreadyFinal(Exception):
    """A final request cannot be cancelled: every vendor has answered."""


class FanOutFailed(RuntimeError):
    """A vendor queue did not accept the messages; the requests are recorded: resubmit them
    under the same request_ids and only what is missing is sent."""

    def __init__(self, reason: str, request_ids: list[str] | None = None):
        super().__init__(reason)
        self.request_ids = request_ids or []


class OutcomeNotRecorded(RuntimeError):
    """A final outcome was refused by the ledger while the stored one is not final: the record
    must be retried, or a vendor-confirmed deletion would be lost."""


class ConfigError(RuntimeError):
    """A missing or malformed setting; the message names it. It fails the cold start."""


class TransportFailure(Exception):
    """No HTTP answer from a vendor: timeout, refused or reset connection, protocol error."""

    def __init__(self, kind: str, duration_ms: float):
        super().__init__(kind)
        self.kind = kind
        self.duration_ms = duration_ms


class RetryLater(Exception):
    """Raised for a queue record whose identifiers must be tried again (reported to SQS)."""


class NotPublished(Exception):
    """Raised for a stream record whose request's change could not be published (retried)."""
