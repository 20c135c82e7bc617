"""Every handler driven with generated hostile input: wrong types, deep nesting, large and odd
encodings, lone surrogates, control characters, bad base64, hostile SQS attributes.

Whatever arrives: no exception escapes a handler, no answer is a 5xx except a genuine downstream
503, and no identifier value reaches an answer or a log line (each generated value carries a
distinctive marker that is looked for)."""

from __future__ import annotations

import base64
import json
import os
import re
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import VENDORS, FakeContext, event, hostile_vendor
from tools.sam_local import sqs_record

# Deterministic in CI (the same examples every run); exploring anew on a developer's machine;
# `make soak` asks for many more examples.
SETTINGS = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "100")),
    deadline=None,
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MARKERS = count()
GENERATED: set[str] = set()  # every marker put into an identifier value
# "+" can never be in a request id (logged by design) nor in an echoed field name: a value
# holding a marker that shows up anywhere was shown as an identifier.
MARKER = re.compile(r"pii\d{6}\+mark")

# Any code point, lone surrogates and control characters included.
any_text = st.text(st.characters(exclude_categories=()), max_size=40)


def marked() -> str:
    marker = f"pii{next(MARKERS):06d}+mark"
    GENERATED.add(marker)
    return marker


@st.composite
def identifier_values(draw) -> str:
    """A value that would be an identifier: hostile text around a marker we can look for."""
    return f"{draw(any_text)}{marked()}{draw(any_text)}"


@st.composite
def valid_identities(draw) -> dict:
    """Identities the relay accepts, so that vendors, ledger and redaction are reached too, with
    values vendors may quote back (unicode, escapes, slashes)."""
    tail = draw(st.text(st.characters(categories=["L", "N", "P", "S"]), max_size=12))
    value = f"{marked()}{tail}".strip()
    kinds = {
        "external_id": value,
        "guid": value,
        "uuid": value,
        "email": f"{marked()}@example.com",
        "custom": {"loyalty_id": value},
    }
    chosen = draw(st.lists(st.sampled_from(sorted(kinds)), min_size=1, max_size=4, unique=True))
    return {kind: kinds[kind] for kind in chosen}


@st.composite
def plain_identifier_values(draw) -> str:
    """Printable text around a marker: passes the text checks, so it reaches the format checks
    (an email that is not one, a phone that is not E.164) and their reasons."""
    printable = st.text(st.characters(categories=["L", "N", "P", "S"]), max_size=12)
    return f"{draw(printable)}{marked()}{draw(printable)}"


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4)
)
identifier_types = st.sampled_from(["external_id", "email", "phone_number", "uuid", "guid", "custom", "x"])
identities = (
    st.dictionaries(
        identifier_types,
        identifier_values()
        | plain_identifier_values()
        | st.dictionaries(any_text, identifier_values(), max_size=3)
        | json_values,
        max_size=5,
    )
    | json_values
)
valid_requests = st.fixed_dictionaries(
    {"identity": valid_identities()},
    optional={
        "action": st.sampled_from(["delete_profile", "remove_identifier"]),
        "enrich": st.booleans(),  # what a vendor's lookup learns goes to the others, markers too
        "dry_run": st.booleans(),
    },
)
requests = (
    st.fixed_dictionaries(
        {},
        optional={
            "request_id": any_text | json_values,
            "action": st.sampled_from(["delete_profile", "remove_identifier"]) | json_values,
            "identity": identities,
            "requested_at": any_text | json_values,
            "vendors": st.lists(st.sampled_from([*VENDORS, "nobody"]) | json_values, max_size=3)
            | json_values,
            "regulation": st.sampled_from(["gdpr", "ccpa", "lgpd"]) | json_values,
            # Dates at and past the calendar's ends, in time zones that carry them over.
            "due_by": st.sampled_from(
                ["2030-01-01", "9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"]
            )
            | any_text
            | json_values,
            # A verification check's schedule: what makes a vendor queue's message a check.
            "verify": st.fixed_dictionaries({}, optional={"check": json_values, "due_at": json_values})
            | json_values,
            "enrich": st.booleans() | json_values,
            "dry_run": st.booleans() | json_values,
            # A step of an enriched request: what only a vendor queue's message may carry.
            "learned": st.lists(identities, max_size=3) | json_values,
            "learned_from": st.sampled_from([*VENDORS, "Braze", ""]) | json_values,
        },
    )
    | json_values
)


@st.composite
def bodies(draw) -> tuple[str, bool]:
    """(body text, isBase64Encoded): JSON of a request or a bulk, deep nesting, raw text, base64."""
    kinds = [
        "valid",
        "valid",
        "valid",
        "ill-formed",
        "json",
        "deep",
        "raw",
        "base64",
        "bad-base64",
        "base64-not-utf8",
    ]
    kind = draw(st.sampled_from(kinds))
    if kind == "valid":  # accepted requests reach the vendors, the ledger and the redaction
        document = draw(
            valid_requests | st.fixed_dictionaries({"requests": st.lists(valid_requests, max_size=3)})
        )
        return json.dumps(document), False
    if kind == "ill-formed":  # identifiers of the right type and the wrong form: format reasons
        kinds_of = st.sampled_from(["email", "phone_number", "external_id", "user_alias"])
        identity = draw(st.dictionaries(kinds_of, plain_identifier_values(), min_size=1, max_size=3))
        return json.dumps({"identity": identity}), False
    document = draw(st.one_of(requests, st.fixed_dictionaries({"requests": st.lists(requests, max_size=4)})))
    text = json.dumps(document)  # ensure_ascii: lone surrogates travel as \ud800 escapes
    depth = draw(st.integers(1, 50_000))
    if kind == "deep":
        return '{"identity": ' + "[" * depth + "]" * depth + "}", False
    if kind == "raw":
        return draw(any_text), False
    if kind == "base64":
        return base64.b64encode(text.encode()).decode(), True
    if kind == "bad-base64":
        return draw(any_text), True
    if kind == "base64-not-utf8":
        return base64.b64encode(b"\xff" + text.encode()).decode(), True
    return text, False


headers = st.dictionaries(
    st.sampled_from(["Idempotency-Key", "Content-Type", "X-Other"]),
    any_text | identifier_values(),
    max_size=3,
)
attribute_values = st.none() | any_text | st.integers().map(str)  # a message id: no markers


@st.composite
def sqs_messages(draw) -> dict:
    """A message as ReceiveMessage returns it, with hostile body, attributes and message attributes."""
    body, _ = draw(bodies())
    original = draw(attribute_values)
    return {
        "MessageId": f"m-{draw(st.uuids())}",
        "ReceiptHandle": "handle",
        "MD5OfBody": "0" * 32,
        "Body": body,
        "Attributes": {
            "ApproximateReceiveCount": draw(st.sampled_from(["1", "2", "0", "x", "99999999999"])),
            "SentTimestamp": draw(st.sampled_from(["1700000000000", "", "-5", "1e99", "99999999999999999"])),
        },
        "MessageAttributes": {}
        if original is None
        else {"original_message_id": {"DataType": "String", "StringValue": original}},
    }


def markers_in(text: str) -> set[str]:
    """Identifier values of this run that the text shows (a value may be echoed, never these)."""
    return set(MARKER.findall(text)) & GENERATED


def check(answer, logged) -> None:
    """No escaped exception (we got here), no 5xx but a downstream 503, no identifier shown."""
    assert isinstance(answer, dict)
    if "statusCode" in answer:
        assert answer["statusCode"] < 500 or answer["statusCode"] == 503, answer
    shown = json.dumps(answer) + logged()
    assert markers_in(shown) == set()


@pytest.fixture
def hostile_relay(relay, httpserver, everything_logged):
    httpserver.clear_all_handlers()
    httpserver.expect_request("").respond_with_handler(hostile_vendor)
    relay.logged = everything_logged
    return relay


def api_event(function: str, body: str, encoded: bool, extra_headers: dict) -> dict:
    api = event(function, "api")
    api.update(body=body, isBase64Encoded=encoded)
    api["headers"] = {**api["headers"], **extra_headers}
    return api


@SETTINGS
@given(body=bodies(), extra_headers=headers)
def test_intake_api(hostile_relay, body, extra_headers):
    answer = hostile_relay.intake(api_event("intake", *body, extra_headers), FakeContext())
    check(answer, hostile_relay.logged)


@SETTINGS
@given(vendor=st.sampled_from(VENDORS), body=bodies(), extra_headers=headers)
def test_vendor_api(hostile_relay, vendor, body, extra_headers):
    answer = hostile_relay.vendors[vendor](api_event(vendor, *body, extra_headers), FakeContext())
    check(answer, hostile_relay.logged)


@SETTINGS
@given(request_id=any_text)  # a request id is not personal data: it is logged by design
def test_status_api(hostile_relay, request_id):
    api = event("status", "api")
    api["path"] = f"/v1/deletions/{request_id}"
    api["pathParameters"] = {"request_id": request_id}
    check(hostile_relay.status(api, FakeContext()), hostile_relay.logged)


@SETTINGS
@given(queue=st.sampled_from(["intake", *VENDORS]), messages=st.lists(sqs_messages(), min_size=1, max_size=5))
def test_queues(hostile_relay, queue, messages):
    arn = hostile_relay.queue_arns[queue]
    handler = hostile_relay.intake if queue == "intake" else hostile_relay.vendors[queue]
    answer = handler({"Records": [sqs_record(m, arn, "us-east-1") for m in messages]}, FakeContext())
    assert set(answer) == {"batchItemFailures"}
    check(answer, hostile_relay.logged)
