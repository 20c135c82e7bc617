"""Dfinery: deletes a unified profile by external_id.

Documentation: https://docs.dfinery.ai/api-guide/api/import-api/identity-api/post-1

Endpoint (route name in brackets; Dfinery has no lookup by identifier)
    POST /api/v1/identities/delete?service_id=<id>   [delete] envelope with code "20000"

Default credentials: service_id "local-service", access_token "local-dfinery-token"
(access_token header)

Settings: service_id, access_token, rate_limits {"delete": 10000}, rate_window_seconds 60,
throttle_status 429 | 200 (how TOO_MANY_REQUEST "40401" arrives)

Seed: {"dfinery": {"profiles": ["u1"]}}

Faults: a 429 carries the X-Rate-Limit-* headers; fail_in_200 is a 200 with code "50000".
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any

from tools.vendor_sandbox.core import Reply, Request, Route, Vendor, WindowState, is_text, require

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")


def _is_iso_utc(value: Any) -> bool:
    if not isinstance(value, str) or not ISO_UTC.match(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:  # well shaped but impossible, e.g. month 13
        return False
    return True


class Dfinery(Vendor):
    name = "dfinery"
    population_key = "profiles"
    secret_headers = frozenset({"access_token"})
    DEFAULTS = {
        "latency": 0.0,
        "service_id": "local-service",
        "access_token": "local-dfinery-token",
        "rate_limits": {"delete": 10000},
        "rate_window_seconds": 60.0,
        "throttle_status": 429,
    }
    CHOICES = {"throttle_status": (429, 200)}
    # Dfinery reports failures in its envelope, often inside an HTTP 200; "code" is a string.
    CODES = {400: ("40000", "BAD_REQUEST"), 429: ("40401", "TOO_MANY_REQUEST")}
    INTERNAL_ERROR = ("50000", "INTERNAL_SERVER_ERROR")

    @staticmethod
    def envelope(status: int, code: str, message: str, data: Any = None) -> Reply:
        return Reply(status, {"status": code == "20000", "code": code, "message": message, "data": data})

    def routes(self) -> dict[tuple[str, str], Route]:
        return {("POST", "/api/v1/identities/delete"): Route("delete", self.delete_identity)}

    def authenticate(self, request: Request) -> Reply | None:
        if request.header("access_token") != self.settings["access_token"]:
            return self.envelope(200, "40201", "INVALID_TOKEN")
        if request.query.get("service_id") != self.settings["service_id"]:
            return self.envelope(200, "40101", "INVALID_SERVICE_ID")
        return None

    def error(self, status: int, message: str) -> Reply:
        # The envelope's message is the code's name; Dfinery has no free-text detail.
        fallback = self.INTERNAL_ERROR if status >= 500 else self.CODES[400]
        code, name = self.CODES.get(status, fallback)
        return self.envelope(status, code, name)

    def rate_headers(self, state: WindowState) -> dict[str, str]:
        seconds = int(self.settings["rate_window_seconds"])
        window = f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"
        return {
            "X-Rate-Limit-Limit": window,
            "X-Rate-Limit-Remaining": str(state.remaining),
            "X-Rate-Limit-Reset": str(state.reset_at),
        }

    def throttled(self, state: WindowState | None) -> Reply:
        reply = self.envelope(self.settings["throttle_status"], "40401", "TOO_MANY_REQUEST")
        if state is not None:
            reply.headers.update(self.rate_headers(replace(state, remaining=0)))
        return reply

    def fail_in_200(self) -> Reply | None:
        return self.envelope(200, *self.INTERNAL_ERROR)

    def documented_success(self, route: str, request: Request) -> Reply:
        return self.envelope(200, "20000", "OK", True)

    def hostile_answer(self, route: str, request: Request) -> Reply:
        (external_id,) = self.identifiers_in(request) or [None]
        return self.envelope(200, "40001", f"VALIDATION_FAILURE: bad id {external_id}")  # quoted

    def normalize(self, record: Any) -> str:
        require(is_text(record), "a dfinery profile is its external_id (a string)")
        return record

    @classmethod
    def record_for(cls, person: dict[str, Any]) -> str | None:
        return person.get("external_id") or None

    def identifiers_in(self, request: Request) -> list[str]:
        body = request.body
        identity = body.get("identity") if isinstance(body, dict) else None
        external_id = identity.get("external_id") if isinstance(identity, dict) else None
        return [external_id] if isinstance(external_id, str) else []

    def held_identifiers(self) -> set[str]:
        return set(self.population)

    def delete_identity(self, request: Request) -> Reply:
        identity = request.body.get("identity")
        external_id = identity.get("external_id") if isinstance(identity, dict) else None
        if not is_text(external_id) or not _is_iso_utc(request.body.get("request_datetime")):
            return self.envelope(200, "40001", "VALIDATION_FAILURE")
        # An unknown external_id answers OK too: undocumented, we assume the goal state counts.
        self.population = [p for p in self.population if p != external_id]
        return self.envelope(200, "20000", "OK", True)
