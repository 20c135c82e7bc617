"""Insider: one person a call, at unification.useinsider.com; 5 MB at most a request.

- remove_identifier: DELETE /api/user/v1/identity deletes the value of one identifier and keeps
  the user; we send one identifier a call, so every answer is about exactly one. Deleting a
  user's sole identifier is a 400. 1,000 requests/minute (another page says 25,000: a setting).
- delete_profile: POST /api/user/v1/delete erases the person; one call carries every identifier
  we know them by, and must include the account's unifier identifier (without it Insider refuses:
  `refused`, with its reason). 200 {} says nothing of when: `accepted`. 10,000 requests/minute.
X-PARTNER-NAME must be lowercase. Throttling is a 429 with Retry-After, or on some hosts a 403
"Request limit exceeded"; 404 "no such user" means the identifiers name no one.

Verification: POST /api/user/v1/profile, one identifier a call (so that an answer is about that
identifier alone); gone is its documented 404 "no such user for these identifiers", present is a
200 with the profile. Its quota (1,000 units a minute) is shared with the account's other reads:
the relay takes half (INSIDER_PROFILE_RATE_SHARE). The delete's timing is undocumented: first
check after 5 minutes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from erasure.config import VendorSettings
from erasure.errors import ConfigError
from erasure.http_client import HttpAnswer, HttpRequest, json_bytes
from erasure.outcomes import (
    Outcome,
    Profile,
    Verdict,
    Verification,
    lookup_verdict_for_status,
    retry_after_seconds,
    verdict_for_status,
)
from erasure.request import Action, Identifier, IdentifierType
from erasure.vendors.base import Connector, Lookup, Operation, Target, error_text, is_text

RESOLVED_TYPES = {
    "email": IdentifierType.EMAIL,
    "phone_number": IdentifierType.PHONE_NUMBER,
    "uuid": IdentifierType.UUID,
}
_CUSTOM_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
SERVED = frozenset(
    {IdentifierType.EMAIL, IdentifierType.PHONE_NUMBER, IdentifierType.UUID, IdentifierType.CUSTOM}
)
MAX_BODY_BYTES = 5 * 1024 * 1024


def _request(
    method: str, path: str, targets: list[Target], settings: VendorSettings, **extra: object
) -> HttpRequest:
    identifiers: dict = {}
    for identifier in (t.identifier for t in targets):
        if identifier.type is IdentifierType.CUSTOM:
            identifiers.setdefault("custom", {})[identifier.name] = identifier.value
        else:
            identifiers[str(identifier.type)] = identifier.value
    headers = {
        "X-PARTNER-NAME": settings.credentials["partner_name"].lower(),
        "X-REQUEST-TOKEN": settings.credentials["request_token"],
        "Content-Type": "application/json",
    }
    body = {"identifiers": identifiers, **extra}
    return HttpRequest(method, f"{settings.base_url}{path}", headers, json_bytes(body))


def _read(
    answer: HttpAnswer, success: Verdict, absent: Outcome | Verification, by_status=verdict_for_status
) -> Verdict:
    """Every call's answers: `success` for the documented {} or empty body, `absent` (with the
    vendor's text) for the 404 "no such user", and nothing else."""
    body = answer.json()
    text = error_text(body)
    lowered = text.lower()
    if answer.status == 200 and (body == {} or not answer.body.strip()):
        # Only the documented 200: a 202 is "accepted, not yet done", and an HTML page or an error
        # envelope inside a 2xx is not proof (read as transient below).
        return success
    if answer.status == 404 and "no such user" in lowered:
        return Verdict(absent, text, answer.status)
    if answer.status == 400 and "partner is invalid" in lowered:
        return Verdict(Outcome.UNAUTHORIZED, text, answer.status)
    if answer.status == 403 and "limit" in lowered:
        return Verdict(Outcome.THROTTLED, text, answer.status, retry_after_seconds(answer.headers))
    # Other 400s (the sole identifier, no unifier) are refusals; any other 2xx proves nothing.
    return by_status(answer.status, text, answer.headers)


class DeleteIdentity(Operation):
    key, action, name = "identity", Action.REMOVE_IDENTIFIER, "DELETE /api/user/v1/identity"
    serves = SERVED
    max_batch = 1
    requests_per_minute = 1000
    max_body_bytes = MAX_BODY_BYTES

    def build(self, targets: list[Target], settings: VendorSettings) -> HttpRequest:
        return _request("DELETE", "/api/user/v1/identity", targets, settings)

    def read(self, answer: HttpAnswer, targets: list[Target]) -> list[Verdict]:
        deleted = Verdict(Outcome.DELETED, "", answer.status)
        return [_read(answer, deleted, Outcome.ALREADY_ABSENT)] * len(targets)


class DeleteUser(Operation):
    key, action, name = "delete", Action.DELETE_PROFILE, "POST /api/user/v1/delete"
    serves = SERVED
    max_batch = 64  # more than any one person's identifiers: the call is the whole person
    per_person = True
    requests_per_minute = 10_000
    max_body_bytes = MAX_BODY_BYTES

    def build(self, targets: list[Target], settings: VendorSettings) -> HttpRequest:
        return _request("POST", "/api/user/v1/delete", targets, settings)

    def read(self, answer: HttpAnswer, targets: list[Target]) -> list[Verdict]:
        accepted = Verdict(
            Outcome.ACCEPTED, "Insider took the erasure; its answer {} says no more", answer.status
        )
        return [_read(answer, accepted, Outcome.ALREADY_ABSENT)] * len(targets)


class ProfileLookup(Lookup):
    key, name = "profile", "POST /api/user/v1/profile"
    serves = SERVED
    # The delete must carry the account's unifier, which the caller may not have given: the
    # person's identifiers are read first, whichever one was given.
    resolves = SERVED
    max_batch = 1
    requests_per_minute = 1000  # units of a quota; a one-attribute read costs one
    rate_share = 0.5  # the quota is shared with the account's own reads
    max_body_bytes = MAX_BODY_BYTES

    def build(self, targets: list[Target], settings: VendorSettings) -> HttpRequest:
        # To verify, one attribute (the docs' own example: a read must ask for attributes or
        # events); to resolve, every identifier, the configured custom ones included.
        attributes = ["email"]
        if targets[0].resolving:
            attributes = [*RESOLVED_TYPES, *settings.options.get("custom_identifiers", ())]
        return _request("POST", "/api/user/v1/profile", targets, settings, attributes=attributes, quota=True)

    def read(self, answer: HttpAnswer, targets: list[Target]) -> list[Verdict]:
        body = answer.json()
        # Present is the documented 200 with the profile's attributes; any other object is no proof.
        if answer.status == 200 and isinstance(body, dict) and isinstance(body.get("attributes"), dict):
            profile = _profile(body["attributes"])
            return [
                Verdict(
                    Verification.STILL_PRESENT,
                    "Insider still returns the profile",
                    answer.status,
                    profiles=(profile,),
                )
            ]
        # An empty 2xx is no profile either way: not proof of absence, so tried again.
        unproven = Verdict(Outcome.TRANSIENT, "an empty answer to a profile read", answer.status)
        return [_read(answer, unproven, Verification.VERIFIED_ABSENT, lookup_verdict_for_status)]


def _profile(attributes: dict) -> Profile:
    """The identifiers among a profile's attributes: the default ones, and custom ones either
    under `custom` or by their own name (the page does not show which)."""
    ids = [
        Identifier(kind, attributes[name])
        for name, kind in RESOLVED_TYPES.items()
        if is_text(attributes.get(name))
    ]
    given = attributes.get("custom")
    custom: dict = given if isinstance(given, dict) else {}
    named = {k: v for k, v in attributes.items() if k not in RESOLVED_TYPES and k != "custom"}
    ids += [
        Identifier(IdentifierType.CUSTOM, v, k)
        for k, v in {**named, **custom}.items()
        if is_text(v) and isinstance(k, str)
    ]
    uuid = attributes.get("uuid")
    return Profile(tuple(sorted(set(ids))), uuid if is_text(uuid) else None)


class Insider(Connector):
    name = "insider"
    person_type = IdentifierType.UUID
    operations = (DeleteIdentity(), DeleteUser())
    lookup = ProfileLookup()
    verify_after_s = 300
    credential_fields = ("partner_name", "request_token")
    url_variable, default_url = "INSIDER_API_URL", "https://unification.useinsider.com"
    default_concurrency = 8

    def options(self, env: Mapping[str, str]) -> Mapping[str, Any]:
        names = tuple(n.strip() for n in env.get("INSIDER_CUSTOM_IDENTIFIERS", "").split(",") if n.strip())
        if any(not _CUSTOM_NAME.fullmatch(n) for n in names):
            raise ConfigError("INSIDER_CUSTOM_IDENTIFIERS must list custom identifier names by comma")
        return {"custom_identifiers": names}
