"""CleverTap: deletes profiles by identity or guid, and reads one profile.

Documentation:
https://developer.clevertap.com/docs/delete-user-profile-api
https://developer.clevertap.com/docs/get-user-profiles-api

Endpoints (route names in brackets)
    POST /1/delete/profiles.json      [delete] identity or guid: {"status": "success"}
    GET  /1/profile.json              [profile, a lookup] exactly one query parameter, identity=,
                                      email= or objectId= (the guid); no body: {"status":
                                      "success", "record": {"identity", "email", "objectId" (those
                                      the profile has), "profileData": {}}}; not found is
                                      undocumented, see profile_not_found

Default credentials: account_id "LOCAL-ACCOUNT", passcode "local-passcode"
(X-CleverTap-Account-Id and X-CleverTap-Passcode headers)

Settings: account_id, passcode, concurrency_limit 3 (requests in flight at once, per API: profile
reads and deletions count apart), profile_not_found "fail_200" (200 {"status": "fail", "error":
"User not found", "code": 404}) | "no_record" (200 {"status": "success"}) | "404" (the fail
envelope with a 404), deletion_delay_seconds 0 (a deleted profile is still held and found until
this long after its deletion answered: CleverTap deletes in a nightly batch)

Seed: {"clevertap": {"profiles": [{"identity": "u1", "guid": "g1", "email": "a@example.com"}]}};
a profile awaiting its deletion batch also has "deleted_at" (epoch seconds).

Faults: a 429 has no rate headers (CleverTap sends none); fail_in_200 is a 200
{"status": "fail", "code": 500}.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from typing import Any

from tools.vendor_sandbox.core import Reply, Request, Route, Vendor, WindowState, is_text, require

IDENTIFIERS = ("identity", "guid", "email")


class CleverTap(Vendor):
    name = "clevertap"
    population_key = "profiles"
    secret_headers = frozenset({"x-clevertap-passcode"})
    DEFAULTS = {
        "latency": 0.0,
        "account_id": "LOCAL-ACCOUNT",
        "passcode": "local-passcode",
        "concurrency_limit": 3,
        "profile_not_found": "fail_200",
        "deletion_delay_seconds": 0.0,
    }
    CHOICES = {"profile_not_found": ("fail_200", "no_record", "404")}
    MAX_IDS = 100
    QUERY_FIELDS = {"identity": "identity", "email": "email", "objectId": "guid"}  # -> profile field

    def __init__(self) -> None:
        super().__init__()
        self._in_flight: Counter[str] = Counter()  # per route: the limit is per API

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "/1/delete/profiles.json"): Route("delete", self.delete_profiles),
            ("GET", "/1/profile.json"): Route("profile", self.read_profile, lookup=True, json_body=False),
        }

    def authenticate(self, request: Request) -> Reply | None:
        if (
            request.header("x-clevertap-account-id") == self.settings["account_id"]
            and request.header("x-clevertap-passcode") == self.settings["passcode"]
        ):
            return None
        return self.error(401, "Invalid Credentials")

    def error(self, status: int, message: str) -> Reply:
        return Reply(status, {"status": "fail", "error": message, "code": status})

    def throttled(self, state: WindowState | None) -> Reply:
        return self.error(429, "Too many concurrent requests")  # no rate headers: none exist

    # CleverTap limits requests in flight, not requests per window.
    def admit(self, route_name: str) -> Reply | None:
        if self._in_flight[route_name] >= self.settings["concurrency_limit"]:
            return self.throttled(None)
        self._in_flight[route_name] += 1
        return None

    def release(self, route_name: str) -> None:
        self._in_flight[route_name] -= 1

    def fail_in_200(self) -> Reply | None:
        return Reply(200, {"status": "fail", "error": "Internal error", "code": 500})

    def documented_success(self, route: str, request: Request) -> Reply:
        return Reply(200, {"status": "success"}) if route == "delete" else self._not_found()

    def hostile_answer(self, route: str, request: Request) -> Reply:
        if route != "delete":
            return self.documented_success(route, request)
        return self.error(500, f"cannot delete {json.dumps(request.body)}")  # the body, quoted

    def normalize(self, record: Any) -> dict[str, Any]:
        deleted_at = record.get("deleted_at", 0) if isinstance(record, dict) else None
        require(
            isinstance(record, dict)
            and set(record) <= {*IDENTIFIERS, "deleted_at"}
            and any(key in record for key in IDENTIFIERS)
            and all(is_text(record[key]) for key in IDENTIFIERS if key in record)
            and isinstance(deleted_at, int | float)
            and not isinstance(deleted_at, bool),
            "a clevertap profile is {'identity'?: str, 'guid'?: str, 'email'?: str} with at least one,"
            " and 'deleted_at' (epoch seconds) while it awaits its deletion",
        )
        return dict(record)

    @classmethod
    def record_for(cls, person: dict[str, Any]) -> dict[str, str] | None:
        profile = {
            theirs: person[ours]
            for ours, theirs in (("external_id", "identity"), ("guid", "guid"), ("email", "email"))
            if person.get(ours)
        }
        return profile or None

    def identifiers_in(self, request: Request) -> list[str]:
        body = request.body if isinstance(request.body, dict) else {}
        found = [request.query[param] for param in self.QUERY_FIELDS if param in request.query]
        for value in (body.get("identity"), body.get("guid")):
            values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            found += [v for v in values if isinstance(v, str)]
        return found

    def held_identifiers(self) -> set[str]:
        self._purge(time.time())
        return {profile[key] for profile in self.population for key in IDENTIFIERS if key in profile}

    def state(self) -> dict[str, Any]:
        self._purge(time.time())
        return super().state()

    def _purge(self, now: float) -> None:
        """Forget the profiles whose deletion batch has run (deletion_delay_seconds after the call)."""
        due = now - self.settings["deletion_delay_seconds"]  # deleted at or before this: gone
        self.population = [p for p in self.population if p.get("deleted_at", math.inf) > due]

    def delete_profiles(self, request: Request) -> Reply:
        given = [key for key in ("identity", "guid") if key in request.body]
        if len(given) != 1:
            return self.error(400, "exactly one of identity or guid is required")
        key = given[0]
        values = request.body[key]
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, list) or not values or not all(is_text(v) for v in values):
            return self.error(400, f"{key} must be a string or a non-empty array of strings")
        if len(values) > self.MAX_IDS:
            return self.error(400, f"at most {self.MAX_IDS} values of {key} per request")
        # Deleted in a later batch: marked now (a second deletion does not postpone it).
        now = time.time()
        for profile in self.population:
            if profile.get(key) in values:
                profile.setdefault("deleted_at", now)
        self._purge(now)
        # Unknown profiles are not reported: the answer is "success" either way.
        return Reply(200, {"status": "success"})

    def read_profile(self, request: Request) -> Reply:
        given = [param for param in self.QUERY_FIELDS if param in request.query]
        if len(given) != 1:
            return self.error(400, f"exactly one of {', '.join(self.QUERY_FIELDS)} is required")
        field, value = self.QUERY_FIELDS[given[0]], request.query[given[0]]
        self._purge(time.time())
        profile = next((p for p in self.population if p.get(field) == value), None)
        if profile is None:
            return self._not_found()
        record = {name: profile[theirs] for name, theirs in self.QUERY_FIELDS.items() if theirs in profile}
        return Reply(200, {"status": "success", "record": {**record, "profileData": {}}})

    def _not_found(self) -> Reply:
        choice = self.settings["profile_not_found"]
        if choice == "no_record":
            return Reply(200, {"status": "success"})
        reply = self.error(404, "User not found")
        if choice == "fail_200":  # the same envelope, inside a 200
            reply.status = 200
        return reply
