"""start: handover start latency (token + stream + conversation + transcript) through the runtime, against
the sum of the simulator's own latencies for the same four calls made by a raw client in the same run.

Starts are sequential (one at a time) so the figures are latencies, not queueing; raw and runtime starts
alternate so both see the same simulator state."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import aiohttp

from bench import histograms, raw
from bench.common import stack
from bench.figures import fmt_ms, percentile, print_table, write_results

TRANSCRIPT = "user: I need help with my order"


async def measure(st: Any, count: int) -> dict[str, Any]:
    runtime_lat: list[float] = []
    raw_sum: list[float] = []
    per_call: dict[str, list[float]] = {"token": [], "stream": [], "conversation": [], "transcript": []}
    streams: list[aiohttp.ClientResponse] = []
    for warm in range(5):
        await st.start_handovers(1, 1, prefix=f"warm{warm}", transcript=True)
        conv, _ = await raw.start(st.http, st.sim.url, transcript=TRANSCRIPT)
        assert conv.stream is not None
        streams.append(conv.stream)
    before = await histograms.scrape(st.http, [st.runtime.url])
    for index in range(count):
        _, lat = await st.start_handovers(1, 1, prefix=f"start{index}", transcript=True)
        runtime_lat.append(lat[0])
        conv, timings = await raw.start(st.http, st.sim.url, transcript=TRANSCRIPT)
        assert conv.stream is not None  # raw.start opens it unless told not to
        streams.append(conv.stream)  # kept open, as the runtime keeps its handovers' streams
        raw_sum.append(sum(timings.values()))
        for name, seconds in timings.items():
            per_call[name].append(seconds)
    after = await histograms.scrape(st.http, [st.runtime.url])
    for stream in streams:
        stream.close()
    calls = ("access_token", "sse", "create_conversation", "send_message")
    overhead = [r - s for r, s in zip(runtime_lat, raw_sum, strict=True)]
    return {
        "starts": count,
        "runtime": {"p50_ms": fmt_ms(percentile(runtime_lat, 50)), "p99_ms": fmt_ms(percentile(runtime_lat, 99))},
        "simulator_sum": {"p50_ms": fmt_ms(percentile(raw_sum, 50)), "p99_ms": fmt_ms(percentile(raw_sum, 99))},
        "simulator_calls_p50_ms": {k: fmt_ms(percentile(v, 50)) for k, v in per_call.items()},
        "overhead": {
            "p50_ms": fmt_ms(percentile(runtime_lat, 50) - percentile(raw_sum, 50)),
            "p99_ms": fmt_ms(percentile(runtime_lat, 99) - percentile(raw_sum, 99)),
            "paired_p50_ms": fmt_ms(percentile(overhead, 50)),
        },
        "target_overhead_ms": 5,
        # The runtime's own view: its start histogram (handler only, no client or wire time) and its MIAW calls.
        "server_histograms": {
            "start": histograms.figures(before, after, "handover_miaw_start_seconds"),
            **{f"miaw_{c}": histograms.figures(before, after, "handover_miaw_miaw_call_seconds", c) for c in calls},
        },
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with stack(uvloop=not args.std_loop) as st:
        fig = await measure(st, 30 if args.quick else 300)
    fig["store"] = "sqlite"
    rows = [
        ["runtime start (POST /v1/handovers)", fig["runtime"]["p50_ms"], fig["runtime"]["p99_ms"]],
        ["simulator: token+stream+conversation+transcript", *fig["simulator_sum"].values()],
        ["overhead", fig["overhead"]["p50_ms"], fig["overhead"]["p99_ms"]],
    ]  # fmt: skip
    print_table(f"start ({fig['starts']} sequential starts, transcript on, SQLite)", ["", "p50 ms", "p99 ms"], rows)
    print("simulator calls p50 ms: " + ", ".join(f"{k} {v}" for k, v in fig["simulator_calls_p50_ms"].items()))
    server = fig["server_histograms"]
    print("runtime /metrics p50/p99 ms: " + ", ".join(f"{k} {v['p50_ms']}/{v['p99_ms']}" for k, v in server.items()))
    print(f"target: overhead < {fig['target_overhead_ms']} ms")
    print(f"→ {write_results('start', fig, quick=args.quick)}")
    return fig


def run(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(main(args))
