"""CleverTap: deletes profiles by identity or guid.

Documentation: https://developer.clevertap.com/docs/delete-user-profile-api

Endpoint
    POST /1/delete/profiles.json      identity or guid: {"status": "success"}

Default credentials: account_id "LOCAL-ACCOUNT", passcode "local-passcode"
(X-CleverTap-Account-Id and X-CleverTap-Passcode headers)

Settings: account_id, passcode, concurrency_limit 3 (requests in flight at once)

Seed: {"clevertap": {"profiles": [{"identity": "u1", "guid": "g1"}]}}

Faults: a 429 has no rate headers (CleverTap sends none); fail_in_200 is a 200
{"status": "fail", "code": 500}.
"""

from __future__ import annotations

from typing import Any

from tools.vendor_sandbox.core import Reply, Request, Route, Vendor, WindowState, is_text, require


class CleverTap(Vendor):
    name = "clevertap"
    population_key = "profiles"
    secret_headers = frozenset({"x-clevertap-passcode"})
    DEFAULTS = {
        "latency": 0.0,
        "account_id": "LOCAL-ACCOUNT",
        "passcode": "local-passcode",
        "concurrency_limit": 3,
    }
    MAX_IDS = 100

    def __init__(self) -> None:
        super().__init__()
        self._in_flight = 0

    def routes(self) -> dict[tuple[str, str], Route]:
        return {("POST", "/1/delete/profiles.json"): Route("delete", self.delete_profiles)}

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
        if self._in_flight >= self.settings["concurrency_limit"]:
            return self.throttled(None)
        self._in_flight += 1
        return None

    def release(self, route_name: str) -> None:
        self._in_flight -= 1

    def fail_in_200(self) -> Reply | None:
        return Reply(200, {"status": "fail", "error": "Internal error", "code": 500})

    def normalize(self, record: Any) -> dict[str, str]:
        require(
            isinstance(record, dict)
            and record
            and set(record) <= {"identity", "guid"}
            and all(is_text(v) for v in record.values()),
            "a clevertap profile is {'identity'?: str, 'guid'?: str} with at least one",
        )
        return dict(record)

    @classmethod
    def record_for(cls, person: dict[str, Any]) -> dict[str, str] | None:
        profile = {
            theirs: person[ours]
            for ours, theirs in (("external_id", "identity"), ("guid", "guid"))
            if person.get(ours)
        }
        return profile or None

    def identifiers_in(self, body: Any) -> list[str]:
        if not isinstance(body, dict):
            return []
        found = []
        for value in (body.get("identity"), body.get("guid")):
            values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            found += [v for v in values if isinstance(v, str)]
        return found

    def held_identifiers(self) -> set[str]:
        return {value for profile in self.population for value in profile.values()}

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
        # Unknown profiles are not reported: the answer is "success" either way.
        self.population = [p for p in self.population if p.get(key) not in values]
        return Reply(200, {"status": "success"})
