"""A 1,000-request bulk through the local stack (`make demo-stack`'s API, moto, the template's
functions): the caller's wait, against API Gateway's 29 s; then its fan-out, and each function's
peak memory against its MemorySize."""

from __future__ import annotations

import time
from pathlib import Path

from erasure.config import SANDBOX_URL_VARIABLE
from tools.bench.report import Figure
from tools.demo import signed
from tools.local_secrets import sandbox_secrets
from tools.sam_local import LocalRuntime
from tools.vendor_sandbox import VendorSandbox

ROOT = Path(__file__).resolve().parents[2]


FAN_OUT_S = 20  # long enough for every vendor function to take at least one full batch


def bulk_on_local_stack(count: int = 1000, progress=lambda message: None) -> list[Figure]:
    bulk = {
        "requests": [
            {"identity": {"external_id": f"p{n}", "email": f"p{n}@example.com"}} for n in range(count)
        ]
    }
    with open(ROOT / ".demo" / "bench-functions.log", "w") as logs, VendorSandbox(port=0) as sandbox:
        env_vars = {"Parameters": {SANDBOX_URL_VARIABLE: sandbox.url, "LEDGER_WRITERS": "1"}}
        template = ROOT / "template.yaml"
        with LocalRuntime(template, env_vars=env_vars, secrets=sandbox_secrets, logs=logs) as runtime:
            api = runtime.serve_api(0)
            signed("GET", f"{api}/v1/deletions/warm-up")  # the intake's cold start is not the bulk's
            signed("POST", f"{api}/v1/deletions", {"request_id": "warm-up", "identity": {"external_id": "w"}})
            started = time.perf_counter()
            status, answer = signed("POST", f"{api}/v1/deletions", bulk)
            seconds = time.perf_counter() - started
            progress(f"answered {status} in {seconds:.1f} s; {FAN_OUT_S} s of its fan-out to the vendors")
            runtime.start_event_sources()
            time.sleep(FAN_OUT_S)
            signed("GET", f"{api}/v1/deletions/warm-up")  # a real receipt, whatever the bulk answered
            peaks = runtime.peak_memory_mb()
            sizes = {logical_id: spec.memory_mb for logical_id, spec in runtime.functions.items()}
    results = answer.get("results", []) if isinstance(answer, dict) else []  # none in a 502 or 504
    accepted = sum(1 for r in results if r["status"] == 202)
    return [
        Figure(
            f"bulk of {count} on the local stack: {status}, {accepted} accepted",
            seconds,
            "s",
            29.0,
            "API Gateway's limit; moto, one ledger writer, this machine's CPU",
        )
    ] + [
        Figure(f"{logical_id} peak memory", peak, "MB", sizes[logical_id], "its MemorySize; a local process")
        for logical_id, peak in sorted(peaks.items())
    ]
