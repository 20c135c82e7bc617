"""The redactor against identifiers echoed in every encoding a vendor or gateway plausibly uses.

Each echo is judged by an oracle of its own (below), not by the redactor's code: the text kept
must not hold the identifier in any form a reader could decode back, and a text that quotes no
identifier must come through as it was."""

from __future__ import annotations

import contextlib
import html
import json
import re
import unicodedata
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import pytest

from erasure.outcomes import Outcome, Verdict
from erasure.redaction import Redactor
from erasure.vendors.base import Target
from tests.helpers import request

EMAIL = "jane+vip@example.com"
ACCENTED = "zoë@example.com"  # NFC, as the request gives it
SLASHED = "acct/EU/ref-9081"  # an external id
US_PHONE = "+14155550100"
SG_PHONE = "+6591000001"
IDN_EMAIL = "jürgen@bücher.de"

KINDS = {
    EMAIL: "email",
    ACCENTED: "email",
    SLASHED: "external_id",
    US_PHONE: "phone_number",
    SG_PHONE: "phone_number",
    IDN_EMAIL: "email",
}
# What a reader recognises a phone number by without its country code (the test knows the code).
NATIONAL = {US_PHONE: "4155550100", SG_PHONE: "91000001"}

# Where vendors put what they echo: a URL, a sentence, a JSON string.
CONTEXTS = [
    "GET /1/profile.json?identity={} failed: 500",
    "no user {} in this project",
    'bad request: {{"identity": "{}"}}',
]


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def _entities(value: str, entity) -> str:
    return "".join(c if c.isalnum() else entity(c) for c in value)


def _full_width(text: str) -> str:
    """ASCII in its full-width forms, as CJK input methods type it."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


NAMED = {"@": "&commat;", "+": "&plus;", "/": "&sol;", ".": "&period;", "-": "&#45;", "ü": "&uuml;"}


def echoes(value: str) -> dict[str, str]:
    """The value as vendors and gateways plausibly echo it, by name of the encoding."""
    single = quote(value, safe="")
    nfd = unicodedata.normalize("NFD", value)
    found = {
        "raw": value,
        "upper case": value.upper(),
        "percent-encoded": single,
        "percent-encoded, / left": quote(value),
        "plus-encoded": quote_plus(value),
        "plus-encoded, / left": quote_plus(value, safe="/"),
        "percent-encoded, lower-case hex": _lower_hex(single),
        "plus-encoded, lower-case hex": _lower_hex(quote_plus(value)),
        "percent-encoded twice": quote(single, safe=""),
        "percent-encoded twice, lower-case hex": _lower_hex(quote(single, safe="")),
        "only @ and + percent-encoded": value.replace("@", "%40").replace("+", "%2B"),
        "html decimal entities": _entities(value, lambda c: f"&#{ord(c)};"),
        "html hex entities": _entities(value, lambda c: f"&#x{ord(c):X};"),
        "html named entities": "".join(NAMED.get(c, c) for c in value),
        "html escaped twice": _entities(value, lambda c: f"&amp;#{ord(c)};"),
        "every character an html entity": "".join(f"&#{ord(c)};" for c in value),
        "full-width": _full_width(value),
        "json escaped": json.dumps(value)[1:-1],
    }
    if not value.isascii():
        found |= {
            "NFD": nfd,
            "NFKD, upper case": unicodedata.normalize("NFKD", value.upper()),
            "NFD, json escaped": json.dumps(nfd)[1:-1],
            "NFD, percent-encoded": quote(nfd, safe=""),
            "NFD, html entities": _entities(nfd, lambda c: f"&#{ord(c)};"),
            "utf-8 read as latin-1 (mojibake)": value.encode().decode("latin-1"),
            "utf-8 read as cp1252 (mojibake)": value.encode().decode("cp1252", errors="replace"),
            "percent-encoded in latin-1": quote(value, safe="", encoding="latin-1"),
            "a python repr of its utf-8 bytes": repr(value.encode())[2:-1],
        }
    if "@" in value and not value.split("@")[1].isascii():
        local, domain = value.split("@")
        found["domain in IDNA (punycode)"] = f"{local}@{domain.encode('idna').decode()}"
    if KINDS[value] == "phone_number":
        national = NATIONAL[value]
        found |= {
            "without the +": value[1:],
            "00 instead of +": "00" + value[1:],
            "national, bare": national,
            "national, with a trunk 0": "0" + national,
            "national, grouped": " ".join(re.findall(r"\d{1,4}", national)),
            "international, grouped": f"{value[: -len(national)]} {national[:4]}-{national[4:]}",
        }
    if value == US_PHONE:
        found |= {
            "US national format": "(415) 555-0100",
            "US dotted": "415.555.0100",
            "US with trunk 0": "0415 555 0100",
            "US international": "+1 (415) 555-0100",
        }
    return found


CASES = [
    pytest.param(value, echo, context, id=f"{KINDS[value]}:{value}-{name}-{n}")
    for value in KINDS
    for name, echo in echoes(value).items()
    for n, context in enumerate(CONTEXTS)
]

# Texts vendors send that quote no identifier: they must come through as they are.
ORDINARY = [
    "rate limit exceeded, retry in 30 s",
    "invalid JSON at position 123456",
    "Too many concurrent requests",
    "Invalid Passcode",
    "internal error; trace 7f3c9a2e-4b1d-4c8e-9f00-2a6b1c3d4e5f",
    "a 100% failure rate &amp; no data: try again at 2026-01-31T12:00:00Z",
    "https://api.example.com/v1/users?page=2&limit=50&sort=-created_at",
    "Account not found: code 40001 (see https://docs.example.com/errors#40001)",
    "queued for deletion: 50 of the 50 in this call",
    "déjà vu: la requête a échoué &mdash; réessayez",
    _full_width("FULL-WIDTH text") + " 100%",
    "req-4f1c2a, 415 requests, 555 ms, 100 ok",
]


def _targets(*values: str) -> list[Target]:
    found = []
    for value in values:
        deletion = request({KINDS.get(value, "email"): value})
        found.append(Target(deletion, deletion.identifiers[0]))
    return found


def _skeleton(text: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).casefold())


def _mojibake_repaired(text: str) -> str:
    for codec in ("latin-1", "cp1252"):
        try:
            return text.encode(codec).decode("utf-8")
        except UnicodeError:
            continue
    return text


def _bytes_repr_decoded(text: str) -> str:
    return re.sub(
        r"(?:\\x[0-9a-fA-F]{2})+",
        lambda m: bytes.fromhex(m.group().replace("\\x", "")).decode("utf-8", "replace"),
        text,
    )


def _json_unescaped(text: str) -> str:
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


DECODERS = [
    unquote,
    unquote_plus,
    lambda t: unquote(t, encoding="latin-1"),
    html.unescape,
    _json_unescaped,
    _bytes_repr_decoded,
    _mojibake_repaired,
]


def _readings(text: str) -> set[str]:
    """The text and whatever a reader gets by decoding it, in any order, up to four times."""
    found, fresh = {text}, {text}
    for _ in range(4):
        fresh = {decode(t) for t in fresh for decode in DECODERS} - found
        found |= fresh
    return found


def _identifier_views(value: str) -> set[str]:
    """The skeletons a reader would recognise the identifier by."""
    views = {value, unicodedata.normalize("NFKD", value)}
    local, _, domain = value.rpartition("@")
    with contextlib.suppress(UnicodeError):  # not every string after an @ is a domain
        views.add(f"{local}@{domain.encode('idna').decode()}")
    found = {_skeleton(v) for v in views}
    if value in NATIONAL:
        found.add(NATIONAL[value])
    return found


def recognisable(text: str, value: str) -> list[str]:
    """The forms of `value` a reader can find in `text`: as given, as quoted, once decoded, or
    reduced to its letters and digits."""
    folded = text.casefold()
    quoted = {value, quote(value, safe=""), quote(value), quote_plus(value), quote(quote(value, safe=""))}
    found = [f"quoted as {form!r}" for form in quoted if form.casefold() in folded]
    views = _identifier_views(value)
    for reading in _readings(text):
        if value.casefold() in reading.casefold():
            found.append(f"decoded to {reading!r}")
        skeleton = _skeleton(reading)
        found += [f"skeleton {v!r} in {reading!r}" for v in views if v in skeleton]
    return found


@pytest.mark.parametrize(("value", "echo", "context"), CASES)
def test_an_echoed_identifier_leaves_no_recognisable_form(value, echo, context):
    text = context.format(echo)
    assert recognisable(text, value), "the oracle must recognise the echo it is given"
    redacted = Redactor(_targets(value)).text(text)
    assert recognisable(redacted, value) == []
    # The same among many others, as one call's Redactor sees it.
    crowd = _targets(*KINDS, *(f"person-{n}@example.com" for n in range(3)))
    assert recognisable(Redactor(crowd).text(text), value) == []


@pytest.mark.parametrize(
    ("value", "text", "kept"),
    [
        (
            EMAIL,
            "GET /1/profile.json?identity=jane%2Bvip%40example.com failed",
            "GET /1/profile.json?identity=<identifier> failed",
        ),
        (EMAIL, "identity=jane%2bvip%40example.com&x=1", "identity=<identifier>&x=1"),
        (EMAIL, "identity=jane%252Bvip%2540example.com", "identity=<identifier>"),
        (EMAIL, "identity=jane+vip%40example.com", "identity=<identifier>"),
        (EMAIL, "no user jane+vip&#64;example.com", "no user <identifier>"),
        (EMAIL, "no user jane&#x2B;vip&commat;example.com", "no user <identifier>"),
        (EMAIL, "no user jane+vip&amp;#64;example.com", "no user <identifier>"),
        (EMAIL, "no user jane%2Bvip&#64;example.com", "no user <identifier>"),  # mixed encodings
        (EMAIL, "identity%3Djane%252Bvip%2540example.com", "identity%3D<identifier>"),
        (ACCENTED, f"no user {unicodedata.normalize('NFD', ACCENTED)}", "no user <identifier>"),
        (ACCENTED, "no user ZOË@EXAMPLE.COM", "no user <identifier>"),
        (ACCENTED, "no user zo%C3%AB%40example.com", "no user <identifier>"),
        (ACCENTED, "no user zoe%CC%88%40example.com", "no user <identifier>"),
        (ACCENTED, "no user zo&euml;@example.com", "no user <identifier>"),
        (SLASHED, "GET /users/acct%2FEU%2Fref-9081: 404", "GET /users/<identifier>: 404"),
        (SLASHED, f"no user {_full_width(SLASHED)}", "no user <identifier>"),
        (US_PHONE, "not a mobile: (415) 555-0100", "not a mobile: <identifier>"),
        (US_PHONE, "phone=%2B14155550100 invalid", "phone=<identifier> invalid"),
        (SG_PHONE, "number 9100 0001 unreachable", "number <identifier> unreachable"),
    ],
)
def test_an_echo_it_can_place_is_cut_out_and_the_rest_kept(value, text, kept):
    assert Redactor(_targets(value)).text(text) == kept


@pytest.mark.parametrize("text", ORDINARY)
def test_a_text_that_quotes_no_identifier_comes_through_unchanged(text):
    redactor = Redactor(_targets(*KINDS))
    assert redactor.text(text) == text
    verdict = Verdict(Outcome.TRANSIENT, text, 500)
    assert redactor(verdict) == verdict


@pytest.mark.parametrize(
    ("value", "text"),
    [
        # +1234567: +1 leaves 234567, the only split with six digits; 34567 is under the floor.
        ("+1234567", "error code 34567"),
        ("+14155550100", "call 5550100 now"),  # seven digits: no split of the number leaves them
        ("ab1", "xab1y %61b1 a&#98;1"),  # under 4 letters and digits: not worth withholding for
    ],
)
def test_short_pieces_are_not_worth_withholding_for(value, text):
    kind = "phone_number" if value.startswith("+") else "external_id"
    deletion = request({kind: value})
    assert Redactor([Target(deletion, deletion.identifiers[0])]).text(text) == text


@pytest.mark.parametrize(
    ("value", "text", "digits"),
    [
        (US_PHONE, "call 155-550-100 now", "155550100"),  # as if the country code were +14
        (US_PHONE, "call 55550100 now", "55550100"),  # as if it were +141
        ("+1234567", "error code 234567", "234567"),  # six digits: at the floor
    ],
)
def test_a_national_number_is_caught_whatever_the_length_of_its_country_code(value, text, digits):
    deletion = request({"phone_number": value})
    redacted = Redactor([Target(deletion, deletion.identifiers[0])]).text(text)
    assert digits not in re.sub(r"\D", "", redacted)


def test_an_identifier_holding_a_percent_escape_echoed_html_escaped_is_caught():
    # html.escape leaves the id's own %AB alone: decoding it along with the entities would lose it.
    value = "100%AB-x&y"
    deletion = request({"external_id": value})
    text = f"unknown id {html.escape(value)}"
    assert Redactor([Target(deletion, deletion.identifiers[0])]).text(text) == "unknown id <identifier>"


def test_a_header_echo_is_redacted_like_a_reason():
    redactor = Redactor(_targets(EMAIL))
    assert redactor.text("req-jane%2Bvip%40example.com-7") == "req-<identifier>-7"
    assert redactor.text(None) is None


def test_each_distinct_text_is_redacted_once():
    redactor = Redactor(_targets(EMAIL))
    text = "GET /1/profile.json?identity=jane%2Bvip%40example.com failed"
    first = redactor.text(text)
    assert redactor.text(text) is first
    assert list(redactor.redacted) == [text]
