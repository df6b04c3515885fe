"""instruments: what the /metrics latency histograms cost per relayed message and per fanned-in event.

A micro-benchmark on the runtime's own `Metrics`: the instrument work one user message adds on the relay
path (the MIAW call timed and observed by endpoint, the relay timed and observed) and one agent event on the
fan-in path (the delivery attempt and the delivery lag), repeated in a loop and timed with CPU time (best of
five). It is set against the runtime's CPU per message from the last relay figures (relay.json, or
relay.quick.json after a --quick run) when there are any; the issue's target is at most 3%.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import orjson

from bench.common import RESULTS, print_table, write_results
from handover_miaw.metrics import Metrics

TARGET_PERCENT = 3.0


def _cpu_us_per_call(work: Callable[[], None], calls: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(calls):
            work()
        best = min(best, time.process_time() - started)
    return best / calls * 1e6


def paths(metrics: Metrics) -> dict[str, Callable[[], None]]:
    """Per path, the work its instruments do for one message: the histograms (with the clock reads that
    feed them; `relay` includes the call counter) and, for comparison, the call counter that was there
    before them."""
    clock = time.perf_counter

    def relay_histograms() -> None:
        call_started = clock()
        metrics.miaw_call("send_message", "202", clock() - call_started)
        relay_started = clock()
        metrics.relay_seconds.observe(clock() - relay_started)

    counter = metrics.miaw_calls.labels("send_message", "202")

    def relay_counter_only() -> None:
        counter.inc()

    def fanin_histograms() -> None:
        started = clock()
        metrics.delivery_attempt("2xx", clock() - started)
        metrics.delivery_lag("agent.message", time.time() - 1.0)

    return {"relay": relay_histograms, "relay_counter_only": relay_counter_only, "fanin": fanin_histograms}


def _relay_cpu_us(quick: bool) -> tuple[float | None, str | None]:
    """The runtime's CPU per relayed message from the relay figures of the same kind (quick or full)."""
    for name in ("relay.quick.json", "relay.json") if quick else ("relay.json",):
        path = RESULTS / name
        if path.exists():
            figures = orjson.loads(path.read_bytes())["figures"]
            return float(figures["runtime"]["cpu_us_per_message"]["runtime"]), name
    return None, None


def run(args: argparse.Namespace) -> dict[str, Any]:
    calls = 20_000 if args.quick else 200_000
    costs = {name: round(_cpu_us_per_call(work, calls), 3) for name, work in paths(Metrics()).items()}
    relay_cpu, source = _relay_cpu_us(args.quick)
    fig: dict[str, Any] = {
        "calls": calls,
        "cpu_us_per_message": costs,
        "relay_runtime_cpu_us_per_message": relay_cpu,
        "relay_figures_from": source,
        "relay_percent": round(costs["relay"] / relay_cpu * 100, 2) if relay_cpu else None,
        "relay_added_percent": round((costs["relay"] - costs["relay_counter_only"]) / relay_cpu * 100, 2)
        if relay_cpu
        else None,
        "target_percent": TARGET_PERCENT,
    }
    rows = [[name, cost] for name, cost in costs.items()]
    print_table(f"instruments ({calls:,} calls, best of 5, CPU time)", ["path", "µs per message"], rows)
    if relay_cpu:
        print(f"relay: {fig['relay_percent']}% of the runtime's {relay_cpu:.0f} µs per message ({source}), "
              f"{fig['relay_added_percent']}% beyond the call counter alone; "
              f"target ≤ {TARGET_PERCENT}%")  # fmt: skip
    print(f"→ {write_results('instruments', fig, quick=args.quick)}")
    return fig
