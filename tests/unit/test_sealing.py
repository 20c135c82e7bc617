"""The relay's messages name identifiers by keyed hash (erasure.sealing): what is named reads back
into the very request that was sent, and a malformed name is refused naming its field."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erasure.ledger.identities import IdentityBook
from erasure.ledger.table import LedgerTable
from erasure.observability import IdentifierHasher
from erasure.request import InvalidRequest, parse
from erasure.sealing import IDENTITY_REF, LEARNED_REF, UNSEALED, Sealer, sealed_or_none, vendor_message
from erasure.verification import Check, read_check
from tests.helpers import HASH_KEY

VALUE = st.text(st.characters(categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=40).map(
    lambda text: f"v{text}".strip()
)


@st.composite
def identities(draw) -> dict:
    value = draw(VALUE)
    kinds = {
        "external_id": value,
        "email": f"{draw(st.from_regex(r'[a-z0-9.]{1,12}', fullmatch=True))}@exämple.com",
        "phone_number": "+6591234567",
        "guid": value,
        "uuid": value,
        "braze_id": value,
        "user_alias": {"alias_name": value, "alias_label": "crm"},
        "custom": {"loyalty_id": value, "member": f"m-{value}"},
    }
    chosen = draw(st.lists(st.sampled_from(sorted(kinds)), min_size=1, max_size=5, unique=True))
    return {kind: kinds[kind] for kind in chosen}


@pytest.fixture
def sealer(hasher) -> Sealer:
    return Sealer(IdentityBook(LedgerTable(None, "ledger", 400), hasher, 15, "intake"))


def kept(sealer: Sealer, *requests) -> dict:
    """What the ledger holds for these requests' identifiers, as IdentityBook.read answers."""
    assert sealer.book is not None
    return {(r.request_id, sealer.book.hasher(i)): i for r in requests for i in (*r.identifiers, *r.learned)}


@settings(max_examples=60, deadline=None, derandomize=True)
@given(identity=identities(), learned=identities(), enrich=st.booleans())
def test_a_named_message_reads_back_into_the_request_and_names_no_value(identity, learned, enrich):
    sealer = Sealer(
        IdentityBook(LedgerTable(None, "ledger", 400), IdentifierHasher(HASH_KEY.encode()), 15, "intake")
    )
    request = parse(
        {"request_id": "r-1", "identity": identity, "enrich": enrich, "vendors": ["braze"]},
        known_vendors=frozenset({"braze"}),
    )
    step = replace(request, learned=parse({"identity": learned}).identifiers, learned_from="braze")
    for sent in (request, step):
        (text,) = sealer.seal([(sent, vendor_message(sent))], kept=True)
        named = sealed_or_none(json.loads(text))
        assert named is not None and named.request_id == "r-1"
        assert parse(named.opened(kept(sealer, sent)), known_vendors=frozenset({"braze"}), steps=True) == (
            sent if enrich else replace(sent, vendors=None)
        )
        for identifier in (*sent.identifiers, *sent.learned):
            assert json.dumps(identifier.value)[1:-1] not in text and identifier.value not in text


def test_a_check_names_its_identifiers_too_and_reads_back(sealer):
    request = parse({"request_id": "r-2", "identity": {"email": "jane@example.com"}})
    check = Check(request, 2, 1_800_000_000.0)
    (text,) = sealer.seal([(request, check.message())], kept=True)
    assert "jane" not in text and json.loads(text)["verify"] == {"check": 2, "due_at": 1_800_000_000.0}
    assert read_check(sealed_or_none(json.loads(text)).opened(kept(sealer, request))) == check


def test_an_enriched_requests_check_naming_its_vendors_is_read_not_refused():
    """It was refused (`vendors: unknown field`) and never made: the request waited forever."""
    known = frozenset({"braze"})
    request = parse(
        {"request_id": "r-3", "identity": {"email": "a@b.co"}, "vendors": ["braze"], "enrich": True},
        known_vendors=known,
    )
    check = Check(request, 1, 5.0)
    assert read_check(json.loads(json.dumps(check.message())), known_vendors=known) == check


def test_a_message_whose_named_identifier_is_no_longer_kept_does_not_open(sealer):
    request = parse({"request_id": "r-4", "identity": {"email": "a@b.co", "external_id": "x-1"}})
    (text,) = sealer.seal([(request, vendor_message(request))], kept=True)
    one_left = dict(list(kept(sealer, request).items())[:1])
    assert sealed_or_none(json.loads(text)).opened(one_left) is None


def test_without_a_ledger_messages_carry_the_values_as_before():
    request = parse({"request_id": "r-5", "identity": {"email": "a@b.co"}})
    (text,) = UNSEALED.seal([(request, vendor_message(request))])
    assert sealed_or_none(json.loads(text)) is None and parse(json.loads(text)) == request


HASH = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"request_id": "r", IDENTITY_REF: []}, IDENTITY_REF),
        ({"request_id": "r", IDENTITY_REF: ["jane@example.com"]}, IDENTITY_REF),
        ({"request_id": "r", IDENTITY_REF: HASH}, IDENTITY_REF),
        ({"request_id": "r", IDENTITY_REF: [HASH.upper()]}, IDENTITY_REF),
        ({"request_id": "r", IDENTITY_REF: [HASH] * 65}, IDENTITY_REF),
        ({"request_id": "r", IDENTITY_REF: [HASH], "identity": {"email": "a@b.co"}}, IDENTITY_REF),
        ({"request_id": "r", IDENTITY_REF: [HASH], LEARNED_REF: [7]}, LEARNED_REF),
        ({"request_id": "r", LEARNED_REF: [HASH]}, IDENTITY_REF),
        ({IDENTITY_REF: [HASH]}, "request_id"),
        ({"request_id": "bad id", IDENTITY_REF: [HASH]}, "request_id"),
    ],
)
def test_a_malformed_name_is_refused_naming_its_field(body, field):
    with pytest.raises(InvalidRequest) as refused:
        sealed_or_none(body)
    assert field in {error.field for error in refused.value.errors}
