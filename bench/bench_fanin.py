"""fan-in: agent messages from the simulator (Simulator.send_text) through the runtime to a webhook receiver:
events/s and end-to-end latency (simulator emit time → receiver arrival) at a fixed offered rate and at
saturation."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.common import Stack, fmt_ms, percentile, print_table, stack, write_results


async def prepare(st: Stack, handovers: int) -> list[str]:
    """Start handovers, have an agent accept each, wait for their status deliveries; the conversation ids."""
    assert st.receiver is not None
    views, _ = await st.start_handovers(handovers, 32, prefix="fanin")
    conversations = [v["conversationId"] for v in views]
    for chunk in range(0, len(conversations), 500):
        await st.sim_post("/_bench/accept", {"conversations": conversations[chunk : chunk + 500]})
    # Each accept yields an `active` status delivery; wait for them so they do not mix into the figures.
    deadline = time.monotonic() + 30
    while st.receiver.other < handovers and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return conversations


async def phase(st: Stack, conversations: list[str], count: int, rate: float, timeout: float) -> dict[str, Any]:
    rec = st.receiver
    assert rec is not None
    await asyncio.sleep(0.2)
    rec.reset()
    rt_cpu = st.runtime_cpu()
    emit_seconds = await st.emit(conversations, count, rate, timeout)
    complete = await rec.wait_count(count, timeout)
    runtime_cpu = st.runtime_cpu() - rt_cpu
    delivered = len(rec.latencies)
    window = (max(rec.arrivals) - min(rec.emits)) if delivered else float("nan")
    return {
        "offered_per_second": rate if rate > 0 else "max",
        "emitted": count,
        "emit_seconds": round(emit_seconds, 3),
        "delivered": delivered,
        "complete": complete,
        "events_per_second": round(delivered / window, 1) if delivered else 0.0,
        "p50_ms": fmt_ms(percentile(rec.latencies, 50)),
        "p99_ms": fmt_ms(percentile(rec.latencies, 99)),
        "max_ms": fmt_ms(max(rec.latencies)) if delivered else None,
        "runtime_cpu_us_per_event": round(runtime_cpu / max(delivered, 1) * 1e6, 1),
    }


async def measure(st: Stack, *, handovers: int, fixed_seconds: float, saturation_count: int) -> dict[str, Any]:
    conversations = await prepare(st, handovers)
    await phase(st, conversations, 200, 500, 30)  # warm-up
    fixed = await phase(st, conversations, int(500 * fixed_seconds), 500, fixed_seconds + 60)
    saturation = await phase(st, conversations, saturation_count, 0, 120)
    return {"handovers": handovers, "fixed": fixed, "saturation": saturation, "target_p99_ms_at_500": 20}


def table(title: str, fig: dict[str, Any]) -> None:
    rows = [
        [name, fig[key]["offered_per_second"], fig[key]["delivered"], fig[key]["events_per_second"],
         fig[key]["p50_ms"], fig[key]["p99_ms"], fig[key]["runtime_cpu_us_per_event"]]
        for name, key in (("fixed rate", "fixed"), ("saturation", "saturation"))
    ]  # fmt: skip
    print_table(title, ["phase", "offered/s", "delivered", "events/s", "p50 ms", "p99 ms", "CPU µs/event"], rows)
    print(f"target: p99 < {fig['target_p99_ms_at_500']} ms at 500/s")


def sizes(quick: bool) -> dict[str, Any]:
    if quick:
        return {"handovers": 50, "fixed_seconds": 3.0, "saturation_count": 3_000}
    return {"handovers": 200, "fixed_seconds": 20.0, "saturation_count": 20_000}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with stack(uvloop=not args.std_loop) as st:
        fig = await measure(st, **sizes(args.quick))
    fig["store"] = "sqlite"
    table(f"fan-in (SQLite store, {fig['handovers']} handovers, webhook delivery)", fig)
    print(f"→ {write_results('fanin', fig, quick=args.quick)}")
    return fig


def run(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(main(args))
