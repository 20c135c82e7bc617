"""Identity resolution's cost in vendor calls, measured: one person, asked for by one identifier,
erased at each vendor against the vendor sandbox (real sockets), as the vendor functions would:
resolve, forward what enrichment learned as steps to the other vendors, delete, and the first
verification check. Each vendor's calls are counted from the sandbox's own call log."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping

from erasure.config import SANDBOX_URL_VARIABLE, VerificationSettings
from erasure.enrichment import Enrichment
from erasure.intake import Routing
from erasure.observability import IdentifierHasher
from erasure.relay import Relay
from erasure.request import DeletionRequest, parse
from erasure.resolution import Resolver
from erasure.vendors import CONNECTORS
from erasure.vendors.base import Connector
from erasure.vendors.settings import load_vendor_settings
from erasure.verification import first_checks
from tools.bench.cpu import KEY
from tools.vendor_sandbox import VendorSandbox

# One person, held as the vendors hold people (tests/functions/test_identity_resolution.py):
# an identified profile and an anonymous lead under her address at Braze, her profile by
# identity at CleverTap, email, phone and uuid at Insider, her external id at Dfinery.
PERSON = {"external_id": "jane-2024", "email": "jane@example.com", "phone_number": "+6591234567"}
SEED = {
    "braze": {
        "users": [
            {"primary": "jane-2024", "braze_id": "bz-jane", "email": PERSON["email"], "phone": "+6591234567"},
            {"braze_id": "bz-jane-lead", "email": PERSON["email"]},
        ]
    },
    "clevertap": {"profiles": [{"identity": "jane-2024", "guid": "ct-jane", "email": PERSON["email"]}]},
    "insider": {"users": [{"email": PERSON["email"], "phone_number": "+6591234567", "uuid": "ins-jane"}]},
    "dfinery": {"profiles": ["jane-2024"]},
}
# (asked by, enrich, dry run)
SCENARIOS = [(kind, enrich, False) for enrich in (False, True) for kind in PERSON] + [
    ("email", False, True),
    ("email", True, True),
]
QUEUES = {vendor: vendor for vendor in CONNECTORS}  # every vendor deployed; a step's "queue" is its name
CHECKS = VerificationSettings(queue_url="bench", after_s=0, backoff_s=0, max_checks=1)


class _Book:
    """The learned identifiers' ledger, in memory: the external id each request is tied to."""

    def __init__(self) -> None:
        self.ties: dict[str, tuple[str, object]] = {}

    def tie(
        self, source: str, request: DeletionRequest, external_id: object, expiry: object
    ) -> tuple[str, bool]:
        tied_by, tied = self.ties.setdefault(request.request_id, (source, external_id))
        return str(tied_by), tied == external_id

    def note(self, *_: object) -> None:
        pass


def faster(connector: Connector, times: float) -> dict[str, str]:
    """The settings that make every call's limit `times` the documented one (the pacing with it)."""
    return {
        f"{connector.name}_{call.key}_LIMIT_PER_MINUTE".upper(): str(call.requests_per_minute * times)
        for call in connector.calls
        if call.requests_per_minute
    }


def vendor_relay(sandbox: VendorSandbox, connector: Connector, env: Mapping[str, str] | None = None) -> Relay:
    """The vendor function's relay against the sandbox, its settings read as deployed (`env` on top)."""
    base = {connector.secret_variable: "bench", SANDBOX_URL_VARIABLE: sandbox.url, **(env or {})}
    credentials = sandbox.credentials(connector.name, connector.credential_fields)
    settings = load_vendor_settings(connector, base, read_secret=lambda _: credentials)
    return Relay(connector, settings, IdentifierHasher(KEY))


def _count(sandbox: VendorSandbox, vendor: str, since: int, tally: Counter, phase: str) -> int:
    calls = sandbox.calls(vendor)
    for call in calls[since:]:
        kind = "lookups" if call["lookup"] else "deletes"
        tally[f"{phase} {kind}"] += 1
        tally[f"{phase} {kind} ids"] += len(call["identifiers"])
    return len(calls)


def erase_at(
    sandbox: VendorSandbox, vendor: str, request: DeletionRequest, tally: Counter, steps: list, book: _Book
) -> None:
    """One message at one vendor, as its function takes it; what it learned is added to `steps`."""
    connector = CONNECTORS[vendor]
    relay = vendor_relay(sandbox, connector, faster(connector, 100))  # counts, not pace
    resolver = Resolver(relay)
    seen = len(sandbox.calls(vendor))
    resolutions = resolver.resolve([request], None, {})
    seen = _count(sandbox, vendor, seen, tally, "resolve")
    send = lambda queue, bodies: steps.extend((queue, body) for body in bodies)  # noqa: E731
    Enrichment(vendor, CONNECTORS, QUEUES, book, send).forward(resolutions, {})
    results = resolver.delete(resolutions, None, {})
    seen = _count(sandbox, vendor, seen, tally, "delete")
    _, checks = first_checks(connector, CHECKS, [request], results, time.time())
    if checks:
        relay.look_up([c.request for c in checks])
        _count(sandbox, vendor, seen, tally, "verify")


def one_person(sandbox: VendorSandbox, kind: str, enrich: bool, dry_run: bool) -> dict[str, Counter]:
    """Per vendor sent to, its calls for one person asked for by `kind` alone."""
    sandbox.reset()
    sandbox.seed(SEED)
    body = {
        "request_id": "bench-person",
        "identity": {kind: PERSON[kind]},
        "enrich": enrich,
        "dry_run": dry_run,
    }
    request = parse(body, known_vendors=frozenset(CONNECTORS))
    routed, _ = Routing(QUEUES).plan(request)
    tallies: dict[str, Counter] = {vendor: Counter() for vendor in routed}
    steps: list[tuple[str, str]] = []
    book = _Book()
    for vendor in routed:
        erase_at(sandbox, vendor, request, tallies[vendor], steps, book)
    # Steps of what was learned, after the first deletions, as the queues deliver them.
    for vendor, message in steps:
        step = parse(json.loads(message), known_vendors=frozenset(CONNECTORS), steps=True)
        erase_at(sandbox, vendor, step, tallies.setdefault(vendor, Counter()), [], book)
    return tallies


def label(kind: str, enrich: bool, dry_run: bool) -> str:
    return f"{kind} alone" + (", dry run" if dry_run else "") + (", enrich" if enrich else "")


def lookups_per_person() -> tuple[str, dict[tuple[str, bool, bool], dict[str, Counter]]]:
    """The table, and the tallies by scenario (what the bulk figures are computed from)."""
    with VendorSandbox(port=0) as sandbox:
        measured = {scenario: one_person(sandbox, *scenario) for scenario in SCENARIOS}
    lines = [
        "\nlookups per person, by vendor: resolution lookups + deletion calls (+ verification lookups"
        " after);\n  one person held as the sandbox holds Jane, the vendor sandbox over real sockets;"
        " '-': not sent to it",
        f"  {'asked by':<28}" + "".join(f" {vendor:>13}" for vendor in CONNECTORS),
    ]
    for scenario, tallies in measured.items():
        cells = [_cell(tallies.get(vendor)) for vendor in CONNECTORS]
        lines.append(f"  {label(*scenario):<28}" + "".join(f" {cell:>13}" for cell in cells))
    lines.append(
        "  resolution: each given email/phone at Braze is one export (one a call), verified by one more\n"
        "  export by it after the deletion; with enrich, learned identifiers are steps at the vendors\n"
        "  that serve them (counted at those vendors), and the given ones are looked up wherever a\n"
        "  lookup serves them; a dry run looks up, deletes nothing and has nothing to verify"
    )
    return "\n".join(lines), measured


def _cell(tally: Counter | None) -> str:
    if tally is None:
        return "-"
    return f"{tally['resolve lookups']}+{tally['delete deletes']} (+{tally['verify lookups']})"
