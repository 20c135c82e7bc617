"""A person's identifiers: their types, and the `identity` object of a request read into them,
every bad one named (by its key when it is a name, never by its value)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from erasure.errors import FieldError, field_name

MAX_IDENTIFIER_LENGTH = 512
MAX_CUSTOM_IDENTIFIERS = 20
MAX_CUSTOM_NAME_LENGTH = 64
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Deliberately plain: one @, a dotted domain, no spaces. Vendors validate further.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CUSTOM_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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


def read_identifiers(identity: Any, errors: list[FieldError]) -> tuple[Identifier, ...]:
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
            errors.append(FieldError(f"identity.{field_name(key, position)}", "unknown identifier type"))
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
        where = f"identity.custom.{field_name(name, position)}"
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
