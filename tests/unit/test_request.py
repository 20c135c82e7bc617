"""The deletion request: every bad field is named with its reason; nothing raw in the reason."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import erasure.request
from erasure.request import Action, InvalidRequest, parse, request_id_or_none


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
REQUEST_MODEL_SOURCE = Path(erasure.request.__file__).read_text()
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
        ({"requested_at": "9999-12-20T00:00:00Z"}, "requested_at", "must be before 9000"),
    ],
)
def test_a_bad_regulation_or_due_by_is_named(extra, field, reason):
    body = {"identity": {"email": "a@example.com"}, "requested_at": "2026-01-31T09:00:00Z", **extra}
    assert fields(body) == {field: reason}
