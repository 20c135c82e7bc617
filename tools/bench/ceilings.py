"""Vendor ceilings under queue and API traffic together: the function's most invocations at once
(the queue's 2 and the API route's 1) relay side by side against the sandbox, which enforces the
documented limit; and, as the baseline, the same with the old pacing (the limit split over the
queue's 2 invocations only, while the API route ran beside them)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from erasure.observability import IdentifierHasher
from erasure.relay import Relay
from erasure.request import parse
from erasure.vendors import CONNECTORS
from erasure.vendors.settings import invocation_rate, load_vendor_settings
from tools.bench.report import Figure
from tools.vendor_sandbox import VendorSandbox

VENDOR, OPERATION = "braze", "remove"  # 1,000 calls a minute: the lowest documented limit
WINDOW_S = 6.0  # the sandbox's rate window, shortened; its limit scaled to match
RUN_S = 13.0  # a little over two windows


def _calls_and_throttled(
    sandbox: VendorSandbox, invocations: int, split_over: int, key: bytes
) -> tuple[int, int]:
    connector = CONNECTORS[VENDOR]
    operation = next(op for op in connector.operations if op.key == OPERATION)
    limit = operation.requests_per_minute
    sandbox.reset()
    sandbox.configure(
        VENDOR, rate_window_seconds=WINDOW_S, rate_limits={OPERATION: round(limit * WINDOW_S / 60)}
    )
    env = {"BRAZE_SECRET_ID": "x", "VENDOR_SANDBOX_URL": sandbox.url}
    settings = load_vendor_settings(
        connector, env, read_secret=lambda _: sandbox.credentials(VENDOR, connector.credential_fields)
    )
    per_invocation = invocation_rate(connector, operation, {}) * connector.max_invocations / split_over
    settings = replace(settings, rates={**settings.rates, OPERATION: per_invocation})
    # The relay starts no call it could not finish before the deadline: leave it RUN_S of calls.
    deadline = time.monotonic() + RUN_S + settings.connect_timeout + settings.read_timeout + 1

    def invoke(n: int) -> None:
        relay = Relay(connector, settings, IdentifierHasher(key))
        people = [
            parse({"action": "remove_identifier", "identity": {"external_id": f"i{n}-p{p}"}})
            for p in range(3000)
        ]
        relay.run(people, lambda: (deadline - time.monotonic()) * 1000)

    threads = [threading.Thread(target=invoke, args=(n,)) for n in range(invocations)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    calls = sandbox.calls(VENDOR)
    return len(calls), sum(1 for c in calls if c["status"] == 429)


def ceilings(key: bytes) -> list[Figure]:
    connector = CONNECTORS[VENDOR]
    with VendorSandbox(port=0) as sandbox:
        calls, throttled = _calls_and_throttled(
            sandbox, connector.max_invocations, connector.max_invocations, key
        )
        old_calls, old_throttled = _calls_and_throttled(
            sandbox, connector.max_invocations, connector.queue_concurrency, key
        )
    return [
        Figure(
            f"{VENDOR} {OPERATION}: 429s, 2 queue + 1 API invocations",
            100 * throttled / max(calls, 1),
            "%",
            1.0,
            f"old pacing (÷{connector.queue_concurrency}): {old_throttled} of {old_calls} calls"
            f" ({100 * old_throttled / max(old_calls, 1):.0f}%); now {throttled} of {calls}",
        )
    ]
