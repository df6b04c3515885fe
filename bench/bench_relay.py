"""relay: user messages through the runtime (POST /v1/handovers/{id}/messages → MIAW send) against the raw
aiohttp client posting the same MIAW bodies straight to the simulator, in the same run; and, as the floor
of any relay on aiohttp, a bare relay process (`bench._bare_relay`) on the same path. Each path reports the
CPU every process spent per message."""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from bench import histograms, raw
from bench.common import Stack, bounded, stack
from bench.figures import fmt_ms, percentile, print_table, write_results
from bench.processes import spawn

TEXT = "Hello, I have a question about my last order and the delivery date."
JSON = {"Content-Type": "application/json"}


async def _run(count: int, concurrency: int, send: Any, time_box: float) -> dict[str, Any]:
    latencies: list[float] = []
    deadline = time.monotonic() + time_box

    async def one(index: int) -> None:
        if time.monotonic() > deadline:
            return
        started = time.perf_counter()
        await send(index)
        latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await bounded(count, concurrency, one)
    seconds = time.perf_counter() - started
    return {
        "messages": len(latencies),
        "seconds": round(seconds, 3),
        "per_second": round(len(latencies) / seconds, 1),
        "p50_ms": fmt_ms(percentile(latencies, 50)),
        "p99_ms": fmt_ms(percentile(latencies, 99)),
    }


async def relay_runtime(st: Stack, ids: list[str], count: int, concurrency: int, tag: str, time_box: float) -> Any:
    http = st.http

    async def send(index: int) -> None:
        handover = ids[index % len(ids)]
        body = orjson.dumps({"id": f"{tag}-{index}", "text": TEXT})
        url = f"{st.url_for(index)}/v1/handovers/{handover}/messages"
        async with http.post(url, data=body, headers=JSON) as response:
            await response.read()
            if response.status != 202:
                raise RuntimeError(f"relay: {response.status}")

    return await _run(count, concurrency, send, time_box)


async def relay_bare(http: aiohttp.ClientSession, base: str, conversations: int, count: int, concurrency: int,
                     time_box: float) -> Any:  # fmt: skip
    async def send(index: int) -> None:
        body = orjson.dumps({"id": f"b-{index}", "text": TEXT})
        async with http.post(f"{base}/relay/{index % conversations}", data=body, headers=JSON) as response:
            await response.read()
            if response.status != 202:
                raise RuntimeError(f"bare relay: {response.status}")

    return await _run(count, concurrency, send, time_box)


async def relay_raw(http: aiohttp.ClientSession, base: str, convs: list[raw.RawConversation], count: int,
                    concurrency: int, time_box: float) -> Any:  # fmt: skip
    headers = [c.headers() for c in convs]
    urls = [f"{base}{raw.API}/conversation/{c.conversation_id}/message" for c in convs]

    async def send(index: int) -> None:
        k = index % len(convs)
        await raw.post(http, urls[k], raw.message_body(TEXT), headers[k])

    return await _run(count, concurrency, send, time_box)


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _round(fn: Any, procs: dict[str, Callable[[], float]]) -> dict[str, Any]:
    """One measured path, with the CPU every process spent on it per message."""
    before = {name: cpu() for name, cpu in procs.items()}
    load_before = _self_cpu()
    fig: dict[str, Any] = await fn()
    messages = fig["messages"]
    fig["cpu_us_per_message"] = {
        "load_generator": round((_self_cpu() - load_before) / messages * 1e6),
        **{name: round((cpu() - before[name]) / messages * 1e6) for name, cpu in procs.items()},
    }
    return fig


async def measure(
    st: Stack, *, handovers: int, count: int, concurrency: int, time_box: float, rounds: int
) -> dict[str, Any]:
    """The three paths on one machine, alternating raw, bare relay and runtime for `rounds` rounds after a
    warm-up; the round with the median throughput of each path is reported (the machine is shared)."""
    views, _ = await st.start_handovers(handovers, 32, prefix="relay")
    ids = [v["id"] for v in views]
    convs = [(await raw.start(st.http, st.sim.url, open_stream=False))[0] for _ in range(min(handovers, 200))]
    bare = spawn("bare", "bench._bare_relay", ["--sim", st.sim.url, "--conversations", str(len(convs)), "--uvloop"])
    procs = {"simulator": st.sim.cpu_seconds, "runtime": st.runtime_cpu, "bare_relay": bare.cpu_seconds}
    try:
        warm = max(200, count // 20)
        await relay_raw(st.http, st.sim.url, convs, warm, concurrency, time_box)
        await relay_bare(st.http, bare.url, len(convs), warm, concurrency, time_box)
        await relay_runtime(st, ids, warm, concurrency, "warm", time_box)
        paths: dict[str, list[dict[str, Any]]] = {"raw": [], "bare": [], "runtime": []}
        for r in range(rounds):
            paths["raw"].append(
                await _round(lambda: relay_raw(st.http, st.sim.url, convs, count, concurrency, time_box), procs)
            )
            paths["bare"].append(
                await _round(lambda: relay_bare(st.http, bare.url, len(convs), count, concurrency, time_box), procs)
            )
            before = await histograms.scrape(st.http, [st.runtime.url])
            paths["runtime"].append(
                await _round(lambda r=r: relay_runtime(st, ids, count, concurrency, f"m{r}", time_box), procs)
            )
            after = await histograms.scrape(st.http, [st.runtime.url])
            paths["runtime"][-1]["server_histograms"] = {
                "message_relay": histograms.figures(before, after, "handover_miaw_message_relay_seconds"),
                "miaw_send_message": histograms.figures(
                    before, after, "handover_miaw_miaw_call_seconds", "send_message"
                ),
            }
    finally:
        bare.stop()

    def median(figs: list[dict[str, Any]]) -> dict[str, Any]:
        return sorted(figs, key=lambda f: f["per_second"])[len(figs) // 2]

    raw_fig, bare_fig, rt_fig = (median(paths[k]) for k in ("raw", "bare", "runtime"))
    per_round = [
        round(rt["cpu_us_per_message"]["runtime"] / bare["cpu_us_per_message"]["bare_relay"], 3)
        for rt, bare in zip(paths["runtime"], paths["bare"], strict=True)
    ]
    raw_cpu = raw_fig["cpu_us_per_message"]
    rt_cpu = rt_fig["cpu_us_per_message"]
    # On a machine where every process shares the same cores, the ratio cannot exceed the ratio of the
    # CPU each path costs per message, whatever the scheduling.
    raw_total = raw_cpu["load_generator"] + raw_cpu["simulator"]
    rt_total = rt_cpu["load_generator"] + rt_cpu["simulator"] + rt_cpu["runtime"]
    return {
        "handovers": handovers,
        "concurrency": concurrency,
        "rounds": rounds,
        "raw": raw_fig,
        "bare": bare_fig,
        "runtime": rt_fig,
        "ratio": round(rt_fig["per_second"] / raw_fig["per_second"], 3),
        "bare_ratio": round(bare_fig["per_second"] / raw_fig["per_second"], 3),
        "runtime_vs_bare": round(rt_fig["per_second"] / bare_fig["per_second"], 3),
        "cpu_bound_ratio": round(raw_total / rt_total, 3),
        # Issue 17's figure: the runtime's CPU per message over the bare relay's, from each path's median
        # round; and, steadier on shared cores whose speed drifts, the same ratio of each round's two
        # neighbouring measurements, and its median.
        "cpu_runtime_over_bare": round(rt_cpu["runtime"] / bare_fig["cpu_us_per_message"]["bare_relay"], 3),
        "cpu_runtime_over_bare_per_round": per_round,
        "cpu_runtime_over_bare_paired_median": round(statistics.median(per_round), 3),
        "target_cpu_runtime_over_bare": 1.4,
        "target_ratio": 0.45,
        "per_round_per_second": {k: [f["per_second"] for f in figs] for k, figs in paths.items()},
    }


def table(title: str, fig: dict[str, Any]) -> None:
    paths = (
        ("raw client → simulator", "raw"),
        ("client → bare aiohttp relay → simulator", "bare"),
        ("client → runtime → simulator", "runtime"),
    )
    rows = []
    for label, key in paths:
        f = fig[key]
        cpu = f["cpu_us_per_message"]
        relay_cpu = cpu["runtime"] if key == "runtime" else cpu["bare_relay"] if key == "bare" else "-"
        rows.append([label, f["messages"], f["per_second"], f["p50_ms"], f["p99_ms"],
                     cpu["load_generator"], cpu["simulator"], relay_cpu])  # fmt: skip
    print_table(title, ["path", "messages", "msg/s", "p50 ms", "p99 ms", "CPU µs/msg: load", "sim", "relay"], rows)
    print(f"ratio runtime/raw = {fig['ratio']:.3f} (target ≥ {fig['target_ratio']}); bare relay/raw = "
          f"{fig['bare_ratio']:.3f}; runtime/bare relay = {fig['runtime_vs_bare']:.3f}; the CPU each path costs "
          f"per message allows at most {fig['cpu_bound_ratio']:.3f} on shared cores")  # fmt: skip
    print(f"runtime/bare relay CPU per message = {fig['cpu_runtime_over_bare']:.3f} (median rounds; target ≤ "
          f"{fig['target_cpu_runtime_over_bare']}); paired by round {fig['cpu_runtime_over_bare_per_round']}, "
          f"median {fig['cpu_runtime_over_bare_paired_median']:.3f}")  # fmt: skip
    relay, call = (fig["runtime"]["server_histograms"][k] for k in ("message_relay", "miaw_send_message"))
    print(f"runtime /metrics: relay p50 {relay['p50_ms']} ms p99 {relay['p99_ms']} ms ({relay['count']} messages); "
          f"MIAW send p50 {call['p50_ms']} ms p99 {call['p99_ms']} ms")  # fmt: skip


def sizes(quick: bool) -> dict[str, Any]:
    if quick:
        return {"handovers": 50, "count": 2_000, "concurrency": 64, "time_box": 10.0, "rounds": 1}
    return {"handovers": 200, "count": 15_000, "concurrency": 64, "time_box": 30.0, "rounds": 5}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with stack(uvloop=not args.std_loop) as st:
        fig = await measure(st, **sizes(args.quick))
    fig["store"] = "sqlite"
    table(f"relay (SQLite store, {fig['handovers']} handovers, concurrency {fig['concurrency']})", fig)
    path = write_results("relay", fig, quick=args.quick)
    print(f"→ {path}")
    return fig


def run(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(main(args))
