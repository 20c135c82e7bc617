"""Braze: remove deprecated external ids, or delete whole profiles; 50 ids a call for both.

- remove_identifier: POST /users/external_ids/remove, 1,000 requests/minute. An id is removed iff
  it is in `removed_ids`; `removal_errors` refer to an index of the request array, in a shape the
  docs leave open (seen as strings and as arrays): every plausible shape is read.
- delete_profile: POST /users/delete, 20,000 requests/minute shared with /users/identify,
  /users/alias/* and /users/merge, so the relay takes a quarter of it. One identifier type a call.
  The answer {"deleted": n} counts deletions *queued*, not which: every id is `accepted`.
  Emails and phones carry a `prioritization` (BRAZE_DELETE_PRIORITIZATION): which profile to
  delete when several hold the address. Default "identified,most_recently_updated": the person's
  own (identified) profile first, the latest one when several are; Braze deletes nothing when
  the rule leaves several, and verification shows what is left.
- verification: POST /users/export/ids, 50 external ids or aliases a call, or one braze id,
  email or phone; 250 requests/minute for workspaces created on or after 2024-08-22 (2,500 for
  older ones: BRAZE_EXPORT_LIMIT_PER_MINUTE). Gone means no user in `users` (by email or phone
  several can match), never judged from `invalid_user_ids`. First check 5 minutes after the
  deletion: Braze advises that long between dependent calls. Only profile deletions are checked:
  the export is not documented to find a user by a deprecated id, so a removal is unverifiable.
Rate headers (X-RateLimit-*) come on every answer, possibly lowercase; no Retry-After.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
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
    verdict_for_status,
)
from erasure.request import Action, Identifier, IdentifierType
from erasure.vendors.base import Connector, Lookup, Operation, Target, error_text, is_text, mentions

# Documented REST hosts by dashboard instance. EU lives on .braze.eu, not .braze.com.
INSTANCE_HOSTS = {
    **{f"US-0{n}": f"rest.iad-0{n}.braze.com" for n in range(1, 9)},
    "US-10": "rest.us-10.braze.com",
    "EU-01": "rest.fra-01.braze.eu",
    "EU-02": "rest.fra-02.braze.eu",
    "AU-01": "rest.au-01.braze.com",
    "ID-01": "rest.id-01.braze.com",
    "JP-01": "rest.jp-01.braze.com",
    "KR-01": "rest.kr-01.braze.com",
}
_INDEX = re.compile(r"index\D{0,3}(\d+)", re.IGNORECASE)
_ABSENT = re.compile(r"not found|does not exist|doesn't exist|no user|unknown (external )?id", re.IGNORECASE)
# Which /users/delete array each of our identifier types goes in.
DELETE_FIELDS = {
    IdentifierType.EXTERNAL_ID: "external_ids",
    IdentifierType.BRAZE_ID: "braze_ids",
    IdentifierType.USER_ALIAS: "user_aliases",
    IdentifierType.EMAIL: "email_addresses",
    IdentifierType.PHONE_NUMBER: "phone_numbers",
}
# Which /users/export/ids field each type is looked up by: a list (50 a call) or one value.
EXPORT_LISTS = {IdentifierType.EXTERNAL_ID: "external_ids", IdentifierType.USER_ALIAS: "user_aliases"}
EXPORT_SINGLE = {
    IdentifierType.BRAZE_ID: "braze_id",
    IdentifierType.EMAIL: "email_address",
    IdentifierType.PHONE_NUMBER: "phone",
}
# What a lookup made to resolve asks for, and the type of each exported id.
RESOLVE_FIELDS = ("braze_id", "external_id", "email", "phone", "user_aliases")
RESOLVED_TYPES = {
    "braze_id": IdentifierType.BRAZE_ID,
    "external_id": IdentifierType.EXTERNAL_ID,
    "email": IdentifierType.EMAIL,
    "phone": IdentifierType.PHONE_NUMBER,
}
PRIORITIES = ("identified", "unidentified", "most_recently_updated")
DEFAULT_PRIORITIZATION = "identified,most_recently_updated"


def _post(settings: VendorSettings, path: str, body: dict) -> HttpRequest:
    headers = {
        "Authorization": f"Bearer {settings.credentials['api_key']}",
        "Content-Type": "application/json",
    }
    return HttpRequest("POST", f"{settings.base_url}{path}", headers, json_bytes(body))


class RemoveExternalIds(Operation):
    key, action, name = "remove", Action.REMOVE_IDENTIFIER, "POST /users/external_ids/remove"
    serves = frozenset({IdentifierType.EXTERNAL_ID})
    max_batch = 50
    requests_per_minute = 1000

    def build(self, targets: list[Target], settings: VendorSettings) -> HttpRequest:
        return _post(
            settings, "/users/external_ids/remove", {"external_ids": [t.identifier.value for t in targets]}
        )

    def read(self, answer: HttpAnswer, targets: list[Target]) -> list[Verdict]:
        body = answer.json()
        if not 200 <= answer.status < 300:
            return [verdict_for_status(answer.status, error_text(body), answer.headers)] * len(targets)
        if not isinstance(body, dict) or not isinstance(body.get("removed_ids"), list):
            return [Verdict(Outcome.TRANSIENT, "malformed answer", answer.status)] * len(targets)
        removed = {str(i) for i in body["removed_ids"]}
        errors = _errors_by_index(body.get("removal_errors") or [], [t.identifier.value for t in targets])
        verdicts = []
        for index, target in enumerate(targets):
            if target.identifier.value in removed:
                verdicts.append(Verdict(Outcome.DELETED, "", answer.status))
            elif index in errors:
                absent = _ABSENT.search(errors[index])
                outcome = Outcome.ALREADY_ABSENT if absent else Outcome.REFUSED
                verdicts.append(Verdict(outcome, errors[index], answer.status))
            else:
                # Not removed and no error names it: never claim a deletion we cannot prove.
                verdicts.append(Verdict(Outcome.TRANSIENT, "removal not confirmed", answer.status))
        return verdicts


class DeleteUsers(Operation):
    key, action, name = "delete", Action.DELETE_PROFILE, "POST /users/delete"
    serves = frozenset(DELETE_FIELDS)
    max_batch = 50
    requests_per_minute = 20_000
    rate_share = 0.25  # shared with the customer's own identify, alias and merge calls

    def build(self, targets: list[Target], settings: VendorSettings) -> HttpRequest:
        field = DELETE_FIELDS[targets[0].identifier.type]
        entries = [_delete_entry(t.identifier, settings.options["prioritization"]) for t in targets]
        return _post(settings, "/users/delete", {field: entries})

    def read(self, answer: HttpAnswer, targets: list[Target]) -> list[Verdict]:
        body = answer.json()
        if not 200 <= answer.status < 300:
            return [verdict_for_status(answer.status, error_text(body), answer.headers)] * len(targets)
        queued = body.get("deleted") if isinstance(body, dict) else None
        if not isinstance(queued, int) or isinstance(queued, bool) or queued < 0:
            return [Verdict(Outcome.TRANSIENT, "malformed answer", answer.status)] * len(targets)
        reason = (
            f"queued for deletion: {queued} of the {len(targets)} in this call (Braze does not say which)"
        )
        return [Verdict(Outcome.ACCEPTED, reason, answer.status)] * len(targets)


class ExportIds(Lookup):
    key, name = "export", "POST /users/export/ids"
    serves = frozenset({*EXPORT_LISTS, *EXPORT_SINGLE})
    # By email or phone, /users/delete follows a prioritization rule and may delete none or the
    # wrong one of several profiles: they are found here and deleted by braze_id instead.
    resolves = frozenset({IdentifierType.EMAIL, IdentifierType.PHONE_NUMBER})
    verifies = frozenset({Action.DELETE_PROFILE})
    # An export by a deprecated id is not documented to find its user, so finding no one by it
    # would prove nothing.
    cannot_verify = "Braze's export finds users by their current external id, not by a removed deprecated one"
    max_batch = 50
    requests_per_minute = 250

    def max_batch_for(self, group: Any) -> int:
        return self.max_batch if group in EXPORT_LISTS else 1

    def build(self, targets: list[Target], settings: VendorSettings) -> HttpRequest:
        kind = targets[0].identifier.type
        # Only what tells whom a user is: the fewest fields that map users back to the ids asked;
        # to resolve, every id a profile can be deleted by or known to other vendors by.
        if targets[0].resolving:
            fields = list(RESOLVE_FIELDS)
        else:
            fields = ["braze_id", "external_id"] + (
                ["user_aliases"] if kind is IdentifierType.USER_ALIAS else []
            )
        body: dict[str, Any]
        if kind in EXPORT_LISTS:
            body = {EXPORT_LISTS[kind]: [_delete_entry(t.identifier, ()) for t in targets]}
        else:
            body = {EXPORT_SINGLE[kind]: targets[0].identifier.value}
        body["fields_to_export"] = fields
        return _post(settings, "/users/export/ids", body)

    def read(self, answer: HttpAnswer, targets: list[Target]) -> list[Verdict]:
        body = answer.json()
        if not 200 <= answer.status < 300:
            return [lookup_verdict_for_status(answer.status, error_text(body), answer.headers)] * len(targets)
        users = body.get("users") if isinstance(body, dict) else None
        if not isinstance(users, list) or not all(isinstance(u, dict) for u in users):
            return [Verdict(Outcome.TRANSIENT, "malformed answer", answer.status)] * len(targets)
        present = Verdict(Verification.STILL_PRESENT, "Braze still exports a user by it", answer.status)
        absent = Verdict(Verification.VERIFIED_ABSENT, "Braze exports no user by it", answer.status)
        if targets[0].resolving and any(
            not isinstance(u.get("braze_id"), str) or not u["braze_id"] for u in users
        ):
            return [Verdict(Outcome.TRANSIENT, "an exported user without its braze_id", answer.status)] * len(
                targets
            )
        if len(targets) == 1:  # every user in the answer is this identifier's
            profiles = tuple(map(_profile, users)) if targets[0].resolving else ()
            return [replace(present, profiles=profiles) if users else absent]
        found = [_user_keys(u) for u in users]
        verdicts = [
            replace(present, profiles=_profiles_of(t, users, found))
            if any(_lookup_key(t.identifier) in keys for keys in found)
            else absent
            for t in targets
        ]
        if any(not keys & {_lookup_key(t.identifier) for t in targets} for keys in found):
            # A user that names none of the ids asked for could be any of them: none is proven gone.
            unknown = Verdict(
                Verification.UNVERIFIABLE, "Braze exported a user naming none of the ids", answer.status
            )
            verdicts = [v if v.outcome is Verification.STILL_PRESENT else unknown for v in verdicts]
        return verdicts


def _profile(user: dict) -> Profile:
    """An exported user as a profile: the ids it names (fields of another type are ignored)."""
    ids = [
        Identifier(kind, user[field])
        for field, kind in RESOLVED_TYPES.items()
        if isinstance(user.get(field), str) and user[field].strip()
    ]
    for alias in _aliases(user):
        if isinstance(alias, dict) and isinstance(alias.get("alias_name"), str):
            ids.append(
                Identifier(
                    IdentifierType.USER_ALIAS, alias["alias_name"], str(alias.get("alias_label") or "")
                )
            )
    person = user.get("external_id")
    return Profile(tuple(sorted(ids)), person if is_text(person) else None)


def _profiles_of(target: Target, users: list[dict], keys: list[set]) -> tuple[Profile, ...]:
    """The users of a batch answer that name this target, as profiles (only to resolve)."""
    if not target.resolving:
        return ()
    return tuple(
        _profile(u) for u, named in zip(users, keys, strict=True) if _lookup_key(target.identifier) in named
    )


def _aliases(user: dict) -> list:
    """The user's aliases, when its answer holds a list of them."""
    aliases = user.get("user_aliases")
    return aliases if isinstance(aliases, list) else []


def _lookup_key(identifier: Identifier) -> tuple[str, str]:
    return (
        (identifier.value, identifier.name)
        if identifier.type is IdentifierType.USER_ALIAS
        else (identifier.value, "")
    )


def _user_keys(user: dict) -> set[tuple[str, str]]:
    """How an exported user answers a batch lookup: its external id and its aliases."""
    keys = {(user["external_id"], "")} if isinstance(user.get("external_id"), str) else set()
    for alias in _aliases(user):
        if isinstance(alias, dict) and isinstance(alias.get("alias_name"), str):
            keys.add((alias["alias_name"], str(alias.get("alias_label") or "")))
    return keys


def _delete_entry(identifier: Identifier, prioritization: tuple[str, ...]) -> Any:
    if identifier.type is IdentifierType.EMAIL:
        return {"email": identifier.value, "prioritization": list(prioritization)}
    if identifier.type is IdentifierType.PHONE_NUMBER:
        return {"phone": identifier.value, "prioritization": list(prioritization)}
    if identifier.type is IdentifierType.USER_ALIAS:
        return {"alias_name": identifier.value, "alias_label": identifier.name}
    return identifier.value


class Braze(Connector):
    name = "braze"
    operations = (RemoveExternalIds(), DeleteUsers())
    lookup = ExportIds()

    def erase_by(self, profile: Profile) -> tuple[Identifier, ...]:
        """Exactly this profile: its braze_id (a resolving export always names it)."""
        return tuple(i for i in profile.identifiers if i.type is IdentifierType.BRAZE_ID)

    verify_after_s = 300
    credential_fields = ("api_key",)
    url_variable, host_variable, hosts = "BRAZE_REST_ENDPOINT", "BRAZE_INSTANCE", INSTANCE_HOSTS
    default_concurrency = 4

    def options(self, env: Mapping[str, str]) -> Mapping[str, Any]:
        raw = env.get("BRAZE_DELETE_PRIORITIZATION", "").strip() or DEFAULT_PRIORITIZATION
        order = tuple(p.strip() for p in raw.split(","))
        if (
            not set(order) <= set(PRIORITIES)
            or len(set(order)) != len(order)
            or {"identified", "unidentified"} <= set(order)
        ):
            raise ConfigError(
                "BRAZE_DELETE_PRIORITIZATION must list, by comma, some of identified, unidentified, "
                "most_recently_updated, each once, never both identified and unidentified"
            )
        return {"prioritization": order}


def _errors_by_index(removal_errors: list, ids: list[str]) -> dict[int, str]:
    """Map each removal error to the index of the request array it refers to."""
    found: dict[int, str] = {}
    for error in removal_errors:
        parts = error if isinstance(error, (list, tuple)) else [error]
        if isinstance(error, dict):
            parts = [error.get("index"), error.get("message") or error.get("error") or ""]
        index, texts = None, []
        for part in parts:
            if isinstance(part, int) and not isinstance(part, bool):
                index = part
            elif isinstance(part, str):
                if part in ids:
                    index = ids.index(part) if index is None else index
                    continue
                texts.append(part)
                match = _INDEX.search(part)
                if index is None and match:
                    index = int(match.group(1))
        if index is None:  # last resort: the error quotes one of the ids (the longest that fits)
            quoted = [i for i, v in enumerate(ids) if any(mentions(t, v) for t in texts)]
            index = max(quoted, key=lambda i: len(ids[i]), default=None)
        if index is not None and 0 <= index < len(ids):
            found.setdefault(index, "; ".join(texts) or "removal error")
    return found
