"""The relay's throughput: one invocation against the vendor sandbox with 50 ms of vendor latency,
identifiers a second and vendor calls per operation, at the deployed pacing."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from erasure.config import VendorSettings
from erasure.observability import IdentifierHasher
from erasure.relay import Relay
from erasure.request import parse
from erasure.vendors import CONNECTORS
from erasure.vendors.settings import invocation_rate
from tools.bench.cpu import KEY, example_value, operation_kind
from tools.vendor_sandbox import VendorSandbox

SECONDS_PER_OPERATION = 4  # at most, at the operation's pacing: how many people each gets


def relay_throughput(progress: Callable[[str], None]) -> str:
    lines = [
        "\nrelay throughput, one invocation, vendor latency 50 ms, the deployed pacing (figures only)",
        f"  {'vendor':<10} {'operation':<32} {'ids':>5} {'calls':>6} {'seconds':>8} {'ids/s':>7}  outcomes",
    ]
    with VendorSandbox(port=0) as sandbox:
        for vendor, connector in CONNECTORS.items():
            for operation in connector.operations:
                progress(f"throughput: {vendor} {operation.name}")
                sandbox.reset()
                sandbox.configure(vendor, latency=0.05)
                credentials = sandbox.credentials(vendor, connector.credential_fields)
                rates = {op.key: invocation_rate(connector, op, {}) for op in connector.operations}
                settings = VendorSettings(
                    sandbox.url,
                    credentials,
                    connector.default_concurrency,
                    rates,
                    3.05,
                    10,
                    connector.options({}),
                )
                relay = Relay(connector, settings, IdentifierHasher(KEY))
                # As many people as the operation's pace allows in a few seconds.
                kind = operation_kind(operation)
                calls_allowed = rates[operation.key] / 60 * SECONDS_PER_OPERATION
                people_per_call = 1 if operation.per_person else operation.max_batch
                count = min(1000, int(calls_allowed * people_per_call)) if rates[operation.key] else 1000
                requests = [
                    parse({"action": str(operation.action), "identity": {kind: example_value(kind, n)}})
                    for n in range(count)
                ]
                started = time.perf_counter()
                results = relay.run(requests)
                seconds = time.perf_counter() - started
                outcomes = Counter(str(r.verdict.outcome) for per_request in results for r in per_request)
                calls = len(sandbox.calls(vendor))
                lines.append(
                    f"  {vendor:<10} {operation.name:<32} {count:>5} {calls:>6} {seconds:>8.2f} "
                    f"{count / seconds:>7.0f}  {dict(outcomes)}"
                )
    return "\n".join(lines)
