"""Every vendor's answers without the sandbox's people, faults or server: a stand-in for tests.

A test that serves the vendors from its own HTTP server (pytest-httpserver, say) asks here for
the answer a call gets: `answer(request, "success")`, each vendor's documented success
(Vendor.documented_success), or `answer(request, "hostile")`, an answer that quotes an
identifier of the call back (Vendor.hostile_answer). The call is told to its vendor by its method
and path, as the sandbox tells it; a new vendor module in vendors/ is answered with no edit here.
"""

from __future__ import annotations

import json
from typing import Any

from tools.vendor_sandbox.core import Reply, Request, Route, Vendor
from tools.vendor_sandbox.vendors import VENDOR_CLASSES

KINDS = ("success", "hostile")

_ROUTES: dict[tuple[str, str], tuple[Vendor, Route]] = {
    key: (vendor, route)
    for vendor in (cls() for cls in VENDOR_CLASSES)
    for key, route in vendor.routes().items()
}


def request_of(method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes) -> Request:
    """A call as the sandbox reads it: header names lowercased, the body parsed when JSON."""
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = None
    lowered = {name.lower(): value for name, value in headers.items()}
    return Request(method.upper(), path, dict(query), lowered, raw, body)


def answer(request: Request, kind: str) -> Reply | None:
    """The `kind` answer ("success" or "hostile") of the vendor whose route the call is, or None
    when no vendor has that route."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    found = _ROUTES.get((request.method, request.path))
    if found is None:
        return None
    vendor, route = found
    if kind == "success":
        return vendor.documented_success(route.name, request)
    return vendor.hostile_answer(route.name, request)
