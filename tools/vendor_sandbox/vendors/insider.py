"""Insider: deletes the value of one identifier, or the whole profile, and reads a profile.

Documentation:
https://academy.insiderone.com/docs/delete-user-identities-api (identity)
https://academy.insiderone.com/docs/delete-user-profile-api (user delete)
https://academy.insiderone.com/docs/get-user-profiles-api (profile)

Endpoints (route names in brackets)
    DELETE /api/user/v1/identity      [identity] delete the value of one identifier: {}
    POST   /api/user/v1/delete        [delete] delete the whole profile: {}; the request must
                                      carry the unifier identifier (else 400); an unknown person
                                      is 200 {}
    POST   /api/user/v1/profile       [profile, a lookup] the user any of the identifiers finds:
                                      {"attributes": {...}} with each requested attribute it has
                                      (its identifiers: email, phone_number, uuid, custom), and
                                      with "quota": true {"used", "total"} of the profile window;
                                      "attributes" or "events" is required (the sandbox keeps no
                                      events: it answers none); nobody found is 404

Default credentials: partner_name "localbrand" (lowercase), request_token "local-insider-token"
(X-PARTNER-NAME and X-REQUEST-TOKEN headers)

Settings: partner_name, request_token, rate_limits {"identity": 1000, "delete": 10000, "profile":
1000 (quota units; a profile read costs one)}, rate_window_seconds 60, unifier "email" (a default
identifier name, or a custom one's name)

Seed: {"insider": {"users": [{"email": "a@example.com", "phone_number": "+6598765432",
                              "uuid": "x", "custom": {"loyalty_id": "L1"}}]}}

Faults: a 429 carries Retry-After; Insider has no failure inside a 200, so it refuses fail_in_200.
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
from typing import Any

from tools.vendor_sandbox.core import Reply, Request, Route, Vendor, WindowState, is_text, require

INSIDER_DEFAULT_KEYS = ("email", "phone_number", "uuid")
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
Slot = tuple[tuple[str, ...], Any]  # ((identifier name, [custom name]), value)


def _insider_slots(identifiers: dict[str, Any]) -> list[Slot]:
    """Flatten {"email": v, "custom": {"loyalty_id": w}} into [(("email",), v), ...]."""
    slots: list[Slot] = []
    for key, value in identifiers.items():
        if key == "custom" and isinstance(value, dict):
            slots.extend((("custom", name), custom) for name, custom in value.items())
        else:
            slots.append(((key,), value))
    return slots


def _valid_insider_slot(slot: Slot) -> bool:
    path, value = slot
    named = path[0] in INSIDER_DEFAULT_KEYS or (path[0] == "custom" and len(path) == 2)
    if not named or not is_text(value):
        return False
    return path != ("phone_number",) or bool(E164.match(value))


class Insider(Vendor):
    name = "insider"
    population_key = "users"
    secret_headers = frozenset({"x-request-token"})
    max_body_bytes = 5 * 1024 * 1024
    DEFAULTS = {
        "latency": 0.0,
        "partner_name": "localbrand",
        "request_token": "local-insider-token",
        "rate_limits": {"identity": 1000, "delete": 10000, "profile": 1000},
        "rate_window_seconds": 60.0,
        # The identifier the account unifies profiles on: a user delete must carry it.
        "unifier": "email",
    }

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("DELETE", "/api/user/v1/identity"): Route("identity", self.delete_identifier),
            ("POST", "/api/user/v1/delete"): Route("delete", self.delete_user),
            ("POST", "/api/user/v1/profile"): Route("profile", self.read_profile, lookup=True),
        }

    def authenticate(self, request: Request) -> Reply | None:
        # Compared exactly, so "LocalBrand" fails: the docs require the lowercase name.
        if request.header("x-partner-name") != self.settings["partner_name"]:
            return Reply(400, {"success": False, "message": "Partner is invalid."})
        if request.header("x-request-token") != self.settings["request_token"]:
            return Reply(401, {"success": False, "message": "Partner token authentication failed."})
        return None

    def error(self, status: int, message: str) -> Reply:
        return Reply(status, {"error": message})

    def throttled(self, state: WindowState | None) -> Reply:
        wait = math.ceil(state.ends_at - time.time()) if state else 60
        return Reply(429, {"error": "rejected: too many requests"}, {"Retry-After": str(max(wait, 1))})

    def documented_success(self, route: str, request: Request) -> Reply:
        if route == "profile":
            return self.error(404, "no such user for these identifiers: no data")
        return Reply(200, {})

    def hostile_answer(self, route: str, request: Request) -> Reply:
        if route != "identity":
            return self.documented_success(route, request)
        identifiers = request.body.get("identifiers") if isinstance(request.body, dict) else None
        return self.error(404, f"no such user for these identifiers {json.dumps(identifiers)}: no data")

    def normalize(self, record: Any) -> dict[str, Any]:
        require(isinstance(record, dict) and bool(record), "an insider user is an object")
        slots = _insider_slots(record)
        require(
            bool(slots) and all(_valid_insider_slot(s) for s in slots),
            "insider identifiers are email, phone_number (E.164), uuid or custom.{name}",
        )
        return copy.deepcopy(record)

    @classmethod
    def record_for(cls, person: dict[str, Any]) -> dict[str, Any] | None:
        user = {key: person[key] for key in (*INSIDER_DEFAULT_KEYS, "custom") if person.get(key)}
        return user or None

    def identifiers_in(self, request: Request) -> list[str]:
        body = request.body
        identifiers = body.get("identifiers") if isinstance(body, dict) else None
        slots = _insider_slots(identifiers) if isinstance(identifiers, dict) else []
        return [value for _, value in slots if isinstance(value, str)]

    def held_identifiers(self) -> set[str]:
        return {value for user in self.population for _, value in _insider_slots(user)}

    def _requested_slots(self, body: dict[str, Any]) -> list[Slot] | None:
        identifiers = body.get("identifiers")
        if not isinstance(identifiers, dict):
            return None
        slots = _insider_slots(identifiers)
        return slots if slots and all(_valid_insider_slot(s) for s in slots) else None

    def _owner(self, slots: list[Slot]) -> dict[str, Any] | None:
        return next((u for u in self.population if any(s in _insider_slots(u) for s in slots)), None)

    def delete_identifier(self, request: Request) -> Reply:
        slots = self._requested_slots(request.body)
        if slots is None or len(slots) != 1:  # the call deletes the value of ONE identifier
            return self.error(400, "no valid identifier: bad request")
        user = self._owner(slots)
        if user is None:
            return self.error(404, "no such user for these identifiers: no data")
        if len(_insider_slots(user)) == 1:
            return self.error(400, "you cannot delete the sole identifier specified for a user: bad request")
        ((path, _value),) = slots
        if path[0] == "custom":
            del user["custom"][path[1]]
            if not user["custom"]:
                del user["custom"]
        else:
            del user[path[0]]
        return Reply(200, {})

    def delete_user(self, request: Request) -> Reply:
        slots = self._requested_slots(request.body)
        if slots is None:
            return self.error(400, "no valid identifier: bad request")
        unifier = self.settings["unifier"]
        if not any(path[-1] == unifier for path, _ in slots):
            return self.error(400, f"the unifier identifier {unifier} is required: bad request")
        user = self._owner(slots)
        if user is not None:
            self.population.remove(user)
        # An unknown user also answers 200 {}: undocumented, it is the erasure's goal state.
        return Reply(200, {})

    def read_profile(self, request: Request) -> Reply:
        slots = self._requested_slots(request.body)
        if slots is None:
            return self.error(400, "no valid identifier: bad request")
        attributes = request.body.get("attributes", [])
        events = request.body.get("events", {})
        if (
            ("attributes" not in request.body and "events" not in request.body)
            or not isinstance(attributes, list)
            or not all(is_text(a) for a in attributes)
            or not isinstance(events, dict)
        ):
            return self.error(400, "attributes or events are required: bad request")
        user = self._owner(slots)
        if user is None:
            return self.error(404, "no such user for these identifiers: no data")
        answer: dict[str, Any] = {"attributes": {a: copy.deepcopy(user[a]) for a in attributes if a in user}}
        if request.body.get("quota") is True:
            window = self._windows["profile"].peek()  # this call is already counted
            answer["quota"] = {"used": window.limit - window.remaining, "total": window.limit}
        return Reply(200, answer)
