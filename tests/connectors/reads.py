"""What a vendor's answer tables are made of: each tests/connectors/test_<vendor>.py defines
`READ_TABLES: dict[str, Reads]`, one `Reads` per call key of its connector (every deletion call
and the lookup); tests/unit/test_connector_reads.py finds them by the connector's name and runs
them, and the checks that hold for every call, against `Call.read`. No vendor file imports another.

`row()` is one answer of a table; `V` the verdict expected of it. A row given `wrong=` (a strict
xfail) is an answer the connector reads as more than it says; its reason names what the document
says instead. The code is left as it is: once the reading is fixed, the row passes unexpectedly (a
strict failure) and its `wrong=` goes.

A lookup's rows for identity resolution carry `resolving(targets)`, and their `V` the profiles the
verdict must list (`found(...)`): the tables check the verdict, and each vendor file runs
`check_profiles` over its `profile_rows(...)` for the profiles.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace

import pytest

from erasure.http_client import HttpAnswer
from erasure.outcomes import Outcome, Profile, Verification
from erasure.request import DeletionRequest, Identifier, IdentifierType, parse
from erasure.vendors.base import Call, Target

DELETED, ACCEPTED, ALREADY_ABSENT = Outcome.DELETED, Outcome.ACCEPTED, Outcome.ALREADY_ABSENT
REFUSED, UNAUTHORIZED = Outcome.REFUSED, Outcome.UNAUTHORIZED
THROTTLED, TRANSIENT = Outcome.THROTTLED, Outcome.TRANSIENT
VERIFIED_ABSENT, STILL_PRESENT = Verification.VERIFIED_ABSENT, Verification.STILL_PRESENT
UNVERIFIABLE = Verification.UNVERIFIABLE
# An error the documents give no kind for: failed, for now or for good, never a success.
FAILED = frozenset({REFUSED, TRANSIENT})


@dataclass(frozen=True)
class Reads:
    """One call's answers, as its vendor documents them (and as they are not)."""

    targets: list[Target]  # what the call carries, for a row that names none of its own
    rows: list  # row(...): an answer and the verdicts expected of it
    success: bytes  # the documented success, as sent (a lookup's: its documented "gone" answer)
    success_status: int = 200  # the status that success comes with
    # Answers that break the reading itself (the relay's guard makes them transient):
    # label -> (status, body, targets).
    unreadable: dict[str, tuple[int, object, list[Target]]] = field(default_factory=dict)


# -- building answers and targets ----------------------------------------------------------------


@dataclass(frozen=True)
class In:
    """A rate window's reset `seconds` from now, as epoch seconds: made when the answer is built."""

    seconds: int

    def __str__(self) -> str:
        return str(int(time.time()) + self.seconds)


def person(request_id: str, action: str = "delete_profile", **identity) -> DeletionRequest:
    return parse(
        {
            "request_id": request_id,
            "action": action,
            "identity": identity,
            "requested_at": "2025-05-13T06:01:48.501Z",
        }
    )


def one_each(action: str, *identities: dict) -> list[Target]:
    """One target per identifier, one request per identity: a call batched across people."""
    return [
        Target(request, identifier)
        for n, identity in enumerate(identities)
        for request in [person(f"req-{n}", action, **identity)]
        for identifier in request.identifiers
    ]


def everyone_in(request: DeletionRequest) -> list[Target]:
    """Every identifier of one request: a call that carries one whole person."""
    return [Target(request, identifier) for identifier in request.identifiers]


def resolving(targets: list[Target]) -> list[Target]:
    """The same targets, looked up to find their profiles (identity resolution), not to verify."""
    return [replace(target, resolving=True) for target in targets]


# -- expectations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class V:
    """An expected verdict: its outcome (or the outcomes allowed), a fragment of its reason (any
    case), and the wait in seconds it carries (None: none)."""

    outcome: Outcome | Verification | frozenset
    reason: str = ""
    wait: float | None = None
    # A resolving lookup's: the profiles the verdict lists (None: not checked; see found()).
    profiles: tuple[Profile, ...] | None = None


def found(*identifiers: tuple[str, ...], person: str | None = None) -> Profile:
    """An expected profile: its identifiers as (type, value) or (type, value, name), and whose."""
    return Profile(tuple(Identifier(IdentifierType(kind), *rest) for kind, *rest in identifiers), person)


def _as_found(profiles) -> list[tuple[str | None, tuple[Identifier, ...]]]:
    """Profiles in no particular order, each identifier counted (a duplicate is a difference)."""
    return sorted(((p.person, tuple(sorted(p.identifiers))) for p in profiles), key=repr)


def check_profiles(
    call: Call, status: int, body: object, expected: V | list[V], targets: list[Target]
) -> None:
    """A lookup's reading of one answer: each verdict's outcome, and the profiles it lists against
    those of the expected verdict (where it names some)."""
    data = (
        body
        if isinstance(body, bytes)
        else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
    )
    verdicts = call.read(HttpAnswer(status, {}, data), targets)
    expected = expected if isinstance(expected, list) else [expected] * len(verdicts)
    assert len(verdicts) == len(expected), verdicts
    for n, (verdict, want) in enumerate(zip(verdicts, expected, strict=True)):
        allowed = want.outcome if isinstance(want.outcome, frozenset) else {want.outcome}
        assert verdict.outcome in allowed, (n, verdict)
        if want.profiles is not None:
            assert _as_found(verdict.profiles) == _as_found(want.profiles), (n, verdict)


def profile_rows(rows: list) -> list:
    """The rows whose expected verdicts name profiles: (status, body, expected, targets) each."""
    return [
        pytest.param(*p.values[:2], p.values[3], p.values[4], id=p.id, marks=p.marks)
        for p in rows
        if any(
            v.profiles is not None for v in (p.values[3] if isinstance(p.values[3], list) else [p.values[3]])
        )
    ]


def row(label, status, body, expected, headers=None, targets=None, wrong=None):
    """One answer of a table; `wrong`: why the connector's reading of it is wrong today (the row
    is then a strict xfail)."""
    marks = [pytest.mark.xfail(strict=True, reason=wrong)] if wrong else []
    return pytest.param(status, body, headers, expected, targets, id=label, marks=marks)
