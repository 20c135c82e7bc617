"""Vendor texts may quote the identifier they are about; what the relay keeps (reasons, evidence)
may not. The redactor cuts out every quoted form it knows and withholds a text that still holds
what is left of an identifier once escapes, encodings, punctuation and spacing are ignored.

What a vendor, or the gateway in front of it, may echo: the identifier as sent (in a JSON body,
or percent-encoded in a lookup's query string), escaped for JSON, percent-encoded once or twice
with hex in either case, plus-encoded, as HTML entities (&#64;, &commat;, or escaped twice as
&amp;#64;), in another Unicode normalization (NFD, compatibility and full-width forms) or case,
UTF-8 read as Latin-1 (http.client reads every header that way), a Python repr of its bytes, an
email's domain in IDNA, a phone number in a national format (no country code, a trunk 0,
grouped). Base64 is left out: the relay sends nothing in base64, so it would take a vendor
inventing it, and base64 output depends on the bytes around the identifier, so it could only be
found by decoding every word-like run of every text."""

from __future__ import annotations

import contextlib
import html
import json
import re
import unicodedata
from dataclasses import replace
from functools import cache, lru_cache
from urllib.parse import quote

from erasure.outcomes import Verdict
from erasure.request import IdentifierType
from erasure.vendors.base import Target

MAX_REASON_LENGTH = 300
WITHHELD_REASON = "the vendor's text quoted an identifier; withheld"
PLACEHOLDER = "<identifier>"
# Under these an identifier's letters and digits say too little to withhold a text for.
MIN_SKELETON = 4
MIN_NATIONAL_DIGITS = 6
_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")
_E164 = re.compile(r"\+[1-9]\d{6,14}")
# Not inside a longer word or id. Where the spellings are cut, an escape just before one (%3D,
# \u0022) is not a letter either; that is dearer to test, so the quoted forms go without it.
_BEFORE = r"(?<![A-Za-z0-9])"
_BEFORE_ESCAPED = r"(?:(?<![A-Za-z0-9])|(?<=%[0-9A-Fa-f]{2})|(?<=\\u[0-9A-Fa-f]{4}))"
_AFTER = r"(?![A-Za-z0-9])"
# Patterns of the rare paths, compiled (and cached by re) at their first use, not at import.
# Digits as phone numbers are written: grouped by spaces, dots, dashes, slashes and brackets.
_PHONE_WRITTEN = r"[+(]*\d(?:[\s().\-/]*\d)*"
# Runs of escapes, each decoded as a whole (the bytes of one character travel together).
_PERCENT_RUN = r"(?:%[0-9A-Fa-f]{2})+"
_UNICODE_ESCAPE_RUN = r"(?:\\u[0-9A-Fa-f]{4})+"
_BYTE_ESCAPE_RUN = r"(?:\\x[0-9A-Fa-f]{2})+"
_MAX_DECODINGS = 4  # encoded twice, and an entity inside: more than any plausible echo
_MAX_READINGS = 32  # a text with every kind of escape: still a bounded cost


class Redactor:
    """Vendors may quote the identifier in an error; reasons are logged and stored, it may not be.
    Built once per call: each distinct reason is redacted once, whatever the number of verdicts
    that carry it (an all-error answer repeats one text for every id).

    Cheap for the common case: building it derives a few strings per identifier, and a text is
    first tested for the identifiers' letters and digits (`pieces`), in the text as it is and
    decoded. Only the identifiers found there have their quoted forms looked for and cut out,
    and then, if that did not clear the text, every spelling of them (a pattern built once)."""

    def __init__(self, targets: list[Target]):
        self.values: list[str] = []  # each distinct identifier value
        self.forms: list[list[tuple[str, str]]] = []  # each value's quoted forms: (lowered, form)
        self.pieces: dict[str, list[int]] = {}  # what a text may not hold -> the values it is of
        self.short: list[int] = []  # values too short for pieces: their forms are always looked for
        self.phones: dict[int, str] = {}  # a phone number's index -> its national digits
        self.domains: list[int] = []  # emails whose domain IDNA spells otherwise, not yet spelled
        indexes: dict[str, int] = {}
        for target in targets:
            value = target.identifier.value
            if value in indexes:
                continue
            index = indexes[value] = len(self.values)
            self.values.append(value)
            self.forms.append([(form.lower(), form) for form in _forms(value) if form])
            pieces = _skeletons(value)
            # A phone number, or any identifier written as one (a custom id, an external id).
            if target.identifier.type is IdentifierType.PHONE_NUMBER or _E164.fullmatch(value):
                national = _national_digits(value)
                if national:
                    self.phones[index] = national
                    pieces.add(national)
            for piece in pieces:
                self.pieces.setdefault(piece, []).append(index)
            if not pieces:
                self.short.append(index)
            if "@" in value and (not value.isascii() or "xn--" in value.lower()):
                self.domains.append(index)
        self.piece_list = list(self.pieces)
        self.spellings: dict[int, str] = {}
        self.redacted: dict[str, str] = {}

    def __call__(self, verdict: Verdict) -> Verdict:
        return replace(verdict, reason=self.text(verdict.reason) or "") if verdict.reason else verdict

    def text(self, text: str | None) -> str | None:
        """A vendor's text as it may be kept: any identifier it quotes cut out."""
        if not text:
            return text
        if text not in self.redacted:
            self.redacted[text] = self._redact(text)
        return self.redacted[text]

    def _redact(self, reason: str) -> str:
        if self.domains and (not reason.isascii() or "xn--" in reason.lower()):
            self._spell_domains()
        found = self._found(reason)  # cheap test first
        if not found and not self.short:
            return reason[:MAX_REASON_LENGTH]
        lowered = reason.lower()
        quoted = [form for i in (*found, *self.short) for lower, form in self.forms[i] if lower in lowered]
        if quoted:  # longest first, so that an id inside a longer one is not cut out of it
            reason = _cut(
                reason, [re.escape(form) for form in sorted(quoted, key=len, reverse=True)], _BEFORE
            )
        # Quoting forms are endless (escaped twice, a language's repr, re-spaced, encoded in
        # part): if what is left of any identifier once the text is decoded and punctuation,
        # escapes and spaces are ignored is still in it, each character's spellings are cut
        # out where they can be placed, and the text withheld if that was not all.
        found = self._found(reason) if found else []
        if found:
            reason = self._cut_spellings(reason, found)
            if self._found(reason):
                return WITHHELD_REASON
        return reason[:MAX_REASON_LENGTH]

    def _found(self, text: str) -> list[int]:
        """The values whose letters and digits the text holds, read as it is or decoded."""
        # Skeletons are letters and digits: no piece can span the space that joins them.
        skeletons = " ".join(_skeleton(reading) for reading in _readings(text))
        held = list(filter(skeletons.__contains__, self.piece_list))
        return sorted({i for piece in held for i in self.pieces[piece]}) if held else []

    def _cut_spellings(self, text: str, found: list[int]) -> str:
        """`text` with every spelling of the found values cut out: each character as it is, in
        another normalization or width, percent-encoded (once or twice), as an HTML entity, a
        JSON or byte escape, or UTF-8 read as Latin-1; and phone numbers in any grouping."""
        for index in found:
            if index not in self.spellings:
                self.spellings[index] = _spelling(self.values[index])
        spellings = [self.spellings[i] for i in sorted(found, key=lambda i: -len(self.values[i]))]
        text = _cut(text, spellings, _BEFORE_ESCAPED)
        nationals = [self.phones[i] for i in found if i in self.phones]
        if nationals:

            def national(match: re.Match[str]) -> str:
                digits = "".join(filter(str.isdigit, match.group()))
                return PLACEHOLDER if any(n in digits for n in nationals) else match.group()

            text = re.sub(_PHONE_WRITTEN, national, text)
        return text

    def _spell_domains(self) -> None:
        """Learn the other spelling of each email's domain (IDNA or Unicode), the first time a
        text could hold one: IDNA's nameprep is the dearest step of all, and rarely needed."""
        for index in self.domains:
            for variant in _idna_variants(self.values[index]):
                self.forms[index].append((variant.lower(), variant))
                piece = _skeleton(variant)
                if len(piece) >= MIN_SKELETON:
                    self.pieces.setdefault(piece, []).append(index)
        self.piece_list = list(self.pieces)
        self.domains = []


def _cut(text: str, alternatives: list[str], before: str) -> str:
    """`text` with each match of the patterns, as a whole token, replaced by the placeholder."""
    pattern = f"{before}(?:{'|'.join(alternatives)}){_AFTER}"
    return re.sub(pattern, PLACEHOLDER, text, flags=re.IGNORECASE)


def _forms(value: str) -> set[str]:
    """The ways a vendor most often quotes `value`, looked for as plain substrings: as sent,
    without a phone's +, as JSON escapes it (\\u00eb, \\/), percent-encoded with or without
    its slashes, plus-encoded, each of those encoded again (hex in any case: the test ignores
    case), and in NFC and NFD. All derived from one quote(): it is the dear part."""
    escaped = json.dumps(value)[1:-1]
    forms = {value, value.lstrip("+"), escaped, escaped.replace("/", "\\/")}
    single = quote(value, safe="")
    if single != value:
        encoded = {single, single.replace("%2F", "/")}  # quote(value) keeps / by default
        if " " in value:
            encoded |= {form.replace("%20", "+") for form in encoded}  # quote_plus
        twice = {form.replace("%", "%25").replace("+", "%2B").replace("/", "%2F") for form in encoded}
        forms |= encoded | twice
    if not value.isascii():
        forms |= {unicodedata.normalize("NFC", value), unicodedata.normalize("NFD", value)}
    return forms


def _skeletons(value: str) -> set[str]:
    """The identifier's letters and digits as written, as a JSON escape writes them (\\u00eb for
    ë), and without its accents; none under four characters, too short to say anything."""
    variants = {value}
    if not (value.isascii() and value.isprintable()):  # else JSON escapes " and \, no letter
        variants.add(json.dumps(value))
    if not value.isascii():
        decomposed = unicodedata.normalize("NFKD", value)
        variants.add("".join(c for c in decomposed if not unicodedata.combining(c)))
    return {s for s in map(_skeleton, variants) if len(s) >= MIN_SKELETON}


def _national_digits(value: str) -> str | None:
    """What every national writing of an E.164 number holds. Its country code is 1 to 3 digits,
    unknown without a numbering plan, so: the digits left by the longest code that leaves at
    least six (what the shorter codes leave contains them)."""
    digits = value.lstrip("+")
    if not digits.isdigit() or len(digits) <= MIN_NATIONAL_DIGITS:
        return None
    return digits[-max(MIN_NATIONAL_DIGITS, len(digits) - 3) :]


def _idna_variants(value: str) -> set[str]:
    """An email address with its domain in its other spelling: bücher.de or xn--bcher-kva.de."""
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        return set()
    try:
        if not domain.isascii():
            return {f"{local}@{domain.encode('idna').decode('ascii')}"}
        if "xn--" in domain.lower():
            return {f"{local}@{domain.encode('ascii').decode('idna')}"}
    except ValueError:  # not a domain IDNA can spell: an empty or overlong label, bad punycode
        pass
    return set()


def _skeleton(text: str) -> str:
    """Letters and digits only, compared without case and normalization differences (NFKC
    folds NFD, compatibility and full-width forms alike)."""
    folded = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()
    return _NOT_ALPHANUMERIC.sub("", folded)


def _readings(text: str) -> list[str]:
    """The text, and what undoing its escapes and encodings gives, one decoding at a time and in
    every order (html.escape leaves an identifier's own %41 as it is: decoding it as well as the
    entities would lose it), each encoding inside another undone by a later step."""
    readings, fresh = [text], [text]
    for _ in range(_MAX_DECODINGS):
        fresh = [d for reading in fresh for d in (decode(reading) for decode in _DECODERS) if d != reading]
        fresh = [d for d in dict.fromkeys(fresh) if d not in readings]
        readings += fresh
        if not fresh or len(readings) > _MAX_READINGS:
            break
    return readings


def _percent_decoded(text: str) -> str:
    if "%" not in text:
        return text
    return re.sub(_PERCENT_RUN, lambda m: _from_bytes(bytes.fromhex(m.group().replace("%", ""))), text)


def _entities_decoded(text: str) -> str:
    return html.unescape(text) if "&" in text else text


def _escapes_decoded(text: str) -> str:
    """JSON's \\u00eb and a bytes repr's \\xc3\\xab."""
    if "\\" not in text:
        return text
    text = re.sub(_UNICODE_ESCAPE_RUN, _json_unescaped, text)
    return re.sub(_BYTE_ESCAPE_RUN, lambda m: _from_bytes(bytes.fromhex(m.group().replace("\\x", ""))), text)


def _mojibake_decoded(text: str) -> str:
    return text if text.isascii() else _mojibake_run().sub(_mojibake_repaired, text)


@cache
def _mojibake_run() -> re.Pattern[str]:
    """UTF-8 read as Latin-1 or cp1252: a lead byte's character, then continuation bytes'. Built
    at the first text that is not ASCII: its compilation is most of this module's import time."""
    continuation = bytes(range(0x80, 0xC0)).decode("latin-1")
    continuation += bytes(range(0x80, 0xA0)).decode("cp1252", errors="ignore")
    return re.compile(f"[\u00c2-\u00f4][{re.escape(continuation)}]+")


_DECODERS = (_percent_decoded, _entities_decoded, _escapes_decoded, _mojibake_decoded)


def _from_bytes(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # a legacy encoder's %EB for ë


def _json_unescaped(match: re.Match[str]) -> str:
    try:
        return json.loads(f'"{match.group()}"')
    except ValueError:
        return match.group()


def _mojibake_repaired(match: re.Match[str]) -> str:
    data = bytearray()
    for char in match.group():
        try:
            data += char.encode("cp1252")
        except UnicodeEncodeError:
            data += char.encode("latin-1")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return match.group()


def _spelling(value: str) -> str:
    """A pattern of `value` with each character in any of its spellings."""
    return "".join(_character(char) for char in unicodedata.normalize("NFC", value))


@lru_cache(maxsize=2048)
def _character(char: str) -> str:
    """A pattern of one character in every spelling a vendor may echo it in (letter case, and
    the case of hex digits, are left to the IGNORECASE flag)."""
    code = ord(char)
    entity = "&(?:amp;)?"  # an entity, or one escaped again
    spellings = {
        re.escape(char),
        "".join(f"%(?:25)?{byte:02X}" for byte in char.encode("utf-8")),
        f"{entity}#0*{code};",
        f"{entity}#x0*{code:X};",
    }
    if "!" <= char <= "~":
        spellings.add(re.escape(chr(code + 0xFEE0)))  # full-width
    if char == " ":
        spellings.add(r"\+")
    if not char.isascii() or char in '"\\':
        spellings.add(re.escape(json.dumps(char)[1:-1]))  # \u00eb, \ud83d\ude00, \"
    if char == "/":
        spellings.add(re.escape("\\/"))
    if not (char.isascii() and char.isalnum()):
        spellings |= {entity + re.escape(name) for name in _entity_names().get(char, ())}
    if not char.isascii():
        encoded = char.encode("utf-8")
        if code < 0x100:
            spellings.add(f"%(?:25)?{code:02X}")  # percent-encoded in Latin-1
        spellings.add(re.escape("".join(f"\\x{byte:02x}" for byte in encoded)))
        for codec in ("latin-1", "cp1252"):
            with contextlib.suppress(UnicodeDecodeError):  # cp1252 leaves five bytes undefined
                spellings.add(re.escape(encoded.decode(codec)))
        decomposed = unicodedata.normalize("NFD", char)
        if decomposed != char:
            spellings.add("".join(_character(part) for part in decomposed))
    return "(?:" + "|".join(sorted(spellings, key=lambda s: (-len(s), s))) + ")"


@cache
def _entity_names() -> dict[str, list[str]]:
    """HTML's named entities by the character they stand for (&commat; for @)."""
    from html.entities import html5  # loaded with html already

    names: dict[str, list[str]] = {}
    for name, char in html5.items():
        if len(char) == 1:
            names.setdefault(char, []).append(name)
    return names
