"""Braze: removes deprecated external ids, deletes whole profiles, and exports them.

Documentation:
https://www.braze.com/docs/api/endpoints/user_data/external_id_migration/post_remove_external_id/
https://www.braze.com/docs/api/endpoints/user_data/post_user_delete/
https://www.braze.com/docs/api/endpoints/export/user_data/post_users_identifier/

Endpoints (route names in brackets)
    POST /users/external_ids/remove   [remove] remove deprecated external ids (201)
    POST /users/delete                [delete] delete profiles: {"deleted": n} (201); one
                                      identifier type, 50 at most; email and phone entries carry
                                      a prioritization (identified | unidentified,
                                      most_recently_updated) and delete nothing when it leaves
                                      several users
    POST /users/export/ids            [export, a lookup] exactly one of external_ids or
                                      user_aliases (50 at most), braze_id, email_address or phone,
                                      and fields_to_export (required): 201 {"users": [...],
                                      "invalid_user_ids": [...] (for external_ids only),
                                      "message": "success"}; every user found (by email or phone
                                      there can be several), each with the requested fields among
                                      braze_id, external_id, email, phone, user_aliases that it
                                      has; an external id finds its user only while it is primary

Default credentials: api_key "local-braze-key" (Authorization: Bearer <api_key>)

Settings: api_key, rate_limits {"remove": 1000, "delete": 20000, "export": 250 (workspaces
created on or after 2024-08-22)}, rate_window_seconds 60, removal_error_shape "string" | "array"

Seed: {"braze": {"users": [{"primary": "u1", "deprecated": ["old-u1"], "braze_id": "b1",
                            "email": "a@example.com", "phone": "+6598765432",
                            "aliases": [{"alias_name": "n1", "alias_label": "crm"}]}]}}

Faults: a 429 carries the X-RateLimit-* headers; fail_in_200 is a 201 with a non-"success"
message and no removed_ids.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import replace
from typing import Any

from tools.vendor_sandbox.core import Reply, Request, Route, Vendor, WindowState, is_text, require


class Braze(Vendor):
    name = "braze"
    population_key = "users"
    success_status = 201  # reported, not documented: clients must accept any 2xx
    secret_headers = frozenset({"authorization"})
    DEFAULTS = {
        "latency": 0.0,
        "api_key": "local-braze-key",
        "rate_limits": {"remove": 1000, "delete": 20000, "export": 250},
        "rate_window_seconds": 60.0,
        "removal_error_shape": "string",
    }
    CHOICES = {"removal_error_shape": ("string", "array")}
    MAX_IDS = 50
    DELETE_KEYS = ("external_ids", "user_aliases", "braze_ids", "email_addresses", "phone_numbers")
    # Email and phone entries name which of the users holding them to delete.
    PRIORITIZED_KEYS = {"email_addresses": "email", "phone_numbers": "phone"}
    # An export names 50 external ids or aliases (as a delete does), or one of the others; each
    # single key finds users as the delete key it maps to.
    EXPORT_SINGLE_KEYS = {
        "braze_id": "braze_ids",
        "email_address": "email_addresses",
        "phone": "phone_numbers",
    }
    EXPORT_KEYS = ("external_ids", "user_aliases", *EXPORT_SINGLE_KEYS)
    EXPORT_FIELDS = {  # fields_to_export name -> user field
        "braze_id": "braze_id",
        "external_id": "primary",
        "email": "email",
        "phone": "phone",
        "user_aliases": "aliases",
    }
    USER_FIELDS = frozenset({"primary", "deprecated", "braze_id", "email", "phone", "aliases"})
    # The element format of removal_errors is undocumented (seen as strings and as arrays);
    # both shapes name the reason and the index in the request array.
    REMOVAL_REASONS = {
        "primary": ("is a primary id", "primary external id cannot be removed"),
        "unknown": ("does not exist", "external id not found"),
    }

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "/users/external_ids/remove"): Route("remove", self.remove_external_ids),
            ("POST", "/users/delete"): Route("delete", self.delete_users),
            ("POST", "/users/export/ids"): Route("export", self.export_users, lookup=True),
        }

    def authenticate(self, request: Request) -> Reply | None:
        presented = request.header("authorization") or ""
        if presented == f"Bearer {self.settings['api_key']}":
            return None
        return Reply(401, {"message": f"Invalid API key: {presented.removeprefix('Bearer ')}"})

    def error(self, status: int, message: str) -> Reply:
        return Reply(status, {"message": message, "errors": [message]})

    def rate_headers(self, state: WindowState) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(state.limit),
            "X-RateLimit-Remaining": str(state.remaining),
            "X-RateLimit-Reset": str(state.reset_at),
        }

    def throttled(self, state: WindowState | None) -> Reply:
        reply = self.error(429, "API rate limit exceeded")
        if state is not None:
            reply.headers.update(self.rate_headers(replace(state, remaining=0)))
        return reply

    def fail_in_200(self) -> Reply | None:
        return Reply(
            self.success_status,
            {"message": "Internal server error", "errors": ["internal error, retry later"]},
        )

    def documented_success(self, route: str, request: Request) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        if route == "remove":
            removed = body.get("external_ids") or []
            answer = {"message": "success", "removed_ids": removed, "removal_errors": []}
            return Reply(self.success_status, answer)
        if route == "delete":
            named = next((body[key] for key in self.DELETE_KEYS if key in body), [])
            return Reply(self.success_status, {"deleted": len(named) if isinstance(named, list) else 0})
        answer: dict[str, Any] = {"users": []}
        if isinstance(body.get("external_ids"), list):
            answer["invalid_user_ids"] = body["external_ids"]
        return Reply(self.success_status, {**answer, "message": "success"})

    def hostile_answer(self, route: str, request: Request) -> Reply:
        ids = request.body.get("external_ids") if isinstance(request.body, dict) else None
        if route != "remove" or not isinstance(ids, list) or not ids:
            return self.documented_success(route, request)
        # The last id refused as a primary one, quoted in its removal error.
        error = self._removal_error("primary", ids[-1], len(ids) - 1)
        return Reply(
            self.success_status, {"message": "success", "removed_ids": ids[:-1], "removal_errors": [error]}
        )

    def normalize(self, record: Any) -> dict[str, Any]:
        require(
            isinstance(record, dict) and set(record) <= self.USER_FIELDS,
            f"a braze user is an object with fields among {sorted(self.USER_FIELDS)}",
        )
        user = {"deprecated": [], **copy.deepcopy(record)}
        require(
            isinstance(user["deprecated"], list) and all(is_text(i) for i in user["deprecated"]),
            "braze deprecated ids must be a list of strings",
        )
        for key in ("primary", "braze_id", "email", "phone"):
            require(key not in user or is_text(user[key]), f"braze {key} must be a string")
        for alias in user.get("aliases", []):
            require(
                isinstance(alias, dict) and set(alias) == {"alias_name", "alias_label"},
                "a braze alias is {'alias_name': ..., 'alias_label': ...}",
            )
        require(bool(self._keys_of(user)), "a braze user needs at least one identifier")
        # Braze gives every user its own id: one seeded without gets one (stable, from the record).
        user.setdefault(
            "braze_id", "bz-" + hashlib.sha256(repr(sorted(record.items())).encode()).hexdigest()[:16]
        )
        return user

    @classmethod
    def record_for(cls, person: dict[str, Any]) -> dict[str, Any] | None:
        user = {"deprecated": list(person.get("deprecated_external_ids", []))}
        for ours, theirs in (("external_id", "primary"), ("email", "email"), ("phone_number", "phone")):
            if person.get(ours):
                user[theirs] = person[ours]
        return user if len(user) > 1 or user["deprecated"] else None

    def identifiers_in(self, request: Request) -> list[str]:
        body = request.body if isinstance(request.body, dict) else {}
        # The keys of all three routes: external_ids and user_aliases are among DELETE_KEYS.
        keys = (*self.DELETE_KEYS, *self.EXPORT_SINGLE_KEYS)
        named = [found for key in keys for found in self._requested(body, key)]
        return [_value_of(found) for found in named if found is not None]

    def held_identifiers(self) -> set[str]:
        return {_value_of(key) for user in self.population for key in self._keys_of(user)}

    def _check_batch(self, key: str, items: Any) -> Reply | None:
        if not isinstance(items, list) or not items:
            return self.error(400, f"{key} must be a non-empty array")
        if len(items) > self.MAX_IDS:
            return self.error(400, f"{key} must contain at most {self.MAX_IDS} items")
        return None

    def remove_external_ids(self, request: Request) -> Reply:
        ids = request.body.get("external_ids")
        refusal = self._check_batch("external_ids", ids)
        if refusal is not None:
            return refusal
        if not all(is_text(external_id) for external_id in ids):
            return self.error(400, "external_ids must be strings")
        removed: list[str] = []
        errors: list[Any] = []
        for index, external_id in enumerate(ids):
            owner = next((u for u in self.population if external_id in u["deprecated"]), None)
            if owner is not None:
                owner["deprecated"].remove(external_id)
                removed.append(external_id)
                continue
            is_primary = any(u.get("primary") == external_id for u in self.population)
            errors.append(self._removal_error("primary" if is_primary else "unknown", external_id, index))
        return Reply(
            self.success_status, {"message": "success", "removed_ids": removed, "removal_errors": errors}
        )

    def export_users(self, request: Request) -> Reply:
        given = [key for key in self.EXPORT_KEYS if key in request.body]
        if len(given) != 1:
            return self.error(400, f"exactly one of {', '.join(self.EXPORT_KEYS)} is required")
        key = given[0]
        if key not in self.EXPORT_SINGLE_KEYS:
            refusal = self._check_batch(key, request.body[key])
            if refusal is not None:
                return refusal
        wanted = self._requested(request.body, key)
        if None in wanted:
            return self.error(400, f"invalid {key}")
        fields = request.body.get("fields_to_export")
        if not isinstance(fields, list) or not fields or not all(is_text(f) for f in fields):
            return self.error(400, "fields_to_export is required: a non-empty array of strings")
        found = [u for u in self.population if set(wanted) & self._keys_of(u, deprecated=False)]
        answer: dict[str, Any] = {"users": [self._exported(u, fields) for u in found]}
        if key == "external_ids":
            primaries = {u.get("primary") for u in found}
            answer["invalid_user_ids"] = [i for i in dict.fromkeys(request.body[key]) if i not in primaries]
        return Reply(self.success_status, {**answer, "message": "success"})

    def _exported(self, user: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        """The requested fields the user has; fields the sandbox does not hold are never had."""
        return {
            field: copy.deepcopy(user[theirs])
            for field, theirs in self.EXPORT_FIELDS.items()
            if field in fields and user.get(theirs)
        }

    def _removal_error(self, reason: str, external_id: str, index: int) -> Any:
        as_string, as_array = self.REMOVAL_REASONS[reason]
        if self.settings["removal_error_shape"] == "array":
            return [as_array, index]
        return f"external_id '{external_id}' {as_string} at index {index}"

    def delete_users(self, request: Request) -> Reply:
        given = [key for key in self.DELETE_KEYS if key in request.body]
        if len(given) != 1:
            return self.error(400, f"exactly one of {', '.join(self.DELETE_KEYS)} is required")
        key = given[0]
        items = request.body[key]
        refusal = self._check_batch(key, items)
        if refusal is not None:
            return refusal
        doomed: list[dict[str, Any]] = []
        for item in items:
            wanted = self._request_key(key, item)
            if wanted is None:
                return self.error(400, f"invalid item in {key}")
            matches = [u for u in self.population if wanted in self._keys_of(u)]
            if key in self.PRIORITIZED_KEYS:
                order = item.get("prioritization")
                if not _valid_prioritization(order):
                    return self.error(400, f"{key} items need a valid prioritization array")
                matches = _prioritized(matches, order)
            doomed += [u for u in matches if u not in doomed]
        self.population = [u for u in self.population if u not in doomed]
        # "deleted" is the number queued for (asynchronous) deletion; counting only the
        # users found is a guess, the docs do not say whether unknown ids count.
        return Reply(self.success_status, {"deleted": len(doomed)})

    @staticmethod
    def _request_key(key: str, item: Any) -> tuple[str, Any] | None:
        if key == "user_aliases":
            if isinstance(item, dict) and is_text(item.get("alias_name")):
                return key, (item["alias_name"], item.get("alias_label"))
            return None
        if key in Braze.PRIORITIZED_KEYS:  # {"email" | "phone", "prioritization"}
            item = item.get(Braze.PRIORITIZED_KEYS[key]) if isinstance(item, dict) else None
        return (key, item) if is_text(item) else None

    def _requested(self, body: dict[str, Any], key: str) -> list[tuple[str, Any] | None]:
        """The lookup keys that the body's field `key` names (None for each invalid item, [] when
        the body has no such field)."""
        if key not in body:
            return []
        value = body[key]
        if key in self.EXPORT_SINGLE_KEYS:  # one plain string
            return [(self.EXPORT_SINGLE_KEYS[key], value) if is_text(value) else None]
        return [self._request_key(key, item) for item in value] if isinstance(value, list) else [None]

    @staticmethod
    def _keys_of(user: dict[str, Any], *, deprecated: bool = True) -> set[tuple[str, Any]]:
        """Everything /users/delete can find this user by; an export ignores deprecated ids."""
        external_ids = [user.get("primary"), *(user["deprecated"] if deprecated else [])]
        keys = {("external_ids", i) for i in external_ids if i}
        keys |= {("user_aliases", (a["alias_name"], a["alias_label"])) for a in user.get("aliases", [])}
        for key, user_field in (
            ("braze_ids", "braze_id"),
            ("email_addresses", "email"),
            ("phone_numbers", "phone"),
        ):
            if user.get(user_field):
                keys.add((key, user[user_field]))
        return keys


def _value_of(key: tuple[str, Any]) -> str:
    """The identifier value of a lookup key; an alias is known by its name."""
    kind, value = key
    return value[0] if kind == "user_aliases" else value


def _valid_prioritization(order: Any) -> bool:
    known = ("identified", "unidentified", "most_recently_updated")
    return (
        isinstance(order, list)
        and bool(order)
        and all(rule in known for rule in order)
        and len(set(order)) == len(order)
        and not {"identified", "unidentified"} <= set(order)
    )


def _prioritized(users: list[dict[str, Any]], order: list[str]) -> list[dict[str, Any]]:
    """The one user the rules pick, or none when they leave several: Braze then deletes nothing.
    Users are kept in the order they were last updated (seeded), the latest last."""
    for rule in order:
        if rule == "most_recently_updated":
            users = users[-1:]
        else:
            narrowed = [u for u in users if bool(u.get("primary")) == (rule == "identified")]
            users = narrowed or users
    return users if len(users) == 1 else []
