"""How each connector reads its vendor's answers, without a socket: tables of the documented
answers, and of what the documents do not promise, against the Verdict given to each target.

`Call.read(answer, targets)` is pure: the relay hands it the HttpAnswer (status, headers, body)
of one call and the targets that call carried, and takes one Verdict per target, in order
(erasure/relay.py, `_read`). The socket tests in tests/connectors/ prove the wire; these tables
are the fast, exhaustive layer of the reading itself. The rule above all: only an explicit
documented success is `deleted`, `accepted`, `already_absent` or `verified_absent`; a garbled,
partial or unknown answer is retryable, or reported as what it is, never a success.

Each vendor's tables live with its socket tests: `READ_TABLES` in tests/connectors/test_<vendor>.py,
one `Reads` per call of its connector (tests/connectors/reads.py), citing their sources (the
vendor's reference page in /work/shared/seeds/, "seed <n>", and /work/shared/vendor-contracts.md,
"contracts § <vendor>, <row>"). This module finds them by each connector's name and holds only what
applies to every call: the rows' check, and the sweeps of garbled, partial, foreign and bare error
answers. A new vendor adds its tables to its own test file, nothing here.
"""

from __future__ import annotations

import importlib
import json

import pytest

from erasure.http_client import HttpAnswer
from erasure.outcomes import Verdict
from erasure.relay import _read as guarded_read
from erasure.vendors import CONNECTORS
from erasure.vendors.base import Call, Lookup, Target
from tests.connectors.reads import (
    ACCEPTED,
    ALREADY_ABSENT,
    DELETED,
    REFUSED,
    THROTTLED,
    TRANSIENT,
    UNAUTHORIZED,
    UNVERIFIABLE,
    VERIFIED_ABSENT,
    Reads,
    V,
)

# What a reading may only say of an explicit documented success.
SUCCESSES = frozenset({DELETED, ACCEPTED, ALREADY_ABSENT, VERIFIED_ABSENT})

CALLS: dict[tuple[str, str], Call] = {
    (vendor, call.key): call for vendor, connector in CONNECTORS.items() for call in connector.calls
}


# -- each connector's tables, from its own test file -------------------------------------------------


def _read_tables(vendor: str) -> dict[str, Reads] | str:
    """The `READ_TABLES` of tests/connectors/test_<vendor>.py, or why there are none."""
    module_name = f"tests.connectors.test_{vendor}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        return f"{module_name} does not exist"
    tables = getattr(module, "READ_TABLES", None)
    if not isinstance(tables, dict):
        return f"{module_name} defines no READ_TABLES: dict[str, Reads] (see tests/connectors/reads.py)"
    return tables


_FOUND = {vendor: _read_tables(vendor) for vendor in CONNECTORS}
# Connectors without tables: test_every_call_of_every_connector_has_a_table names them.
MISSING = {vendor: why for vendor, why in _FOUND.items() if isinstance(why, str)}
TABLES: dict[tuple[str, str], Reads] = {
    (vendor, key): reads
    for vendor, tables in _FOUND.items()
    if not isinstance(tables, str)
    for key, reads in tables.items()
}


# -- building answers, checking verdicts ---------------------------------------------------------------


def answer(status: int, body: object = b"", headers: dict | None = None) -> HttpAnswer:
    """An HttpAnswer as http_client makes it: bytes are sent as they are, str as UTF-8, anything
    else as JSON."""
    if isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = json.dumps(body).encode()
    return HttpAnswer(status, {name: str(value) for name, value in (headers or {}).items()}, data)


def check(verdicts: list[Verdict], expected: V | list[V], given: HttpAnswer) -> None:
    expected = expected if isinstance(expected, list) else [expected] * len(verdicts)
    assert len(verdicts) == len(expected), verdicts
    for n, (verdict, want) in enumerate(zip(verdicts, expected, strict=True)):
        allowed = want.outcome if isinstance(want.outcome, frozenset) else {want.outcome}
        assert verdict.outcome in allowed, (n, verdict)
        assert want.reason.lower() in verdict.reason.lower(), (n, verdict)
        if want.wait is None:
            assert verdict.retry_after is None, (n, verdict)
        else:
            assert verdict.retry_after == pytest.approx(want.wait, abs=2), (n, verdict)
        assert verdict.http_status == given.status, (n, verdict)


# -- the tables ----------------------------------------------------------------------------------------


def _table_params():
    for (vendor, key), reads in TABLES.items():
        for p in reads.rows:
            status, body, headers, expected, targets = p.values
            yield pytest.param(
                vendor,
                key,
                status,
                body,
                headers,
                expected,
                targets or reads.targets,
                id=f"{vendor}-{key}-{p.id}",
                marks=p.marks,
            )


@pytest.mark.parametrize(
    ("vendor", "key", "status", "body", "headers", "expected", "targets"), list(_table_params())
)
def test_reads_the_documented_answers(vendor, key, status, body, headers, expected, targets):
    given = answer(status, body, headers)
    check(CALLS[vendor, key].read(given, targets), expected, given)


def test_every_call_of_every_connector_has_a_table():
    assert not MISSING, f"connectors without answer tables: {MISSING}"
    assert set(TABLES) == set(CALLS), (
        f"calls without a table: {sorted(set(CALLS) - set(TABLES))}; "
        f"tables of no call: {sorted(set(TABLES) - set(CALLS))}"
    )
    for vendor, connector in CONNECTORS.items():
        assert {(vendor, op.key) for op in connector.operations} <= set(TABLES)
        if connector.lookup is not None:
            assert (vendor, connector.lookup.key) in TABLES
    for (vendor, key), reads in TABLES.items():
        call = CALLS[vendor, key]
        for targets in [
            reads.targets,
            *(p.values[4] for p in reads.rows if p.values[4]),
            *(targets for _, _, targets in reads.unreadable.values()),
        ]:
            # Targets the call serves, of one batch group, as many as one call carries.
            assert {t.identifier.type for t in targets} <= call.serves
            (group,) = {call.batch_group(t) for t in targets}
            assert len(targets) <= call.max_batch_for(group)


# -- sweeps: every call, every garbled answer ----------------------------------------------------------

GARBLED = [
    b"null",
    b"[]",
    b"{",
    b'{"',
    b"{}{}",
    b'"success"',
    b"true",
    b"0",
    b"<html><body>OK</body></html>",
    b"\xff\xfe\x00\x01 not text",
    b"\x00",
]


def default_targets(vendor: str, key: str) -> list[Target]:
    return TABLES[vendor, key].targets


def _cut(body: bytes) -> list[bytes]:
    """The documented body cut short: a partial answer (a connection closed mid-body)."""
    return sorted({body[: len(body) // 2], body[:-1]} - {b""})


# Every call that has its tables (test_every_call_of_every_connector_has_a_table: every call).
CALL_IDS = [f"{vendor}-{key}" for vendor, key in TABLES]


@pytest.mark.parametrize(("vendor", "key"), list(TABLES), ids=CALL_IDS)
def test_each_documented_success_reads_as_one(vendor, key):
    reads = TABLES[vendor, key]
    given = answer(reads.success_status, reads.success)
    verdicts = CALLS[vendor, key].read(given, default_targets(vendor, key))
    assert len(verdicts) == len(default_targets(vendor, key))
    assert {v.outcome for v in verdicts} <= SUCCESSES, verdicts


@pytest.mark.parametrize("status", [200, 201, 202, 204])
@pytest.mark.parametrize(("vendor", "key"), list(TABLES), ids=CALL_IDS)
def test_a_garbled_or_partial_2xx_is_retried_never_a_success(vendor, key, status):
    call, targets = CALLS[vendor, key], default_targets(vendor, key)
    for body in [*GARBLED, *_cut(TABLES[vendor, key].success)]:
        given = answer(status, body)
        verdicts = call.read(given, targets)
        assert len(verdicts) == len(targets)
        assert {v.outcome for v in verdicts} == {TRANSIENT}, (body, verdicts)
        assert all(v.http_status == status and v.retry_after is None for v in verdicts)


# What an error status means with no body a connector documents (outcomes.verdict_for_status):
# a deletion's 4xx refusal is a lookup's `unverifiable`.
BY_STATUS = {
    301: UNAUTHORIZED,  # redirects are not followed: a wrong host setting
    302: UNAUTHORIZED,
    400: REFUSED,
    401: UNAUTHORIZED,
    403: UNAUTHORIZED,
    404: UNAUTHORIZED,  # the endpoint, not the person: only a documented 404 body says absent
    405: UNAUTHORIZED,
    408: TRANSIENT,
    409: TRANSIENT,
    413: REFUSED,
    422: REFUSED,
    429: THROTTLED,
    500: TRANSIENT,
    502: TRANSIENT,
    503: TRANSIENT,
    504: TRANSIENT,
    520: TRANSIENT,
}


@pytest.mark.parametrize("status", list(BY_STATUS))
@pytest.mark.parametrize(("vendor", "key"), list(TABLES), ids=CALL_IDS)
def test_an_error_status_without_a_documented_body_reads_by_its_status(vendor, key, status):
    call, targets = CALLS[vendor, key], default_targets(vendor, key)
    expected = BY_STATUS[status]
    if expected is REFUSED and isinstance(call, Lookup):
        expected = UNVERIFIABLE
    for body in (b"", b"<html><body>Error</body></html>", b"null", b'{"unexpected": true}'):
        verdicts = call.read(answer(status, body), targets)
        assert [v.outcome for v in verdicts] == [expected] * len(targets), (body, verdicts)


# Another vendor's success is not this one's: a misrouted URL setting must never read as done.
FOREIGN_SUCCESSES = sorted({(vendor, reads.success) for (vendor, _), reads in TABLES.items()})


@pytest.mark.parametrize(("vendor", "key"), list(TABLES), ids=CALL_IDS)
def test_another_vendors_success_is_never_this_ones(vendor, key):
    call, targets = CALLS[vendor, key], default_targets(vendor, key)
    for other, body in FOREIGN_SUCCESSES:
        if other == vendor:
            continue
        for status in (200, 201):
            verdicts = call.read(answer(status, body), targets)
            assert not {v.outcome for v in verdicts} & SUCCESSES, (other, body, verdicts)


# Answers that break a reading (each table's `unreadable`): the relay's guard makes them transient.
UNREADABLE = [
    pytest.param(vendor, key, status, body, targets, id=f"{vendor}-{key}-{label}")
    for (vendor, key), reads in TABLES.items()
    for label, (status, body, targets) in reads.unreadable.items()
]


@pytest.mark.parametrize(("vendor", "key", "status", "body", "targets"), UNREADABLE)
def test_an_answer_that_breaks_the_reading_is_transient_for_every_target(vendor, key, status, body, targets):
    given = answer(status, body)
    verdicts = guarded_read(CONNECTORS[vendor], CALLS[vendor, key], given, targets)
    check(verdicts, V(TRANSIENT, "unreadable answer"), given)
