"""VendorSandbox: the vendors behind one local HTTP server, with a Python API.

The admin HTTP API under /_sandbox/ is in admin.py, the command line in __main__.py.
"""

from __future__ import annotations

import copy
import json
import socket
import struct
import threading
import time
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tools.ports import binding
from tools.vendor_sandbox import admin
from tools.vendor_sandbox.core import (
    ANSWERING_KINDS,
    FAULT_KINDS,
    Fault,
    Reply,
    Request,
    Route,
    Vendor,
    require,
)
from tools.vendor_sandbox.vendors import SECRET_HEADERS, VENDOR_CLASSES

# Two people, given vendor-neutrally: each vendor holds them in its own way (Vendor.record_for).
DEFAULT_PEOPLE: list[dict[str, Any]] = [
    {
        "external_id": "cust-1001",
        "deprecated_external_ids": ["legacy-1001"],
        "guid": "ct-guid-1001",
        "email": "ana@example.com",
        "uuid": "cust-1001",
        "custom": {"loyalty_id": "L-1001"},
    },
    {"external_id": "cust-1002", "guid": "ct-guid-1002", "phone_number": "+6598765432", "uuid": "cust-1002"},
]


def seed_of(people: list[dict[str, Any]], vendors: list[str] | None = None) -> dict[str, Any]:
    """The seed (module docstring's format) in which the vendors (default: all) hold these people."""
    seed = {}
    for cls in VENDOR_CLASSES:
        if vendors is None or cls.name in vendors:
            records = [cls.record_for(person) for person in people]
            seed[cls.name] = {cls.population_key: [r for r in records if r is not None]}
    return seed


DEFAULT_SEED = seed_of(DEFAULT_PEOPLE)

REDACTED = "[REDACTED]"


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
        reply = self.server.sandbox.respond(request)
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
    """Every fake vendor behind one local port, with a Python and an HTTP admin API.

    Every vendor call goes through the same pipeline: route -> body size -> credentials ->
    admission (rate window or concurrency) -> latency -> fault -> body check -> the vendor's
    handler. The vendor's rate headers are added to every answer.
    """

    POLL_INTERVAL = 0.02  # how quickly close() is noticed by the serving loop

    def __init__(self, port: int = 0) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        with binding(port, "the vendor sandbox"):
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
        """Add people, in the seed format of the package docstring. Raises SandboxError."""
        require(isinstance(population, dict), "a seed is a JSON object keyed by vendor")
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
        route: str | None = None,
    ) -> None:
        """Spoil the vendor's next `count` calls (None: every call) with a fault of `kind`; with a
        route name, only that route's calls (others pass it by)."""
        with self._lock:
            target = self._vendor(vendor)
            route_names = [r.name for r in target.routes().values()]
            require(
                route is None or route in route_names,
                f"{vendor} has no route {route!r}; its routes: {', '.join(route_names)}",
            )
            require(kind in FAULT_KINDS, f"fault kind must be one of {FAULT_KINDS}")
            require(
                kind != "status" or (isinstance(status, int) and 400 <= status <= 599),
                "a status fault needs status=400..599",
            )
            require(
                kind != "fail_in_200" or target.fail_in_200() is not None,
                f"{vendor} has no failure inside a 200",
            )
            require(
                count is None or (isinstance(count, int) and count >= 1),
                "count must be an integer >= 1, or None for every call",
            )
            require(isinstance(seconds, int | float) and seconds >= 0, "seconds must be >= 0")
            self._faults[vendor].append(
                Fault(kind, status if kind == "status" else None, seconds, count, route)
            )

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

    def credentials(self, vendor: str, fields: tuple[str, ...]) -> dict[str, str]:
        """The credentials the vendor expects, under a secret's field names (which are its
        settings' names: api_key, account_id, passcode, ...)."""
        settings = self.config()[vendor]
        return {field: settings[field] for field in fields}

    def held(self, vendor: str) -> set[str]:
        """Every identifier value the vendor still holds."""
        with self._lock:
            return self._vendor(vendor).held_identifiers()

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
        require(name in self._vendors, f"unknown vendor {name!r}; one of {sorted(self._vendors)}")
        return self._vendors[name]

    # -- serving -------------------------------------------------------------------------------

    def respond(self, request: Request) -> Reply:
        if request.path.startswith("/_sandbox/"):
            return admin.respond(self, request)
        with self._lock:
            vendor, route = self._routes.get((request.method, request.path), (None, None))
            vendor = vendor or self._vendor_by_path.get(request.path)
        reply, fault = self._answer(vendor, route, request)
        with self._lock:
            if vendor is not None:
                vendor.decorate(reply, route.name if route else None)
            self._record(vendor, route, request, reply, fault)
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
        # Sleeps happen outside the lock, so that other calls (and a vendor's concurrency
        # limit) see this one in flight.
        self._stopping.wait(vendor.settings["latency"])
        with self._lock:
            fault = self._take_fault(vendor.name, route.name)
            if fault is not None and fault.kind not in ANSWERING_KINDS:
                return vendor.fault_reply(fault, route.name), fault
        if fault is not None and fault.kind == "timeout":
            self._stopping.wait(fault.seconds)
        with self._lock:
            if route.json_body and not isinstance(request.body, dict):
                return vendor.error(400, "request body must be a JSON object"), fault
            if fault is None or fault.kind != "keep":
                return route.handle(request), fault
            # The vendor answers as if it had done the work, and everyone stays as they were.
            kept = copy.deepcopy(vendor.population)
            reply = route.handle(request)
            vendor.population = kept
            return reply, fault

    def _take_fault(self, vendor_name: str, route_name: str) -> Fault | None:
        """The first pending fault for this route's calls, spending one of its calls."""
        queue = self._faults[vendor_name]
        index = next((i for i, f in enumerate(queue) if f.route in (None, route_name)), None)
        if index is None:
            return None
        fault = queue[index]
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining == 0:
                queue.pop(index)
        return fault

    def _record(
        self, vendor: Vendor | None, route: Route | None, request: Request, reply: Reply, fault: Fault | None
    ) -> None:
        self._calls.append(
            {
                "time": time.time(),
                "received": request.received,
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
                "route": route.name if route else None,
                "lookup": route is not None and route.lookup,
                "identifiers": vendor.identifiers_in(request) if vendor else [],
            }
        )
