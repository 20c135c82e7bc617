"""A 1,000-person bulk asked for by email alone, bounded by each vendor's lookup: computed from
the connectors' own declarations (calls a person x 1,000 / the queue's invocations' share of the
limit), and at Braze measured: the function's invocations side by side against the sandbox,
which enforces the export limit, with every limit, window, timeout and wait shortened SCALE
times, and the time taken scaled back."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from erasure.handlers.sqs import RetryScheduler
from erasure.outcomes import IdentifierResult
from erasure.relay import Relay
from erasure.request import DeletionRequest, parse
from erasure.resolution import Resolver
from erasure.vendors import CONNECTORS
from erasure.vendors.base import Call, Connector
from erasure.vendors.settings import invocation_rate
from erasure.verification import first_checks
from tools.bench.report import Figure
from tools.bench.resolution import CHECKS, faster, vendor_relay
from tools.vendor_sandbox import VendorSandbox

PEOPLE = 1000
SCALE = 30  # the measured run goes this many times faster than Braze's clock
BATCH, TIMEOUT_S = 100, 60  # the Braze queue's BatchSize, the function's Timeout (template.yaml)
CAP_MIN = 20  # the measured run is stopped past this (Braze's clock): three times the declared
LATENCY_S = 0.1  # a vendor call's round trip, assumed: what a concurrency limit makes of a call
Work = Callable[[Relay, list[DeletionRequest], Callable[[], float]], list[list[IdentifierResult]]]


def _minutes(connector: Connector, call: Call, calls: float, env: dict[str, str]) -> tuple[float, str]:
    """How long the queue's invocations take to make `calls` of `call`, and at what pace."""
    rate = invocation_rate(connector, call, env) * connector.queue_concurrency
    if rate:
        return calls / rate, f"{rate:.0f}/min"
    in_flight = connector.default_concurrency * connector.queue_concurrency
    return calls * LATENCY_S / in_flight / 60, f"{in_flight} in flight x {LATENCY_S * 1000:g} ms"


def declared(vendor: str, tally: Counter, env: dict[str, str] | None = None) -> Figure:
    """The bulk at one vendor from its declarations and one person's measured calls."""
    connector, env = CONNECTORS[vendor], env or {}
    delete = connector.operations[-1]  # delete_profile, every vendor's last
    lookups = tally["resolve lookups"] * PEOPLE
    batched = not delete.per_person and delete.max_batch > 1
    deletes = (
        math.ceil(PEOPLE * tally["delete deletes ids"] / delete.max_batch)
        if batched
        else PEOPLE * tally["delete deletes"]
    )
    found, pace = _minutes(connector, connector.lookup, lookups, env) if connector.lookup else (0.0, "-")
    erased, _ = _minutes(connector, delete, deletes, env)
    verified, _ = (
        _minutes(connector, connector.lookup, tally["verify lookups"] * PEOPLE, env)
        if connector.lookup
        else (0.0, "")
    )
    return Figure(
        f"{vendor}: lookups and deletions, declared",
        found + erased,
        "min",
        None,
        f"{lookups} lookups at {pace} ({found:.2g} min), {deletes} deletion calls ({erased:.2g} min);"
        f" then {tally['verify lookups'] * PEOPLE} verification lookups (+{verified:.2g} min)",
    )


def _drain(
    relays: list[Relay], items: list[DeletionRequest], work: Work, batch: int, cap_s: float
) -> tuple[float, int, int]:
    """The queue's invocations side by side, each taking up to `batch` of the items due, until every
    item is done or `cap_s` has passed; one not done comes back after the queue's retry wait.
    (seconds, receives, items done)"""
    lock = threading.Lock()
    waiting = [(0.0, 1, item) for item in items]  # (due, receive count, item)
    done, receives = [0], [0]
    stop = time.monotonic() + cap_s

    def invocation(relay: Relay) -> None:
        while done[0] < len(items) and time.monotonic() < stop:
            with lock:
                taken = [w for w in waiting if w[0] <= time.monotonic()][:batch]
                for w in taken:
                    waiting.remove(w)
                receives[0] += len(taken)
            if not taken:
                time.sleep(0.005)
                continue
            deadline = time.monotonic() + TIMEOUT_S / SCALE
            # The relay keeps one (unscaled) second to write its answers: scaled, it is 1/SCALE.
            remaining = lambda end=deadline: (end - time.monotonic() + 1 - 1 / SCALE) * 1000  # noqa: E731
            results = work(relay, [w[2] for w in taken], remaining)
            with lock:
                for (_, count, item), result in zip(taken, results, strict=True):
                    retry = [r for r in result if not r.verdict.outcome.is_final]
                    if not retry:
                        done[0] += 1
                        continue
                    wait = RetryScheduler.wait_seconds(retry, count) or TIMEOUT_S * 6
                    waiting.append((time.monotonic() + wait / SCALE, count + 1, item))

    threads = [threading.Thread(target=invocation, args=(relay,)) for relay in relays]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, receives[0], done[0]


def _braze_run(sandbox: VendorSandbox, batch: int, cap_s: float, verify: bool) -> dict[str, float]:
    """1,000 people by email at Braze (each an identified profile and a lead under the address),
    through the queue's invocations in batches of `batch`; then, if `verify`, their first checks."""
    connector, checks = CONNECTORS["braze"], []
    emails = [f"person-{n}@example.com" for n in range(PEOPLE)]
    sandbox.reset()
    sandbox.configure("braze", rate_window_seconds=60 / SCALE, latency=LATENCY_S / SCALE)
    sandbox.seed({"braze": {"users": [u for n, e in enumerate(emails) for u in _held(n, e)]}})
    relays = [_scaled_relay(sandbox, connector) for _ in range(connector.queue_concurrency)]

    def erase(relay: Relay, requests: list, remaining: Callable[[], float]) -> list[list[IdentifierResult]]:
        resolver = Resolver(relay)
        results = resolver.delete(resolver.resolve(requests, remaining, {}), remaining, {})
        for request, result in zip(requests, results, strict=True):
            if all(r.verdict.outcome.is_final for r in result):
                checks.extend(c.request for c in first_checks(connector, CHECKS, [request], [result], 0)[1])
        return results

    requests = [parse({"request_id": f"bulk-{n}", "identity": {"email": e}}) for n, e in enumerate(emails)]
    seconds, receives, done = _drain(relays, requests, erase, batch, cap_s)
    run = {"minutes": seconds * SCALE / 60, "receives": receives, "done": done, "checks": len(checks)}
    if verify:
        look_up = lambda relay, requests, remaining: relay.look_up(requests, remaining)  # noqa: E731
        seconds, run["check receives"], run["checked"] = _drain(relays, checks, look_up, BATCH, cap_s)
        run["check minutes"] = seconds * SCALE / 60
    calls = Counter((c["route"], c["status"] == 429) for c in sandbox.calls("braze"))
    run["exports"], run["429s"] = calls[("export", False)], calls[("export", True)] + calls[("delete", True)]
    run["deletes"] = calls[("delete", False)]
    return run


def _held(n: int, email: str) -> tuple[dict, dict]:
    return {"primary": f"p{n}", "braze_id": f"bz-{n}", "email": email}, {
        "braze_id": f"bz-lead-{n}",
        "email": email,
    }


def measured_at_braze() -> list[Figure]:
    """As deployed (batches of 100, more than one invocation can look up at the export's pace:
    each looks up what its time allows, deletes what it found, and the rest comes back soon),
    to the end, and the first checks."""
    with VendorSandbox(port=0) as sandbox:
        run = _braze_run(sandbox, BATCH, CAP_MIN * 60 / SCALE, verify=True)
    return [
        Figure(
            f"braze measured, batches of {BATCH}",
            run["minutes"],
            "min",
            None,
            f"{run['done']} erased, {run['receives']} receives, {run['deletes']} deletion calls;"
            f" first checks of {run['checks']}: +{run['check minutes']:.2g} min;"
            f" {run['exports']} exports in all, {run['429s']} answered 429 (clock x1/{SCALE})",
        ),
    ]


def _scaled_relay(sandbox: VendorSandbox, connector: Connector) -> Relay:
    relay = vendor_relay(sandbox, connector, faster(connector, SCALE))
    settings = relay.settings
    scaled = replace(
        settings,
        connect_timeout=settings.connect_timeout / SCALE,
        read_timeout=settings.read_timeout / SCALE,
        written_within_s=settings.written_within_s / SCALE,
    )
    return Relay(connector, scaled, relay.hasher)


def bulk_by_email(tallies: dict[tuple[str, bool, bool], dict[str, Counter]], measure: bool) -> list[Figure]:
    """The figures, from one person's calls (tools.bench.resolution); Braze's measured if `measure`."""
    by_email = tallies[("email", False, False)]
    figures = [declared(vendor, by_email[vendor]) for vendor in CONNECTORS if vendor in by_email]
    figures.insert(1, declared("braze", by_email["braze"], {"BRAZE_EXPORT_LIMIT_PER_MINUTE": "2500"}))
    figures[1] = replace(figures[1], item="braze declared, pre-2024-08-22 workspace: 2,500/min")
    if measure:
        figures[1:1] = measured_at_braze()
    enriched = tallies[("email", True, False)].get("dfinery", Counter())
    figures.append(declared("dfinery", enriched))
    figures[-1] = replace(figures[-1], item="dfinery declared, only with enrich (else skipped)")
    return figures
