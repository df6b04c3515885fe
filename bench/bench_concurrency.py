"""concurrency: live handovers in one runtime process, each with its open MIAW event stream, over plain HTTP
and over TLS: RSS per handover above the idle baseline, CPU at idle, time to start them all.

The runtime and the simulator each run in their own process (RSS and CPU are the runtime's alone, read
from /proc). Handovers are added in steps (e.g. 1,000 → 5,000 → 10,000) in the same process; each step's
RSS is measured after a short settle. Over TLS the simulator serves a self-signed certificate made at run
time with the openssl CLI, trusted by the runtime through SSL_CERT_FILE."""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from typing import Any

from bench.common import Stack, stack
from bench.figures import print_table, write_results

START_CONCURRENCY = 100


async def ramp(st: Stack, steps: list[int], idle_seconds: float) -> dict[str, Any]:
    await st.start_handovers(20, 10, prefix="warm")
    await asyncio.sleep(1.0)
    baseline = st.runtime.rss_bytes()
    figures: dict[str, Any] = {"baseline_rss_mib": round(baseline / 2**20, 1), "warm_handovers": 20, "steps": []}
    live = 0
    total_start = 0.0
    for target in steps:
        started = time.perf_counter()
        await st.start_handovers(target - live, START_CONCURRENCY, prefix=f"c{target}")
        took = time.perf_counter() - started
        total_start += took
        live = target
        gc.collect()
        await asyncio.sleep(2.0)
        rss = st.runtime.rss_bytes()
        cpu0 = st.runtime.cpu_seconds()
        await asyncio.sleep(idle_seconds)
        idle_cpu = (st.runtime.cpu_seconds() - cpu0) / idle_seconds
        figures["steps"].append(
            {
                "handovers": target,
                "rss_mib": round(rss / 2**20, 1),
                "kb_per_handover": round((rss - baseline) / target / 1000, 1),
                "idle_cpu_percent": round(idle_cpu * 100, 2),
                "step_start_seconds": round(took, 2),
                "start_all_seconds": round(total_start, 2),
            }
        )
        figures["steps"][-1]["starts_per_second"] = round(target / total_start, 1) if total_start else 0.0
        print(f"  {target:>6} live: rss {rss / 2**20:.0f} MiB, {figures['steps'][-1]['kb_per_handover']} KB each, "
              f"idle CPU {idle_cpu * 100:.1f}%, started in {total_start:.1f} s", flush=True)  # fmt: skip
    return figures


CONFIGS_FULL = [
    ("plain", "uvloop", [1_000, 5_000, 10_000]),
    ("tls", "uvloop", [1_000, 5_000, 10_000]),
    ("plain", "asyncio", [1_000]),
    ("tls", "asyncio", [1_000]),
]
CONFIGS_QUICK = [("plain", "uvloop", [300]), ("tls", "uvloop", [300])]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    configs = CONFIGS_QUICK if args.quick else CONFIGS_FULL
    if args.std_loop:
        configs = [(t, "asyncio", s) for t, loop, s in configs if loop == "uvloop"]
    idle_seconds = 2.0 if args.quick else 5.0
    results: dict[str, Any] = {
        "start_concurrency": START_CONCURRENCY,
        "idle_seconds": idle_seconds,
        "simulator_ping_seconds": 15.0,
        "targets_kb_per_handover": {"plain": 25, "tls": 100},
        "runs": [],
    }
    for transport, loop, steps in configs:
        print(f"{transport} / {loop}: {steps}", flush=True)
        async with stack(uvloop=loop == "uvloop", tls=transport == "tls", receiver=False) as st:
            fig = await ramp(st, steps, idle_seconds)
        results["runs"].append({"transport": transport, "loop": loop, **fig})
    rows = []
    for run_ in results["runs"]:
        for step in run_["steps"]:
            rows.append([
                run_["transport"], run_["loop"], step["handovers"], step["rss_mib"], step["kb_per_handover"],
                step["idle_cpu_percent"], step["start_all_seconds"], step["starts_per_second"],
            ])  # fmt: skip
    print_table(
        "concurrency (one runtime process, SQLite; RSS above the baseline after 20 warm-up handovers)",
        ["transport", "loop", "live", "RSS MiB", "KB/handover", "idle CPU %", "start all s", "starts/s"],
        rows,
    )
    print("targets: < 25 KB/handover plain, < 100 KB/handover TLS")
    print(f"→ {write_results('concurrency', results, quick=args.quick)}")
    return results


def run(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(main(args))
