"""The mechanics every vendor shares: requests and replies, rate windows, faults, the Vendor base class.

Each module in ``vendors/`` subclasses Vendor with one vendor's particular behaviour; the sandbox
(see server.py) drives them all through the same pipeline.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar

FAULT_KINDS = ("status", "timeout", "reset", "malformed", "fail_in_200", "keep")
ANSWERING_KINDS = ("timeout", "keep")  # faults that let the vendor's handler answer
MALFORMED_BODY = b'{"status": "succ'  # what a proxy cutting the answer short leaves behind


class SandboxError(ValueError):
    """A seed, setting or fault the sandbox cannot accept."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise SandboxError(message)


def is_text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # e.g. Cloudflare's 520, which a vendor behind Cloudflare can answer
        return "Unknown Error"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lowercased
    raw_body: bytes
    body: Any = None  # parsed JSON; None when absent or not JSON
    received: float = field(default_factory=time.time)  # epoch seconds

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
    route: str | None = None  # the route whose calls it spoils; None: any call


@dataclass(frozen=True)
class Route:
    name: str  # also the key of the route's rate window, e.g. "remove"
    handle: Callable[[Request], Reply]
    lookup: bool = False  # reads people (how the relay verifies an erasure) instead of deleting
    json_body: bool = True  # False for a GET: it names what it wants in the query, not a body


class Vendor:
    """What the vendors share; each subclass holds one vendor's particular behaviour.

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

    @classmethod
    def record_for(cls, person: dict[str, Any]) -> Any:
        """How this vendor holds a person given vendor-neutrally, by the relay's identifier names
        ({"external_id", "deprecated_external_ids", "guid", "email", "phone_number", "uuid",
        "custom"}, each optional), in its seed format; None if it holds nothing of them."""
        raise NotImplementedError

    def identifiers_in(self, request: Request) -> list[str]:
        """The identifier values a call names, in its body or its query (for the call log; [] when
        none)."""
        raise NotImplementedError

    def held_identifiers(self) -> set[str]:
        """Every identifier value the population still holds."""
        raise NotImplementedError

    # -- stand-in answers (stand_in.py): the documented answer to a call, state left alone ----

    def documented_success(self, route: str, request: Request) -> Reply:
        """The route's documented success answer to this call, whatever the population holds:
        as a vendor that held whoever a deletion names and erased them answers it; a lookup finds
        nobody. The call is not checked (a healthy stand-in answers what the relay sends)."""
        raise NotImplementedError

    def hostile_answer(self, route: str, request: Request) -> Reply:
        """An answer to this call that quotes back an identifier it names (in a partial failure,
        a refusal or an error body), which the relay must neither log nor store; on a route
        whose answers quote nothing, the documented success."""
        return self.documented_success(route, request)

    # -- shared mechanics ----------------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        updated = copy.deepcopy(self.settings)
        for key, value in changes.items():
            require(
                key in updated, f"{self.name} has no setting {key!r}; known: {', '.join(sorted(updated))}"
            )
            current = updated[key]
            if key in self.CHOICES:
                require(value in self.CHOICES[key], f"{self.name}.{key} must be one of {self.CHOICES[key]}")
            elif isinstance(current, dict):
                require(
                    isinstance(value, dict) and set(value) <= set(current),
                    f"{self.name}.{key} takes keys among {sorted(current)}",
                )
                for limit in value.values():
                    require(
                        isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0,
                        f"{self.name}.{key} values must be integers >= 0",
                    )
                value = {**current, **value}
            elif isinstance(current, str):
                require(is_text(value), f"{self.name}.{key} must be a non-empty string")
            else:
                require(
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
        require(
            isinstance(data, dict) and set(data) == {self.population_key},
            f"seed for {self.name} must be {{{self.population_key!r}: [...]}}",
        )
        records = data[self.population_key]
        require(isinstance(records, list), f"{self.name}.{self.population_key} must be a list")
        return [self.normalize(record) for record in records]

    def state(self) -> dict[str, Any]:
        return {self.population_key: copy.deepcopy(self.population)}
