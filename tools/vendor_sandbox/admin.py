"""The sandbox's admin HTTP API, served under /_sandbox/ beside the vendors.

JSON in and out; a bad request answers 400 {"error": ...}. Every action calls the sandbox's
Python API (see server.py), so the two answer alike.

    GET    /_sandbox/state                  population per vendor (seed format)
    GET    /_sandbox/calls[?vendor=NAME]    {"calls": [...]} every vendor call, oldest first
    GET    /_sandbox/config                 settings per vendor
    GET    /_sandbox/faults                 pending faults per vendor
    POST   /_sandbox/seed                   body: a seed; answers the new state
    POST   /_sandbox/config                 body: {NAME: {"rate_limits": {ROUTE: 5}}, ...}
    POST   /_sandbox/faults                 body: {"vendor", "kind", "status"?, "count"?,
                                                   "seconds"?, "route"?}; answers the pending
                                                   faults
    DELETE /_sandbox/faults[?vendor=NAME]
    POST   /_sandbox/reset                  no people, calls, faults; default settings
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tools.vendor_sandbox.core import Reply, Request, SandboxError, require

if TYPE_CHECKING:
    from tools.vendor_sandbox.server import VendorSandbox

FAULT_OPTIONS = ("status", "count", "seconds", "route")  # inject_fault's keyword arguments


def respond(sandbox: VendorSandbox, request: Request) -> Reply:
    vendor = request.query.get("vendor")
    actions: dict[tuple[str, str], Callable[[], Any]] = {
        ("GET", "state"): sandbox.state,
        ("GET", "calls"): lambda: {"calls": sandbox.calls(vendor)},
        ("GET", "config"): sandbox.config,
        ("GET", "faults"): sandbox.faults,
        ("POST", "seed"): lambda: (sandbox.seed(request.body), sandbox.state())[1],
        ("POST", "config"): lambda: _configure_all(sandbox, request.body),
        ("POST", "faults"): lambda: _inject_from_json(sandbox, request.body),
        ("DELETE", "faults"): lambda: (sandbox.clear_faults(vendor), sandbox.faults())[1],
        ("POST", "reset"): lambda: (sandbox.reset(), {"reset": True})[1],
    }
    action = actions.get((request.method, request.path.removeprefix("/_sandbox/")))
    if action is None:
        return Reply(404, {"error": f"no admin action {request.method} {request.path}"})
    try:
        return Reply(200, action())
    except SandboxError as exc:
        return Reply(400, {"error": str(exc)})


def _configure_all(sandbox: VendorSandbox, body: Any) -> dict[str, dict[str, Any]]:
    require(
        isinstance(body, dict) and all(isinstance(v, dict) for v in body.values()),
        'config body is {"<vendor>": {"<setting>": value}}',
    )
    for vendor, settings in body.items():
        sandbox.configure(vendor, **settings)
    return sandbox.config()


def _inject_from_json(sandbox: VendorSandbox, body: Any) -> dict[str, list[dict[str, Any]]]:
    require(
        isinstance(body, dict)
        and {"vendor", "kind"} <= set(body)
        and set(body) <= {"vendor", "kind", *FAULT_OPTIONS},
        'fault body is {"vendor", "kind", "status"?, "count"?, "seconds"?, "route"?}',
    )
    options = {key: body[key] for key in FAULT_OPTIONS if key in body}
    sandbox.inject_fault(body["vendor"], body["kind"], **options)
    return sandbox.faults()
