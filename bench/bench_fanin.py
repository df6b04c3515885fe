"""fan-in: agent messages from the simulator (Simulator.send_text) through the runtime to a webhook receiver:
events/s and end-to-end latency (simulator emit time → receiver arrival) at a fixed offered rate and at
saturation; and, as the floor of any fan-in on aiohttp, a bare fan-in process (`bench._bare_fanin`: read the
stream, parse the event, sign and POST) on the same simulator, load generator and receiver in the same run.
Each path reports the CPU its relaying process spent per event; the runtime's phases also report what its
own /metrics histograms saw (delivery lag and attempt latency) beside the receiver's timings."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

from bench import histograms
from bench.common import SECRET, Stack, fmt_ms, percentile, print_table, spawn, stack, write_results

CPU_TARGET = 1.6


async def prepare(st: Stack, handovers: int) -> list[str]:
    """Start handovers, have an agent accept each, wait for their status deliveries; the conversation ids."""
    assert st.receiver is not None
    views, _ = await st.start_handovers(handovers, 32, prefix="fanin")
    conversations = [v["conversationId"] for v in views]
    await accept(st, conversations)
    # Each accept yields an `active` status delivery; wait for them so they do not mix into the figures.
    deadline = time.monotonic() + 30
    while st.receiver.other < handovers and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return conversations


async def accept(st: Stack, conversations: list[str]) -> None:
    for chunk in range(0, len(conversations), 500):
        await st.sim_post("/_bench/accept", {"conversations": conversations[chunk : chunk + 500]})


async def phase(
    st: Stack, conversations: list[str], count: int, rate: float, timeout: float, cpu: Callable[[], float]
) -> dict[str, Any]:
    """Emit `count` agent messages at `rate`/s (0: as fast as possible) and wait for their webhooks; `cpu`
    is the relaying process's CPU seconds."""
    rec = st.receiver
    assert rec is not None
    await asyncio.sleep(0.2)
    rec.reset()
    cpu_before = cpu()
    emit_seconds = await st.emit(conversations, count, rate, timeout)
    complete = await rec.wait_count(count, timeout)
    spent = cpu() - cpu_before
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
        "cpu_us_per_event": round(spent / max(delivered, 1) * 1e6, 1),
    }


async def runtime_phase(st: Stack, conversations: list[str], count: int, rate: float, timeout: float) -> Any:
    """A phase through the runtime, with its own histograms' view of the same events."""
    urls = [p.url for p in (st.runtimes or [st.runtime])]
    before = await histograms.scrape(st.http, urls)
    fig = await phase(st, conversations, count, rate, timeout, st.runtime_cpu)
    after = await histograms.scrape(st.http, urls)
    fig["runtime_cpu_us_per_event"] = fig.pop("cpu_us_per_event")
    fig["server_histograms"] = {
        "delivery_lag_agent_message": histograms.figures(
            before, after, "handover_miaw_delivery_lag_seconds", "agent.message"
        ),
        "delivery_attempt_2xx": histograms.figures(before, after, "handover_miaw_delivery_attempt_seconds", "2xx"),
    }
    return fig


async def measure(st: Stack, *, handovers: int, fixed_seconds: float, saturation_count: int) -> dict[str, Any]:
    assert st.receiver is not None
    conversations = await prepare(st, handovers)
    bare = spawn(
        "bare-fanin",
        "bench._bare_fanin",
        ["--sim", st.sim.url, "--hook", st.receiver.url, "--secret", SECRET, "--conversations", str(handovers),
         "--uvloop"],
    )  # fmt: skip
    try:
        async with st.http.get(f"{bare.url}/conversations") as response:
            bare_conversations: list[str] = (await response.json())["conversations"]
        await accept(st, bare_conversations)
        fixed_count = int(500 * fixed_seconds)
        await runtime_phase(st, conversations, 200, 500, 30)  # warm-up
        await phase(st, bare_conversations, 200, 500, 30, bare.cpu_seconds)
        fixed = await runtime_phase(st, conversations, fixed_count, 500, fixed_seconds + 60)
        bare_fixed = await phase(st, bare_conversations, fixed_count, 500, fixed_seconds + 60, bare.cpu_seconds)
        saturation = await runtime_phase(st, conversations, saturation_count, 0, 120)
        bare_saturation = await phase(st, bare_conversations, saturation_count, 0, 120, bare.cpu_seconds)
    finally:
        bare.stop()

    def ratio(runtime: dict[str, Any], floor: dict[str, Any]) -> float:
        return round(float(runtime["runtime_cpu_us_per_event"]) / max(float(floor["cpu_us_per_event"]), 1e-9), 3)

    return {
        "handovers": handovers,
        "fixed": fixed,
        "saturation": saturation,
        "bare": {"fixed": bare_fixed, "saturation": bare_saturation},
        "cpu_ratio_runtime_over_bare": {
            "fixed": ratio(fixed, bare_fixed),
            "saturation": ratio(saturation, bare_saturation),
        },
        "target_cpu_ratio": CPU_TARGET,
        "target_p99_ms_at_500": 20,
    }


def table(title: str, fig: dict[str, Any]) -> None:
    rows = []
    for name, f, cpu_key in (
        ("runtime, fixed rate", fig["fixed"], "runtime_cpu_us_per_event"),
        ("bare fan-in, fixed rate", fig["bare"]["fixed"], "cpu_us_per_event"),
        ("runtime, saturation", fig["saturation"], "runtime_cpu_us_per_event"),
        ("bare fan-in, saturation", fig["bare"]["saturation"], "cpu_us_per_event"),
    ):
        rows.append([name, f["offered_per_second"], f["delivered"], f["events_per_second"], f["p50_ms"], f["p99_ms"],
                     f[cpu_key]])  # fmt: skip
    print_table(title, ["phase", "offered/s", "delivered", "events/s", "p50 ms", "p99 ms", "CPU µs/event"], rows)
    ratio = fig["cpu_ratio_runtime_over_bare"]
    print(f"runtime/bare CPU per event: fixed {ratio['fixed']}, saturation {ratio['saturation']} "
          f"(target ≤ {fig['target_cpu_ratio']}); target: p99 < {fig['target_p99_ms_at_500']} ms at 500/s")  # fmt: skip
    for key in ("fixed", "saturation"):
        server = fig[key]["server_histograms"]
        lag, attempt = server["delivery_lag_agent_message"], server["delivery_attempt_2xx"]
        print(f"runtime /metrics, {key}: receipt→2xx lag p50 {lag['p50_ms']} ms p99 {lag['p99_ms']} ms "
              f"({lag['count']} events); attempt p50 {attempt['p50_ms']} ms p99 {attempt['p99_ms']} ms")  # fmt: skip


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
