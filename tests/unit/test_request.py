"""The deletion request: every bad field is named with its reason; nothing raw in the reason."""

import json
import os
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import erasure.errors
import erasure.identifiers
import erasure.request
from erasure.request import (
    Action,
    FieldError,
    InvalidRequest,
    parse,
    request_id_or_none,
    utc_timestamp,
)
from erasure.verification import read_check


def fields(body, **kwargs) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as caught:
        parse(body, **kwargs)
    return {e.field: e.reason for e in caught.value.errors}


def test_a_full_request_round_trips_through_its_message_form():
    body = {
        "request_id": "req-1",
        "action": "remove_identifier",
        "identity": {
            "external_id": "u1",
            "email": "a@example.com",
            "phone_number": "+6598765432",
            "uuid": "x",
            "guid": "g",
            "custom": {"loyalty_id": "L1"},
        },
        "requested_at": "2024-06-24T06:42:25.394Z",
    }
    request = parse(body)
    assert request.action is Action.REMOVE_IDENTIFIER
    assert len(request.identifiers) == 6
    assert parse(request.to_message()) == request
    assert request.to_message() == body


def test_defaults_action_request_id_and_time():
    request = parse({"identity": {"email": "a@example.com"}})
    assert request.action is Action.DELETE_PROFILE
    assert len(request.request_id) == 36
    assert request.requested_at.endswith("Z")
    assert parse({"identity": {"email": "a@example.com"}}, default_request_id="k").request_id == "k"


def test_a_valid_request_id_is_found_in_an_otherwise_bad_body():
    assert request_id_or_none({"request_id": "req-9", "identity": "nonsense"}) == "req-9"
    assert request_id_or_none({"request_id": "bad id"}) is None
    assert request_id_or_none(None) is None


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ([], "body", "must be a JSON object"),
        ({}, "identity", "required: an object of identifiers"),
        ({"identity": {}}, "identity", "at least one identifier is required"),
        ({"identity": {"email": "nope"}}, "identity.email", "is not an email address"),
        ({"identity": {"phone_number": "98765432"}}, "identity.phone_number", "E.164"),
        ({"identity": {"phone_number": "+0123456789"}}, "identity.phone_number", "E.164"),
        ({"identity": {"external_id": "  "}}, "identity.external_id", "must not be empty"),
        ({"identity": {"external_id": 7}}, "identity.external_id", "must be a string"),
        ({"identity": {"external_id": "x" * 513}}, "identity.external_id", "longer than 512"),
        ({"identity": {"fax": "1"}}, "identity.fax", "unknown identifier type"),
        ({"identity": {"custom": {}}}, "identity.custom", "non-empty object"),
        ({"identity": {"custom": {"bad name": "v"}}}, "identity.custom.#0", "name must be"),
        ({"identity": {"jane@example.com": "v"}}, "identity.#0", "unknown identifier type"),
        ({"identity": {"uuid": "u"}, "+6598765432": 1}, "#1", "unknown field"),
        ({"identity": {"uuid": "u"}, "action": "erase"}, "action", "must be one of"),
        ({"identity": {"uuid": "u"}, "request_id": "x" * 129}, "request_id", "longer than 128"),
        ({"identity": {"uuid": "u"}, "request_id": "a b"}, "request_id", "only letters"),
        ({"identity": {"uuid": "u"}, "requested_at": "yesterday"}, "requested_at", "ISO-8601"),
        ({"identity": {"uuid": "u"}, "requested_at": "2024-06-24T06:42:25"}, "requested_at", "time zone"),
        ({"identity": {"uuid": "u"}, "color": "red"}, "color", "unknown field"),
        ({"identity": {"uuid": "u"}, "vendors": ["braze"]}, "vendors", "unknown field"),
    ],
)
def test_names_the_bad_field_and_why(body, field, reason):
    assert reason in fields(body)[field]


def test_a_default_request_id_is_checked_like_a_given_one():
    assert (
        "only letters"
        in fields({"identity": {"uuid": "u"}}, default_request_id="jane@example.com")["request_id"]
    )
    assert parse({"identity": {"uuid": "u"}}, default_request_id="key-1").request_id == "key-1"


def test_every_bad_field_is_reported_at_once():
    errors = fields({"action": "x", "identity": {"email": "bad", "phone_number": "1"}, "extra": 1})
    assert set(errors) == {"action", "identity.email", "identity.phone_number", "extra"}


def test_vendors_are_checked_where_they_are_allowed():
    known = frozenset({"braze", "dfinery"})
    assert parse({"identity": {"uuid": "u"}, "vendors": ["dfinery"]}, known_vendors=known).vendors == (
        "dfinery",
    )
    assert (
        "unknown vendor"
        in fields({"identity": {"uuid": "u"}, "vendors": ["acme"]}, known_vendors=known)["vendors"]
    )
    assert (
        "non-empty list" in fields({"identity": {"uuid": "u"}, "vendors": []}, known_vendors=known)["vendors"]
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
# The request model's wording: the request, its identifiers and its errors.
REQUEST_MODEL_SOURCE = "".join(
    Path(module.__file__).read_text() for module in (erasure.request, erasure.identifiers, erasure.errors)
)
identity_keys = st.sampled_from(["external_id", "email", "phone_number", "uuid", "guid", "custom", "x"])


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["request_id", "action", "identity", "requested_at", "other"]),
        json_values | st.dictionaries(identity_keys, json_values, max_size=4),
        max_size=5,
    )
)
def test_any_json_either_parses_or_names_its_bad_fields(body):
    try:
        request = parse(body)
    except InvalidRequest as invalid:
        assert invalid.errors
        for error in invalid.errors:
            assert error.field and error.reason
            # A reason never repeats the submitted value back (it may be personal data). A value
            # the reason shows is an echo unless the model's own wording holds it ("time",
            # "remo"): reasons are fixed sentences, and an identifier is never in the source.
            for value in _strings(body):
                if len(value) > 3 and value in error.reason:
                    assert value in REQUEST_MODEL_SOURCE
    else:
        assert request.identifiers


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_a_braze_id_and_a_user_alias_travel_between_functions_unchanged():
    body = {
        "request_id": "r-alias",
        "identity": {"braze_id": "b-1", "user_alias": {"alias_name": "crm-9", "alias_label": "crm_id"}},
        "requested_at": "2024-06-24T06:42:25.394Z",
    }
    request = parse(body)
    assert [i.label for i in request.identifiers] == ["braze_id", "user_alias.crm_id"]
    assert parse(request.to_message()) == request


@pytest.mark.parametrize(
    ("alias", "field"),
    [
        ("crm-9", "identity.user_alias"),
        ({"alias_name": "crm-9"}, "identity.user_alias"),
        ({"alias_name": "crm-9", "alias_label": "has space"}, "identity.user_alias.alias_label"),
        ({"alias_name": "", "alias_label": "crm"}, "identity.user_alias.alias_name"),
        ({"alias_name": 7, "alias_label": "crm"}, "identity.user_alias.alias_name"),
    ],
)
def test_a_bad_user_alias_is_named(alias, field):
    with pytest.raises(InvalidRequest) as refused:
        parse({"identity": {"user_alias": alias}})
    assert [e.field for e in refused.value.errors] == [field]
    assert "crm-9" not in str(refused.value)


@pytest.mark.parametrize(
    ("extra", "deadline"),
    [
        ({}, "2026-02-28T09:00:00.000Z"),  # GDPR's month by default; February has no 31st
        ({"regulation": "gdpr"}, "2026-02-28T09:00:00.000Z"),
        ({"regulation": "ccpa"}, "2026-03-17T09:00:00.000Z"),  # 45 days
        ({"due_by": "2026-02-10"}, "2026-02-10T23:59:59.999Z"),  # a date: due by its end, UTC
        ({"regulation": "ccpa", "due_by": "2026-02-10T12:00:00+02:00"}, "2026-02-10T10:00:00.000Z"),
    ],
)
def test_the_deadline_is_the_regulations_period_or_the_callers_date(extra, deadline):
    request = parse({"identity": {"email": "a@example.com"}, "requested_at": "2026-01-31T09:00:00Z", **extra})
    assert request.deadline == deadline
    assert parse(request.to_message()) == request


@pytest.mark.parametrize(
    ("extra", "field", "reason"),
    [
        ({"regulation": "lgpd"}, "regulation", "must be one of: gdpr, ccpa"),
        ({"regulation": 1}, "regulation", "must be one of: gdpr, ccpa"),
        ({"due_by": "next week"}, "due_by", "must be an ISO-8601 date (2026-12-31) or time with a time zone"),
        (
            {"due_by": "2026-02-10T12:00:00"},
            "due_by",
            "must be an ISO-8601 date (2026-12-31) or time with a time zone",
        ),
        ({"due_by": "2025-12-31"}, "due_by", "is before requested_at"),
        # Past any calendar's end once in UTC: refused, never an overflow.
        (
            {"due_by": "9999-12-31T23:00:00-05:00"},
            "due_by",
            "must be an ISO-8601 date (2026-12-31) or time with a time zone",
        ),
        (
            {"requested_at": "9999-12-31T23:00:00-05:00"},
            "requested_at",
            "must be an ISO-8601 time with a time zone",
        ),
    ],
)
def test_a_bad_regulation_or_due_by_is_named(extra, field, reason):
    body = {"identity": {"email": "a@example.com"}, "requested_at": "2026-01-31T09:00:00Z", **extra}
    assert fields(body) == {field: reason}


# -- Dates: four-digit years, plausible times, never an overflow -----------------------------------


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000Z"),
        (datetime(99, 2, 3, 4, 5, 6, 7000, tzinfo=UTC), "0099-02-03T04:05:06.007Z"),
        (datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), "0999-12-31T23:59:59.999Z"),
        (datetime(1000, 1, 1, tzinfo=UTC), "1000-01-01T00:00:00.000Z"),
        (datetime(2024, 6, 24, 6, 42, 25, 394_000, tzinfo=UTC), "2024-06-24T06:42:25.394Z"),
        (datetime.max.replace(tzinfo=UTC), "9999-12-31T23:59:59.999Z"),
    ],
)
def test_a_timestamp_always_has_a_four_digit_year(moment, text):
    assert utc_timestamp(moment) == text
    assert datetime.fromisoformat(text.replace("Z", "+00:00")) == moment.replace(
        microsecond=moment.microsecond // 1000 * 1000
    )


def _years_ahead(years: float) -> str:
    return utc_timestamp(datetime.now(UTC) + timedelta(days=365.25 * years))


@pytest.mark.parametrize(
    ("extra", "field", "reason"),
    [
        ({"requested_at": "0100-01-01T00:00:00Z"}, "requested_at", "must be from 2000 on"),
        ({"requested_at": "1999-12-31T23:59:59Z"}, "requested_at", "must be from 2000 on"),
        ({"requested_at": "2000-01-01T00:30:00+01:00"}, "requested_at", "must be from 2000 on"),
        ({"requested_at": _years_ahead(2)}, "requested_at", "must not be more than a year ahead"),
        ({"requested_at": "9999-12-20T00:00:00Z"}, "requested_at", "must not be more than a year ahead"),
        ({"due_by": "0999-12-31"}, "due_by", "must be from 2000 on"),
        ({"due_by": "1999-01-01"}, "due_by", "must be from 2000 on"),
        ({"due_by": "0001-01-01T00:30:00+01:00"}, "due_by", "ISO-8601"),  # before the calendar's start
        ({"due_by": "2036-01-31"}, "due_by", "more than 3 years after requested_at"),
        ({"due_by": "9999-12-31"}, "due_by", "more than 3 years after requested_at"),
    ],
)
def test_an_implausible_date_is_refused_naming_its_field(extra, field, reason):
    body = {"identity": {"email": "a@example.com"}, "requested_at": "2026-01-31T09:00:00Z", **extra}
    found = fields(body)
    assert list(found) == [field]
    assert reason in found[field]
    value = next(iter(extra.values()))
    assert value[:10] not in found[field], "the value is never echoed"


@pytest.mark.parametrize("field", ["requested_at", "due_by"])
@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:00-05:00",  # past the calendar's end once in UTC
        "9999-12-31T23:59:59.999999-23:59:59.999999",
        "0001-01-01T00:00+23:59",  # before its start
        "2026-06-01T00:00+24:00",  # an offset no time zone has
        "2026-06-01T00:00+99:99",
        "2026-06-01T00:00:00" + "+00:00" * 10_000,
        "2026-06-01T00:00:00Z" + " " * 100_000,
    ],
)
def test_a_time_out_of_range_is_a_named_error_never_an_exception(field, value):
    body = {"identity": {"email": "a@example.com"}, "requested_at": "2026-01-31T09:00:00Z", field: value}
    found = fields(body)
    assert list(found) == [field]
    assert len(found[field]) < 200


def test_a_default_requested_at_is_checked_like_a_given_one():
    # A queue message's sending time stands in for a missing requested_at: a hostile or broken
    # SentTimestamp must not make a request every vendor function then refuses.
    body = {"identity": {"email": "a@example.com"}}
    assert "from 2000" in fields(body, default_requested_at="1970-01-01T00:00:00.001Z")["requested_at"]
    assert "a year ahead" in fields(body, default_requested_at=_years_ahead(50))["requested_at"]
    assert parse(body, default_requested_at="2024-06-24T06:42:25.394Z").requested_at == (
        "2024-06-24T06:42:25.394Z"
    )


@pytest.mark.parametrize(
    "extra",
    [
        {"requested_at": "2000-01-01T00:00:00Z"},
        {"requested_at": "2000-01-01T01:00:00+01:00"},
        {"requested_at": "2000-01-01T00:00:00Z", "due_by": "2000-01-01"},
        {"requested_at": "2000-01-01T00:00:00Z", "due_by": "2002-12-31", "regulation": "ccpa"},
        {"requested_at": "2026-01-31T09:00:00Z", "due_by": "2028-01-31"},  # two years out
        {"requested_at": "2026-01-31T09:00:00Z", "due_by": "2029-01-31T09:00:00Z"},  # three, exactly
        {"requested_at": "2026-01-31T09:00:00.0009Z", "due_by": "2026-01-31T09:00:00.0001Z"},
        {"requested_at": _years_ahead(0.99), "regulation": "ccpa"},
        {"requested_at": _years_ahead(0.99), "due_by": _years_ahead(3.9)},
        {},
    ],
)
def test_a_plausible_date_is_accepted_and_travels_to_the_vendors_unchanged(extra):
    request = parse({"identity": {"email": "a@example.com"}, **extra})
    assert request.deadline >= request.requested_at
    # The vendor functions parse the message again (days later): what intake took, they take.
    assert parse(request.to_message()) == request
    assert parse(json.loads(json.dumps(request.to_message()))).deadline == request.deadline


aware_times = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=14))]),
)
time_texts = (
    aware_times.map(datetime.isoformat)
    | aware_times.map(lambda moment: moment.date().isoformat())
    | st.sampled_from(["2000-01-01T00:00:00Z", "1999-12-31T23:59:59.999Z", "9999-12-31T23:00-05:00"])
)


@settings(max_examples=300, deadline=None, derandomize=os.environ.get("CI") == "true")
@given(
    st.fixed_dictionaries(
        {"identity": st.just({"uuid": "u"})},
        optional={
            "requested_at": time_texts,
            "due_by": time_texts,
            "regulation": st.sampled_from(["gdpr", "ccpa"]),
        },
    )
)
def test_any_time_is_refused_by_name_or_makes_a_request_whose_deadline_is_a_time(body):
    try:
        request = parse(body)
    except InvalidRequest as invalid:
        assert {e.field for e in invalid.errors} <= {"requested_at", "due_by"}
        return
    deadline = request.deadline
    for text in (request.requested_at, deadline):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    assert "2000" <= request.requested_at <= deadline
    assert parse(request.to_message()) == request


# -- Floods: an error list never grows past what a ledger item, an answer and a log line hold -------


def test_a_flood_of_unknown_fields_lists_the_first_errors_and_counts_the_rest():
    body = {"identity": {"uuid": "u"}, **{f"field{n}": n for n in range(5_000)}}
    with pytest.raises(InvalidRequest) as refused:
        parse(body)
    errors = refused.value.errors
    assert len(errors) == erasure.request.MAX_LISTED_ERRORS + 1 == 21
    assert [e.field for e in errors[:-1]] == [f"field{n}" for n in range(20)]
    assert errors[-1].as_dict() == {"field": "body", "reason": "and 4,980 more errors not listed"}
    assert len(str(refused.value)) < 2_000


def test_errors_of_every_kind_are_capped_and_counted_once():
    body = {
        "request_id": "bad id",
        "identity": {f"kind{n}": 1 for n in range(30)},
        **{f"field{n}": n for n in range(25)},
    }
    with pytest.raises(InvalidRequest) as refused:
        parse(body)
    errors = refused.value.errors
    assert len(errors) == 21
    assert errors[-1].reason == "and 36 more errors not listed"  # 25 + 1 + 30 - 20

    # Raised again with more errors (a verification check's own fields, say): still counted once.
    again = InvalidRequest([FieldError("verify.check", "must be a whole number from 1"), *errors])
    assert len(again.errors) == 21
    assert again.errors[0].field == "verify.check"
    assert again.errors[-1].as_dict() == {"field": "body", "reason": "and 37 more errors not listed"}


def test_a_verification_check_with_a_flood_is_capped_too():
    body = {"identity": {"uuid": "u"}, "verify": {"check": 0}, **{f"f{n}": 1 for n in range(100)}}
    with pytest.raises(InvalidRequest) as refused:
        read_check(body)
    errors = refused.value.errors
    assert [e.field for e in errors[:2]] == ["verify.check", "verify.due_at"]
    assert errors[-1].as_dict() == {"field": "body", "reason": "and 82 more errors not listed"}


def test_a_short_list_of_errors_is_kept_whole():
    errors = [FieldError(f"f{n}", "unknown field") for n in range(erasure.request.MAX_LISTED_ERRORS)]
    assert InvalidRequest(errors).errors == errors
    cut = InvalidRequest([*errors, FieldError("x", "y")]).errors
    assert cut[:-1] == errors
    assert cut[-1].as_dict() == {"field": "body", "reason": "and 1 more error not listed"}


def test_a_flood_of_unknown_vendors_has_a_short_reason():
    body = {"identity": {"uuid": "u"}, "vendors": ["acme"] * 100_000}
    reason = fields(body, known_vendors=frozenset({"braze"}))["vendors"]
    assert reason.startswith("unknown vendor at position(s) [0, 1, 2")
    assert len(reason) < 300


# -- Resolution fields: enrich and dry_run everywhere, learned and learned_from in steps only --------

PERSON = {"external_id": "crm-77", "email": "jane@example.com"}
STEP_BASE = {"request_id": "r-step", "identity": PERSON, "requested_at": "2026-01-31T09:00:00.000Z"}
LEARNED = [{"external_id": "jane-2024"}, {"braze_id": "bz-jane"}, {"phone_number": "+6591234567"}]


@pytest.mark.parametrize("flag", ["enrich", "dry_run"])
@pytest.mark.parametrize("value", [0, 1, "true", None, [], {}])
def test_a_flag_that_is_not_true_or_false_is_refused_naming_it(flag, value):
    body = {"identity": {"email": "jane@example.com"}, flag: value}
    assert fields(body) == {flag: "must be true or false"}
    assert fields(body, steps=True) == {flag: "must be true or false"}


@pytest.mark.parametrize("flag", ["enrich", "dry_run"])
def test_a_flag_is_false_unless_given_true(flag):
    assert getattr(parse({"identity": {"uuid": "u"}}), flag) is False
    assert getattr(parse({"identity": {"uuid": "u"}, flag: False}), flag) is False
    assert getattr(parse({"identity": {"uuid": "u"}, flag: True}), flag) is True


def test_enrich_takes_the_default_only_when_the_request_does_not_say():
    body = {"identity": {"uuid": "u"}}
    assert parse(body, default_enrich=True).enrich is True
    assert parse({**body, "enrich": False}, default_enrich=True).enrich is False
    assert parse(body, default_enrich=True).dry_run is False  # dry_run has no default but false
    assert fields({**body, "enrich": None}, default_enrich=True) == {"enrich": "must be true or false"}


@pytest.mark.parametrize(
    "extra",
    [
        {"learned": LEARNED},
        {"learned_from": "braze"},
        {"learned": LEARNED, "learned_from": "braze"},
    ],
)
@pytest.mark.parametrize("known_vendors", [None, frozenset({"braze", "dfinery"})])
def test_learned_fields_are_unknown_outside_a_vendor_queues_message(extra, known_vendors):
    found = fields({**STEP_BASE, **extra}, known_vendors=known_vendors)
    assert found == dict.fromkeys(extra, "unknown field")
    assert "jane-2024" not in json.dumps(found)


def test_a_step_reads_its_learned_identifiers_and_their_vendor():
    request = parse({**STEP_BASE, "learned": LEARNED, "learned_from": "braze"}, steps=True)
    assert request.learned_from == "braze"
    assert sorted(i.label for i in request.learned) == ["braze_id", "external_id", "phone_number"]
    assert sorted(i.value for i in request.learned) == ["+6591234567", "bz-jane", "jane-2024"]
    assert parse(STEP_BASE, steps=True).learned == ()  # a message that is no step has none
    assert parse(STEP_BASE, steps=True).learned_from is None


def _learned_error(learned, learned_from="braze") -> dict[str, str]:
    body = {**STEP_BASE, "learned": learned}
    if learned_from is not ...:
        body["learned_from"] = learned_from
    return fields(body, steps=True)


LEARNED_LIST = "must be a list of 1 to 64 identity objects"


@pytest.mark.parametrize(
    "learned",
    [
        [],
        [{"uuid": f"u-{n}"} for n in range(65)],
        None,
        {"external_id": "jane-2024"},
        "jane-2024",
    ],
    ids=["empty", "65-items", "null", "an-object", "a-string"],
)
def test_learned_that_is_not_a_list_of_1_to_64_is_refused(learned):
    found = _learned_error(learned)
    assert found == {"learned": LEARNED_LIST}
    assert "jane-2024" not in json.dumps(found)


def test_64_learned_identifiers_are_the_most_a_step_takes():
    request = parse(
        {**STEP_BASE, "learned": [{"uuid": f"u-{n}"} for n in range(64)], "learned_from": "insider"},
        steps=True,
    )
    assert len(request.learned) == 64


@pytest.mark.parametrize(
    ("item", "field", "reason"),
    [
        ("jane-2024", "learned[2]", "required: an object of identifiers"),
        (["jane-2024"], "learned[2]", "required: an object of identifiers"),
        (None, "learned[2]", "required: an object of identifiers"),
        ({}, "learned[2]", "at least one identifier is required"),
        ({"email": "jane-at-example.com"}, "learned[2].email", "is not an email address"),
        (
            {"phone_number": "91234567"},
            "learned[2].phone_number",
            "must be in E.164 format: +, country code, number; 15 digits at most",
        ),
        ({"external_id": 7}, "learned[2].external_id", "must be a string"),
        ({"fax": "jane-2024"}, "learned[2].fax", "unknown identifier type"),
        ({"custom": {}}, "learned[2].custom", "must be a non-empty object of name: value"),
        (
            {"user_alias": "jane-2024"},
            "learned[2].user_alias",
            "must be an object with alias_name and alias_label",
        ),
    ],
)
def test_a_bad_learned_identifier_is_named_by_its_position(item, field, reason):
    found = _learned_error([*LEARNED[:2], item])
    assert found == {field: reason}
    assert "jane" not in json.dumps(found), "the value is never echoed"


def test_every_bad_learned_identifier_is_named_at_once():
    found = _learned_error([{"email": "nope"}, {"uuid": "ok"}, {"email": "no"}, 5])
    assert found == {
        "learned[0].email": "is not an email address",
        "learned[2].email": "is not an email address",
        "learned[3]": "required: an object of identifiers",
    }


@pytest.mark.parametrize(
    "learned_from",
    ["Braze", "BRAZE", "", 5, None, ["braze"], {"braze": 1}, " braze", "braze\n", "1braze", "x" * 33, ...],
    ids=repr,
)
def test_learned_from_must_be_a_lowercase_vendor_name(learned_from):
    assert _learned_error(LEARNED, learned_from) == {"learned_from": "must be a vendor name"}


def test_learned_from_without_learned_is_refused():
    found = fields({**STEP_BASE, "learned_from": "braze"}, steps=True)
    assert found == {"learned": LEARNED_LIST}


def test_a_step_round_trips_through_its_message_form():
    request = parse(
        {
            **STEP_BASE,
            "vendors": ["braze", "dfinery"],
            "enrich": True,
            "dry_run": True,
            "learned": [
                *LEARNED,
                {"custom": {"loyalty_id": "L1"}},
                {"user_alias": {"alias_name": "a", "alias_label": "crm"}},
            ],
            "learned_from": "braze",
        },
        known_vendors=frozenset({"braze", "dfinery"}),
        steps=True,
    )
    message = request.to_message()
    assert message["learned_from"] == "braze"
    assert all(len(item) == 1 for item in message["learned"])  # one identity object per identifier
    again = parse(json.loads(json.dumps(message)), known_vendors=frozenset({"braze", "dfinery"}), steps=True)
    assert again == request
    assert len(again.learned) == 5
    assert (again.enrich, again.dry_run) == (True, True)


def test_a_request_that_is_no_step_sends_no_learned_fields():
    request = parse({**STEP_BASE, "enrich": True}, steps=True)
    message = request.to_message()
    assert "learned" not in message and "learned_from" not in message
    assert message["enrich"] is True and "dry_run" not in message  # false flags are not sent
    assert parse(message) == request  # readable where steps are not


def test_a_step_acts_on_its_learned_identifiers_and_any_other_request_on_the_given():
    step = parse({**STEP_BASE, "learned": LEARNED, "learned_from": "braze"}, steps=True)
    assert step.acted_on == step.learned
    assert {i.value for i in step.acted_on} == {"jane-2024", "bz-jane", "+6591234567"}
    assert not set(step.acted_on) & set(step.identifiers)
    plain = parse(STEP_BASE, steps=True)
    assert plain.acted_on == plain.identifiers
    assert {i.value for i in plain.acted_on} == {"crm-77", "jane@example.com"}


def test_a_step_is_the_same_request_and_a_dry_run_or_enriched_one_is_not(hasher):
    from erasure.ledger import content_fingerprint

    base = parse(STEP_BASE)
    step = parse({**STEP_BASE, "learned": LEARNED, "learned_from": "braze"}, steps=True)
    assert content_fingerprint(hasher, step) == content_fingerprint(hasher, base)
    for flag in ("enrich", "dry_run"):
        flagged = parse({**STEP_BASE, flag: True})
        assert content_fingerprint(hasher, flagged) != content_fingerprint(hasher, base), flag
        assert content_fingerprint(hasher, parse({**STEP_BASE, flag: False})) == content_fingerprint(
            hasher, base
        )


def test_a_learned_item_holds_one_identifier_type():
    body = {"identity": {"uuid": "u"}, "learned_from": "braze", "learned": [{"uuid": "a", "email": "a@b.co"}]}
    with pytest.raises(InvalidRequest) as refused:
        parse(body, steps=True)
    assert [e.as_dict() for e in refused.value.errors] == [
        {"field": "learned[0]", "reason": "must hold one identifier type"}
    ]
