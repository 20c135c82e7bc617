"""A 1,000-request bulk through the local stack (`make demo-stack`'s API, moto, the template's
functions): the caller's wait, against API Gateway's 29 s."""

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


def bulk_on_local_stack(count: int = 1000) -> list[Figure]:
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
            signed("POST", f"{api}/v1/deletions", {"identity": {"external_id": "warm-up"}})
            started = time.perf_counter()
            status, answer = signed("POST", f"{api}/v1/deletions", bulk)
            seconds = time.perf_counter() - started
    accepted = sum(1 for r in answer["results"] if r["status"] == 202)
    return [
        Figure(
            f"bulk of {count} on the local stack: {status}, {accepted} accepted",
            seconds,
            "s",
            29.0,
            "API Gateway's limit; moto, one ledger writer, this machine's CPU",
        )
    ]
