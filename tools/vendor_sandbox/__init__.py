"""A local stand-in for the deletion APIs of the relay's vendors, one module each in vendors/.

One HTTP server on 127.0.0.1 plays every vendor, told apart by path, and answers with each
vendor's documented statuses, bodies and headers (each module in vendors/ cites the vendor's
public documentation it follows). It exists so that the relay can be tested and demonstrated
against the contracts, including their failure modes, without touching a real vendor. Beside
the deletions it serves each vendor's documented read of a person, where the vendor has one (a
"lookup" route; each vendor module lists its routes), with which the relay verifies that an
erased person is gone.

Modules
-------
- core       Request, Reply, rate windows, faults and the Vendor base class
- vendors/   one module per vendor: its endpoints, default credentials, settings, seed and
             faults; every Vendor subclass found there is served
- server     VendorSandbox: the HTTP server, the pipeline and the Python API
- admin      the admin HTTP API under /_sandbox/
- stand_in   each vendor's documented success and hostile answers, without people or a server,
             for tests that serve the vendors from their own HTTP server
- __main__   the command line, ``python -m tools.vendor_sandbox --port 8700 [--seed FILE.json]``

Request bodies must be JSON objects sent with a Content-Length (no chunked uploads); a GET route
takes none (its parameters are in the query).

Settings per vendor (``configure(vendor, **settings)``; it also restarts the rate windows)
------------------------------------------------------------------------------------------
Every vendor has ``latency`` (seconds added to each authenticated, admitted call); each vendor
module lists its other settings, credentials among them, with their defaults.

Seed format (JSON; ``state()`` answers in the same format, so a state can be seeded again)
------------------------------------------------------------------------------------------
    {"<vendor>": {"users" | "profiles": [<person>, ...]}, ...}
Each vendor module shows its part. Every field of a person is optional except that each person
needs at least one identifier. Seeding adds people to whoever is already there.

Faults (``inject_fault(vendor, kind, status=..., count=1, seconds=..., route=None)``)
------------------------------------------------------------------------------------------
A fault fires on the vendor's next `count` (None: every) authenticated, admitted calls (after
the latency), or with a route name (see each vendor module) only on that route's calls, which
other calls leave pending. It replaces the vendor's answer and the request is then not
applied, except for ``timeout`` and ``keep``.
- status:      that HTTP status (400-599) with the vendor's error body; 429 comes with the
               vendor's throttling headers (see each vendor module)
- timeout:     waits ``seconds`` (default 10; make it longer than the client's read timeout),
               then applies the request and answers late, as a slow vendor would
- reset:       closes the socket without answering (TCP reset)
- malformed:   the vendor's success status with a truncated, non-JSON body
- fail_in_200: a 2xx whose body says failure (see each vendor module); a vendor with no such
               answer refuses this fault.
- keep:        the answer the call would get, success included, but every person stays as
               before the call: a vendor that says it deleted and did not

A recorded call is {"time" (answered), "received", "vendor", "method", "path", "query",
"headers" (names lowercase, secrets "[REDACTED]"), "body" (parsed JSON or null), "status" (null
when the socket was reset), "fault" (the fault kind that fired, or null), "route" (the route's
name, null for no route), "lookup" (whether the route reads people), "identifiers" (the
identifier values the call names, in its body or a lookup's query)}. ``held(vendor)`` is every
identifier value a vendor still holds.
"""

from tools.vendor_sandbox.core import (
    FAULT_KINDS,
    MALFORMED_BODY,
    Fault,
    FixedWindow,
    Reply,
    Request,
    Route,
    SandboxError,
    Vendor,
    WindowState,
)
from tools.vendor_sandbox.server import DEFAULT_PEOPLE, DEFAULT_SEED, REDACTED, VendorSandbox, seed_of
from tools.vendor_sandbox.vendors import SECRET_HEADERS, VENDOR_CLASSES, default_credentials

__all__ = [
    "DEFAULT_PEOPLE",
    "DEFAULT_SEED",
    "FAULT_KINDS",
    "MALFORMED_BODY",
    "REDACTED",
    "SECRET_HEADERS",
    "VENDOR_CLASSES",
    "Fault",
    "FixedWindow",
    "Reply",
    "Request",
    "Route",
    "SandboxError",
    "Vendor",
    "VendorSandbox",
    "WindowState",
    "default_credentials",
    "seed_of",
]
