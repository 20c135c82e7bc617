"""A local stand-in for the deletion APIs of Braze, CleverTap, Insider and Dfinery.

One HTTP server on 127.0.0.1 plays all four vendors, told apart by path, and answers with each
vendor's documented statuses, bodies and headers (see shared/seeds/ and
shared/vendor-contracts.md). It exists so that the relay can be tested and demonstrated against
the contracts, including their failure modes, without touching a real vendor.

Endpoints
---------
- Braze      POST   /users/external_ids/remove        remove deprecated external ids (201)
             POST   /users/delete                     delete profiles: {"deleted": n} (201)
- CleverTap  POST   /1/delete/profiles.json           identity or guid: {"status": "success"}
- Insider    DELETE /api/user/v1/identity             delete the value of one identifier: {}
             POST   /api/user/v1/delete               delete the whole profile: {}
- Dfinery    POST   /api/v1/identities/delete?service_id=<id>   envelope with code "20000"

Request bodies must be JSON objects sent with a Content-Length (no chunked uploads).

Default credentials (change them with ``configure``)
----------------------------------------------------
- braze:     api_key "local-braze-key"                 (Authorization: Bearer <api_key>)
- clevertap: account_id "LOCAL-ACCOUNT", passcode "local-passcode"
- insider:   partner_name "localbrand" (lowercase), request_token "local-insider-token"
- dfinery:   service_id "local-service", access_token "local-dfinery-token"

Settings per vendor (``configure(vendor, **settings)``; it also restarts the rate windows)
------------------------------------------------------------------------------------------
- every vendor: ``latency`` (seconds added to each authenticated, admitted call)
- braze:     api_key, rate_limits {"remove": 1000, "delete": 20000}, rate_window_seconds 60,
             removal_error_shape "string" | "array"
- clevertap: account_id, passcode, concurrency_limit 3 (requests in flight at once)
- insider:   partner_name, request_token, rate_limits {"identity": 1000, "delete": 10000},
             rate_window_seconds 60
- dfinery:   service_id, access_token, rate_limits {"delete": 10000}, rate_window_seconds 60,
             throttle_status 429 | 200 (how TOO_MANY_REQUEST "40401" arrives)

Seed format (JSON; ``state()`` answers in the same format, so a state can be seeded again)
------------------------------------------------------------------------------------------
    {
      "braze": {"users": [{"primary": "u1", "deprecated": ["old-u1"], "braze_id": "b1",
                           "email": "a@example.com", "phone": "+6598765432",
                           "aliases": [{"alias_name": "n1", "alias_label": "crm"}]}]},
      "clevertap": {"profiles": [{"identity": "u1", "guid": "g1"}]},
      "insider": {"users": [{"email": "a@example.com", "phone_number": "+6598765432",
                             "uuid": "x", "custom": {"loyalty_id": "L1"}}]},
      "dfinery": {"profiles": ["u1"]}
    }
Every field of a person is optional except that each person needs at least one identifier.
Seeding adds people to whoever is already there.

Faults (``inject_fault(vendor, kind, status=..., count=1, seconds=...)``; count None = always)
------------------------------------------------------------------------------------------
A fault fires on the vendor's next authenticated, admitted calls (after the latency) and
replaces the vendor's answer; the request is then not applied, except for ``timeout``.
- status:      that HTTP status (400-599) with the vendor's error body; 429 comes with the
               vendor's throttling headers (Braze/Dfinery rate headers, Insider Retry-After)
- timeout:     waits ``seconds`` (default 10; make it longer than the client's read timeout),
               then applies the request and answers late, as a slow vendor would
- reset:       closes the socket without answering (TCP reset)
- malformed:   the vendor's success status with a truncated, non-JSON body
- fail_in_200: a 2xx whose body says failure. Dfinery 200 code "50000"; CleverTap 200
               {"status": "fail", "code": 500}; Braze 201 with a non-"success" message and no
               removed_ids. Insider has no such answer, so it refuses this fault.

Admin HTTP API (JSON in and out; a bad request answers 400 {"error": ...})
--------------------------------------------------------------------------
    GET    /_sandbox/state                  population per vendor (seed format)
    GET    /_sandbox/calls[?vendor=braze]   {"calls": [...]} every vendor call, oldest first
    GET    /_sandbox/config                 settings per vendor
    GET    /_sandbox/faults                 pending faults per vendor
    POST   /_sandbox/seed                   body: a seed; answers the new state
    POST   /_sandbox/config                 body: {"braze": {"rate_limits": {"remove": 5}}, ...}
    POST   /_sandbox/faults                 body: {"vendor", "kind", "status"?, "count"?,
                                                   "seconds"?}; answers the pending faults
    DELETE /_sandbox/faults[?vendor=insider]
    POST   /_sandbox/reset                  no people, calls, faults; default settings

A recorded call is {"time", "vendor", "method", "path", "query", "headers" (names lowercase,
secrets "[REDACTED]"), "body" (parsed JSON or null), "status" (null when the socket was reset),
"fault" (the fault kind that fired, or null)}.

Command line: ``python -m tools.vendor_sandbox --port 8700 [--seed FILE.json]`` prints its URL
on the first line and serves (seeded with DEFAULT_SEED unless --seed is given) until SIGINT or
SIGTERM.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

DEFAULT_SEED: dict[str, Any] = {
    "braze": {
        "users": [
            {"primary": "cust-1001", "deprecated": ["legacy-1001"], "email": "ana@example.com"},
            {"primary": "cust-1002", "deprecated": [], "phone": "+6598765432"},
        ]
    },
    "clevertap": {
        "profiles": [
            {"identity": "cust-1001", "guid": "ct-guid-1001"},
            {"identity": "cust-1002", "guid": "ct-guid-1002"},
        ]
    },
    "insider": {
        "users": [
            {"email": "ana@example.com", "uuid": "cust-1001", "custom": {"loyalty_id": "L-1001"}},
            {"phone_number": "+6598765432", "uuid": "cust-1002"},
        ]
    },
    "dfinery": {"profiles": ["cust-1001", "cust-1002"]},
}

FAULT_KINDS = ("status", "timeout", "reset", "malformed", "fail_in_200")
REDACTED = "[REDACTED]"
MALFORMED_BODY = b'{"status": "succ'  # what a proxy cutting the answer short leaves behind


class SandboxError(ValueError):
    """A seed, setting or fault the sandbox cannot accept."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise SandboxError(message)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # e.g. Cloudflare's 520, which Insider can answer
        return "Unknown Error"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lowercased
    raw_body: bytes
    body: Any = None  # parsed JSON; None when absent or not JSON

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Reply:
    status: int | None  # None: close the socket without answering (the `reset` fault)
    body: Any = None  # JSON-serialisable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowState:
    limit: int
    remaining: int
    ends_at: float  # UTC epoch at which the window restarts

    @property
    def reset_at(self) -> int:
        """The restart in whole epoch seconds, as the rate headers carry it."""
        return math.ceil(self.ends_at)


class FixedWindow:
    """Counts requests in fixed windows that open with their first request.

    Not thread-safe on its own: the sandbox calls it under its lock.
    """

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._opened_at: float | None = None
        self._used = 0

    def take(self) -> tuple[bool, WindowState]:
        """Spend one request if the window has room; answer whether it had and the state after."""
        now = time.time()
        self._roll(now)
        allowed = self._used < self.limit
        if allowed:
            self._used += 1
        return allowed, self._state(now)

    def peek(self) -> WindowState:
        now = time.time()
        self._roll(now)
        return self._state(now)

    def _roll(self, now: float) -> None:
        if self._opened_at is None or now >= self._opened_at + self.seconds:
            self._opened_at, self._used = now, 0

    def _state(self, now: float) -> WindowState:
        opened_at = self._opened_at if self._opened_at is not None else now
        return WindowState(
            limit=self.limit,
            remaining=max(self.limit - self._used, 0),
            ends_at=opened_at + self.seconds,
        )


@dataclass
class Fault:
    kind: str
    status: int | None = None
    seconds: float = 10.0
    remaining: int | None = 1  # calls left to spoil; None: every call


@dataclass(frozen=True)
class Route:
    name: str  # also the key of the route's rate window, e.g. "remove"
    handle: Callable[[Request], Reply]


class Vendor:
    """What the four vendors share; each subclass holds one vendor's particular behaviour.

    Subclasses define their settings, routes, authentication, error body, throttled answer and
    population. The sandbox drives them all through the same pipeline (see VendorSandbox).
    """

    name: ClassVar[str]
    population_key: ClassVar[str]  # "users" or "profiles" in the seed format
    success_status: ClassVar[int] = 200
    secret_headers: ClassVar[frozenset[str]] = frozenset()
    max_body_bytes: ClassVar[int | None] = None
    DEFAULTS: ClassVar[dict[str, Any]]
    CHOICES: ClassVar[dict[str, tuple[Any, ...]]] = {}

    def __init__(self) -> None:
        self.settings: dict[str, Any] = copy.deepcopy(self.DEFAULTS)
        self.population: list[Any] = []
        self._restart_windows()

    # -- per-vendor behaviour ------------------------------------------------------------------

    def routes(self) -> dict[tuple[str, str], Route]:
        raise NotImplementedError

    def authenticate(self, request: Request) -> Reply | None:
        """The vendor's refusal of the credentials, or None when they are right."""
        raise NotImplementedError

    def error(self, status: int, message: str) -> Reply:
        """The vendor's error body for an HTTP status."""
        raise NotImplementedError

    def throttled(self, state: WindowState | None) -> Reply:
        raise NotImplementedError

    def rate_headers(self, state: WindowState) -> dict[str, str]:
        """Headers announcing the rate window on every answer; most vendors send none."""
        return {}

    def fail_in_200(self) -> Reply | None:
        """A success status whose body says failure, or None if the vendor has no such answer."""
        return None

    def normalize(self, record: Any) -> Any:
        """Validate one seeded person and return what the population stores."""
        raise NotImplementedError

    # -- shared mechanics ----------------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        updated = copy.deepcopy(self.settings)
        for key, value in changes.items():
            _require(
                key in updated, f"{self.name} has no setting {key!r}; known: {', '.join(sorted(updated))}"
            )
            current = updated[key]
            if key in self.CHOICES:
                _require(value in self.CHOICES[key], f"{self.name}.{key} must be one of {self.CHOICES[key]}")
            elif isinstance(current, dict):
                _require(
                    isinstance(value, dict) and set(value) <= set(current),
                    f"{self.name}.{key} takes keys among {sorted(current)}",
                )
                for limit in value.values():
                    _require(
                        isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0,
                        f"{self.name}.{key} values must be integers >= 0",
                    )
                value = {**current, **value}
            elif isinstance(current, str):
                _require(_is_text(value), f"{self.name}.{key} must be a non-empty string")
            else:
                _require(
                    isinstance(value, int | float) and not isinstance(value, bool) and value >= 0,
                    f"{self.name}.{key} must be a number >= 0",
                )
            updated[key] = value
        self.settings = updated
        self._restart_windows()

    def _restart_windows(self) -> None:
        self._windows: dict[str, FixedWindow] = {
            name: FixedWindow(limit, self.settings["rate_window_seconds"])
            for name, limit in self.settings.get("rate_limits", {}).items()
        }

    def window_state(self, route_name: str) -> WindowState | None:
        window = self._windows.get(route_name)
        return window.peek() if window else None

    def admit(self, route_name: str) -> Reply | None:
        """Let a call in, or answer the vendor's throttled reply. A let-in call is released."""
        window = self._windows.get(route_name)
        if window is None:
            return None
        allowed, state = window.take()
        return None if allowed else self.throttled(state)

    def release(self, route_name: str) -> None:
        """Called once an admitted call is answered; only a concurrency limit cares."""

    def decorate(self, reply: Reply, route_name: str | None) -> None:
        state = self.window_state(route_name) if route_name else None
        if state is not None and reply.status is not None:
            for name, value in self.rate_headers(state).items():
                reply.headers.setdefault(name, value)

    def fault_reply(self, fault: Fault, route_name: str) -> Reply:
        if fault.kind == "status":
            assert fault.status is not None
            if fault.status == HTTPStatus.TOO_MANY_REQUESTS:
                return self.throttled(self.window_state(route_name))
            return self.error(fault.status, _phrase(fault.status))
        if fault.kind == "reset":
            return Reply(None)
        if fault.kind == "malformed":
            return Reply(self.success_status, MALFORMED_BODY, {"Content-Type": "application/json"})
        reply = self.fail_in_200()
        assert reply is not None, "inject_fault refuses fail_in_200 for this vendor"
        return reply

    def parse_seed(self, data: Any) -> list[Any]:
        _require(
            isinstance(data, dict) and set(data) == {self.population_key},
            f"seed for {self.name} must be {{{self.population_key!r}: [...]}}",
        )
        records = data[self.population_key]
        _require(isinstance(records, list), f"{self.name}.{self.population_key} must be a list")
        return [self.normalize(record) for record in records]

    def state(self) -> dict[str, Any]:
        return {self.population_key: copy.deepcopy(self.population)}


class Braze(Vendor):
    name = "braze"
    population_key = "users"
    success_status = 201  # reported, not documented: clients must accept any 2xx
    secret_headers = frozenset({"authorization"})
    DEFAULTS = {
        "latency": 0.0,
        "api_key": "local-braze-key",
        "rate_limits": {"remove": 1000, "delete": 20000},
        "rate_window_seconds": 60.0,
        "removal_error_shape": "string",
    }
    CHOICES = {"removal_error_shape": ("string", "array")}
    MAX_IDS = 50
    DELETE_KEYS = ("external_ids", "user_aliases", "braze_ids", "email_addresses", "phone_numbers")
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

    def normalize(self, record: Any) -> dict[str, Any]:
        _require(
            isinstance(record, dict) and set(record) <= self.USER_FIELDS,
            f"a braze user is an object with fields among {sorted(self.USER_FIELDS)}",
        )
        user = {"deprecated": [], **copy.deepcopy(record)}
        _require(
            isinstance(user["deprecated"], list) and all(_is_text(i) for i in user["deprecated"]),
            "braze deprecated ids must be a list of strings",
        )
        for key in ("primary", "braze_id", "email", "phone"):
            _require(key not in user or _is_text(user[key]), f"braze {key} must be a string")
        for alias in user.get("aliases", []):
            _require(
                isinstance(alias, dict) and set(alias) == {"alias_name", "alias_label"},
                "a braze alias is {'alias_name': ..., 'alias_label': ...}",
            )
        _require(bool(self._keys_of(user)), "a braze user needs at least one identifier")
        return user

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
        if not all(_is_text(external_id) for external_id in ids):
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
        wanted = {self._request_key(key, item) for item in items}
        if None in wanted:
            return self.error(400, f"invalid item in {key}")
        doomed = [u for u in self.population if self._keys_of(u) & wanted]
        self.population = [u for u in self.population if u not in doomed]
        # "deleted" is the number queued for (asynchronous) deletion; counting only the
        # users found is a guess, the docs do not say whether unknown ids count.
        return Reply(self.success_status, {"deleted": len(doomed)})

    @staticmethod
    def _request_key(key: str, item: Any) -> tuple[str, Any] | None:
        if key == "user_aliases":
            if isinstance(item, dict) and _is_text(item.get("alias_name")):
                return key, (item["alias_name"], item.get("alias_label"))
            return None
        if key == "email_addresses" and isinstance(item, dict):  # {"email", "prioritization"}
            item = item.get("email")
        return (key, item) if _is_text(item) else None

    @staticmethod
    def _keys_of(user: dict[str, Any]) -> set[tuple[str, Any]]:
        """Everything /users/delete can find this user by."""
        keys = {("external_ids", i) for i in [user.get("primary"), *user["deprecated"]] if i}
        keys |= {("user_aliases", (a["alias_name"], a["alias_label"])) for a in user.get("aliases", [])}
        for key, user_field in (
            ("braze_ids", "braze_id"),
            ("email_addresses", "email"),
            ("phone_numbers", "phone"),
        ):
            if user.get(user_field):
                keys.add((key, user[user_field]))
        return keys


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
        _require(
            isinstance(record, dict)
            and record
            and set(record) <= {"identity", "guid"}
            and all(_is_text(v) for v in record.values()),
            "a clevertap profile is {'identity'?: str, 'guid'?: str} with at least one",
        )
        return dict(record)

    def delete_profiles(self, request: Request) -> Reply:
        given = [key for key in ("identity", "guid") if key in request.body]
        if len(given) != 1:
            return self.error(400, "exactly one of identity or guid is required")
        key = given[0]
        values = request.body[key]
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, list) or not values or not all(_is_text(v) for v in values):
            return self.error(400, f"{key} must be a string or a non-empty array of strings")
        if len(values) > self.MAX_IDS:
            return self.error(400, f"at most {self.MAX_IDS} values of {key} per request")
        # Unknown profiles are not reported: the answer is "success" either way.
        self.population = [p for p in self.population if p.get(key) not in values]
        return Reply(200, {"status": "success"})


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
    if not named or not _is_text(value):
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
        "rate_limits": {"identity": 1000, "delete": 10000},
        "rate_window_seconds": 60.0,
    }

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("DELETE", "/api/user/v1/identity"): Route("identity", self.delete_identifier),
            ("POST", "/api/user/v1/delete"): Route("delete", self.delete_user),
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

    def normalize(self, record: Any) -> dict[str, Any]:
        _require(isinstance(record, dict) and bool(record), "an insider user is an object")
        slots = _insider_slots(record)
        _require(
            bool(slots) and all(_valid_insider_slot(s) for s in slots),
            "insider identifiers are email, phone_number (E.164), uuid or custom.{name}",
        )
        return copy.deepcopy(record)

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
        user = self._owner(slots)
        if user is not None:
            self.population.remove(user)
        # An unknown user also answers 200 {}: undocumented, it is the erasure's goal state.
        return Reply(200, {})


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

    def normalize(self, record: Any) -> str:
        _require(_is_text(record), "a dfinery profile is its external_id (a string)")
        return record

    def delete_identity(self, request: Request) -> Reply:
        identity = request.body.get("identity")
        external_id = identity.get("external_id") if isinstance(identity, dict) else None
        if not _is_text(external_id) or not _is_iso_utc(request.body.get("request_datetime")):
            return self.envelope(200, "40001", "VALIDATION_FAILURE")
        # An unknown external_id answers OK too: undocumented, we assume the goal state counts.
        self.population = [p for p in self.population if p != external_id]
        return self.envelope(200, "20000", "OK", True)


VENDOR_CLASSES: tuple[type[Vendor], ...] = (Braze, CleverTap, Insider, Dfinery)
SECRET_HEADERS = frozenset().union(*(cls.secret_headers for cls in VENDOR_CLASSES))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the relay's connection pools expect
    server_version = "VendorSandbox/1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't delay the 2nd

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query)),
            headers={name.lower(): value for name, value in self.headers.items()},
            raw_body=self.rfile.read(length) if length else b"",
        )
        try:
            request.body = json.loads(request.raw_body) if request.raw_body else None
        except ValueError:
            request.body = None
        reply = self.server.sandbox.respond(request)  # type: ignore[attr-defined]
        if reply.status is None:
            self._reset_connection()
        else:
            self._send(reply)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    def _send(self, reply: Reply) -> None:
        payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up waiting, e.g. during a `timeout` fault
            self.close_connection = True

    def _reset_connection(self) -> None:
        # Linger 0 turns the close into a TCP RST instead of an orderly FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def log_message(self, *args: Any) -> None:
        """Silent: identifiers must not reach logs; the sandbox records calls itself."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a call sleeping in a `timeout` fault must not hold up close()

    def __init__(self, sandbox: VendorSandbox, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.sandbox = sandbox


class VendorSandbox:
    """The four fake vendors behind one local port, with a Python and an HTTP admin API.

    Every vendor call goes through the same pipeline: route -> body size -> credentials ->
    admission (rate window or concurrency) -> latency -> fault -> the vendor's handler. The
    vendor's rate headers are added to every answer.
    """

    POLL_INTERVAL = 0.02  # how quickly close() is noticed by the serving loop

    def __init__(self, port: int = 0) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(self, port)
        self._thread: threading.Thread | None = None
        self._fresh_state()

    def _fresh_state(self) -> None:
        self._vendors: dict[str, Vendor] = {cls.name: cls() for cls in VENDOR_CLASSES}
        self._routes: dict[tuple[str, str], tuple[Vendor, Route]] = {
            key: (vendor, route)
            for vendor in self._vendors.values()
            for key, route in vendor.routes().items()
        }
        self._vendor_by_path = {path: vendor for (_, path), (vendor, _) in self._routes.items()}
        self._faults: dict[str, list[Fault]] = {name: [] for name in self._vendors}
        self._calls: list[dict[str, Any]] = []

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> VendorSandbox:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": self.POLL_INTERVAL},
            name="vendor-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._stopping.set()  # wakes calls sleeping in latency or a `timeout` fault
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> VendorSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- Python API ----------------------------------------------------------------------------

    def seed(self, population: dict[str, Any]) -> None:
        """Add people, in the seed format of the module docstring. Raises SandboxError."""
        _require(isinstance(population, dict), "a seed is a JSON object keyed by vendor")
        with self._lock:
            # All or nothing: every vendor's part is validated before anyone is added.
            people = {name: self._vendor(name).parse_seed(data) for name, data in population.items()}
            for name, records in people.items():
                self._vendors[name].population.extend(records)

    def configure(self, vendor: str, **settings: Any) -> None:
        with self._lock:
            self._vendor(vendor).configure(**settings)

    def config(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: copy.deepcopy(v.settings) for name, v in self._vendors.items()}

    def inject_fault(
        self,
        vendor: str,
        kind: str,
        *,
        status: int | None = None,
        count: int | None = 1,
        seconds: float = 10.0,
    ) -> None:
        """Spoil the vendor's next `count` calls (None: every call) with a fault of `kind`."""
        with self._lock:
            target = self._vendor(vendor)
            _require(kind in FAULT_KINDS, f"fault kind must be one of {FAULT_KINDS}")
            _require(
                kind != "status" or (isinstance(status, int) and 400 <= status <= 599),
                "a status fault needs status=400..599",
            )
            _require(
                kind != "fail_in_200" or target.fail_in_200() is not None,
                f"{vendor} has no failure inside a 200",
            )
            _require(
                count is None or (isinstance(count, int) and count >= 1),
                "count must be an integer >= 1, or None for every call",
            )
            _require(isinstance(seconds, int | float) and seconds >= 0, "seconds must be >= 0")
            self._faults[vendor].append(Fault(kind, status if kind == "status" else None, seconds, count))

    def clear_faults(self, vendor: str | None = None) -> None:
        with self._lock:
            for name in [vendor] if vendor else list(self._faults):
                self._vendor(name)
                self._faults[name].clear()

    def faults(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            return {name: [asdict(f) for f in queue] for name, queue in self._faults.items()}

    def state(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: vendor.state() for name, vendor in self._vendors.items()}

    def calls(self, vendor: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            if vendor is not None:
                self._vendor(vendor)
            return [copy.deepcopy(c) for c in self._calls if vendor is None or c["vendor"] == vendor]

    def reset(self) -> None:
        """Back to a new sandbox: no people, no calls, no faults, default settings."""
        with self._lock:
            self._fresh_state()

    def _vendor(self, name: str) -> Vendor:
        _require(name in self._vendors, f"unknown vendor {name!r}; one of {sorted(self._vendors)}")
        return self._vendors[name]

    # -- serving -------------------------------------------------------------------------------

    def respond(self, request: Request) -> Reply:
        if request.path.startswith("/_sandbox/"):
            return self._admin(request)
        with self._lock:
            vendor, route = self._routes.get((request.method, request.path), (None, None))
            vendor = vendor or self._vendor_by_path.get(request.path)
        reply, fault = self._answer(vendor, route, request)
        with self._lock:
            if vendor is not None:
                vendor.decorate(reply, route.name if route else None)
            self._record(vendor, request, reply, fault)
        return reply

    def _answer(
        self, vendor: Vendor | None, route: Route | None, request: Request
    ) -> tuple[Reply, Fault | None]:
        if vendor is None:
            return Reply(404, {"error": "no such endpoint"}), None
        if route is None:
            return vendor.error(405, "Method Not Allowed"), None
        if vendor.max_body_bytes is not None and len(request.raw_body) > vendor.max_body_bytes:
            return vendor.error(413, "request entity too large"), None
        with self._lock:
            refusal = vendor.authenticate(request)
            if refusal is None:
                refusal = vendor.admit(route.name)
        if refusal is not None:
            return refusal, None
        try:
            return self._answer_admitted(vendor, route, request)
        finally:
            with self._lock:
                vendor.release(route.name)

    def _answer_admitted(self, vendor: Vendor, route: Route, request: Request) -> tuple[Reply, Fault | None]:
        # Sleeps happen outside the lock, so that other calls (and CleverTap's concurrency
        # limit) see this one in flight.
        self._stopping.wait(vendor.settings["latency"])
        with self._lock:
            fault = self._take_fault(vendor.name)
            if fault is not None and fault.kind != "timeout":
                return vendor.fault_reply(fault, route.name), fault
        if fault is not None:
            self._stopping.wait(fault.seconds)
        with self._lock:
            if not isinstance(request.body, dict):
                return vendor.error(400, "request body must be a JSON object"), fault
            return route.handle(request), fault

    def _take_fault(self, vendor_name: str) -> Fault | None:
        queue = self._faults[vendor_name]
        if not queue:
            return None
        fault = queue[0]
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining == 0:
                queue.pop(0)
        return fault

    def _record(self, vendor: Vendor | None, request: Request, reply: Reply, fault: Fault | None) -> None:
        self._calls.append(
            {
                "time": time.time(),
                "vendor": vendor.name if vendor else None,
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": {
                    name: REDACTED if name in SECRET_HEADERS else value
                    for name, value in request.headers.items()
                },
                "body": copy.deepcopy(request.body),
                "status": reply.status,
                "fault": fault.kind if fault else None,
            }
        )

    # -- admin HTTP API ------------------------------------------------------------------------

    def _admin(self, request: Request) -> Reply:
        actions: dict[tuple[str, str], Callable[[], Any]] = {
            ("GET", "state"): self.state,
            ("GET", "calls"): lambda: {"calls": self.calls(request.query.get("vendor"))},
            ("GET", "config"): self.config,
            ("GET", "faults"): self.faults,
            ("POST", "seed"): lambda: (self.seed(request.body), self.state())[1],
            ("POST", "config"): lambda: self._configure_all(request.body),
            ("POST", "faults"): lambda: self._inject_from_json(request.body),
            ("DELETE", "faults"): lambda: (self.clear_faults(request.query.get("vendor")), self.faults())[1],
            ("POST", "reset"): lambda: (self.reset(), {"reset": True})[1],
        }
        action = actions.get((request.method, request.path.removeprefix("/_sandbox/")))
        if action is None:
            return Reply(404, {"error": f"no admin action {request.method} {request.path}"})
        try:
            return Reply(200, action())
        except SandboxError as exc:
            return Reply(400, {"error": str(exc)})

    def _configure_all(self, body: Any) -> dict[str, dict[str, Any]]:
        _require(
            isinstance(body, dict) and all(isinstance(v, dict) for v in body.values()),
            'config body is {"<vendor>": {"<setting>": value}}',
        )
        for vendor, settings in body.items():
            self.configure(vendor, **settings)
        return self.config()

    def _inject_from_json(self, body: Any) -> dict[str, list[dict[str, Any]]]:
        _require(
            isinstance(body, dict)
            and {"vendor", "kind"} <= set(body)
            and set(body) <= {"vendor", "kind", "status", "count", "seconds"},
            'fault body is {"vendor", "kind", "status"?, "count"?, "seconds"?}',
        )
        options = {key: body[key] for key in ("status", "count", "seconds") if key in body}
        self.inject_fault(body["vendor"], body["kind"], **options)
        return self.faults()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Local fake of Braze, CleverTap, Insider and Dfinery deletion APIs."
    )
    parser.add_argument("--port", type=int, default=8700, help="0 picks a free port")
    parser.add_argument("--seed", type=Path, help="JSON seed file (default: DEFAULT_SEED)")
    args = parser.parse_args(argv)
    population = json.loads(args.seed.read_text()) if args.seed else DEFAULT_SEED

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with VendorSandbox(port=args.port) as sandbox:
        sandbox.seed(population)
        print(sandbox.url, flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
