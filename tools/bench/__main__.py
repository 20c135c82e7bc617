"""python -m tools.bench [--quick]: every figure with its target and same-run baseline."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "erasure-relay-benchmark")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ErasureRelayBenchmark")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from erasure.observability import logger
from tools import cold_start
from tools.bench import cpu
from tools.bench.ceilings import ceilings
from tools.bench.forgetting import forgetting
from tools.bench.local_stack import bulk_on_local_stack
from tools.bench.report import Figure, progress, table
from tools.bench.resolution import lookups_per_person
from tools.bench.resolution_bulk import PEOPLE, SCALE, bulk_by_email
from tools.bench.throughput import relay_throughput


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the cold starts and the local stack")
    args = parser.parse_args(argv)
    # The relay logs as deployed (its cost is part of the figures), but not onto this report.
    logger.registered_handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - for the whole run

    sections: list[tuple[str, list[Figure]]] = []
    if not args.quick:
        progress("cold starts: sam build if stale, then 5 fresh processes per function")
        rows, _ = cold_start.cold_start_figures(runs=5, progress=progress)
        built = [r for r in rows if r.layer == "as built"]
        bare = {r.function: r.init_ms for r in rows if r.layer == "no bytecode"}
        sections.append(
            (
                f"cold start: init / floor (json, urllib3, boto3 + Logger(): {built[0].floor_ms:.0f} ms)",
                [
                    Figure(
                        f"{r.function} init {r.init_ms:.0f} ms",
                        r.ratio,
                        "x",
                        r.target,
                        f"without bytecode: {bare[r.function]:.0f} ms",
                    )
                    for r in built
                ],
            )
        )
    progress("reading vendor answers")
    sections.append(
        ("reading a vendor's answer (CPU per id, the worst of its error answers)", cpu.reading_answers())
    )
    progress("bulk intake, network stubbed")
    sections.append(("bulk intake (network stubbed)", cpu.bulk_intake()))
    progress("forgetting: messages that name identifiers, against carrying them or crypto-shredding")
    sections.append(("what the eraser's forgetting costs (issue 21)", forgetting()))
    progress("a vendor batch's ledger writes, network stubbed")
    sections.append(("vendor function ledger work (network stubbed)", cpu.ledger_writes()))
    progress(
        "vendor ceilings: 3 invocations against the sandbox's limits, now and with the old pacing (~30 s)"
    )
    sections.append(("vendor ceilings under queue and API traffic", ceilings(cpu.KEY)))
    progress("identity resolution: one person at each vendor, by each identifier, against the sandbox")
    per_person, tallies = lookups_per_person()
    if not args.quick:
        progress(f"{PEOPLE:,} people by email, the scarcest lookup limit and its pacing x{SCALE} (~55 s)")
    sections.append(
        (
            f"a {PEOPLE:,}-person bulk by email alone, bounded by each vendor's lookup (2 queue invocations)",
            bulk_by_email(tallies, measure=not args.quick),
        )
    )
    if not args.quick:
        progress("a 1,000-request bulk through the local stack")
        sections.append(("the local stack", bulk_on_local_stack(progress=progress)))
    for title, figures in sections:
        print(table(title, figures))
    print(per_person)
    print(relay_throughput(progress))
    missed = [f.item for _, figures in sections for f in figures if f.verdict not in ("", "ok")]
    print(f"\n{len(missed)} target(s) missed" + (f": {', '.join(missed)}" if missed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
