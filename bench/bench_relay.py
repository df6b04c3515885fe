"""relay: user messages through the runtime (POST /v1/handovers/{id}/messages → MIAW send) against the raw
aiohttp client posting the same MIAW bodies straight to the simulator, in the same run."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import aiohttp
import orjson

from bench import raw
from bench.common import Stack, bounded, fmt_ms, percentile, print_table, stack, write_results

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


async def relay_raw(http: aiohttp.ClientSession, base: str, convs: list[raw.RawConversation], count: int,
                    concurrency: int, time_box: float) -> Any:  # fmt: skip
    headers = [c.headers() for c in convs]
    urls = [f"{base}{raw.API}/conversation/{c.conversation_id}/message" for c in convs]

    async def send(index: int) -> None:
        k = index % len(convs)
        await raw.post(http, urls[k], raw.message_body(TEXT), headers[k])

    return await _run(count, concurrency, send, time_box)


async def measure(
    st: Stack, *, handovers: int, count: int, concurrency: int, time_box: float, rounds: int
) -> dict[str, Any]:
    """Both paths on one stack, alternating raw and runtime for `rounds` rounds after a warm-up; the round
    with the median throughput of each path is reported (the machine is shared by three processes)."""
    views, _ = await st.start_handovers(handovers, 32, prefix="relay")
    ids = [v["id"] for v in views]
    convs = [(await raw.start(st.http, st.sim.url, open_stream=False))[0] for _ in range(min(handovers, 200))]
    warm = max(200, count // 20)
    await relay_raw(st.http, st.sim.url, convs, warm, concurrency, time_box)
    await relay_runtime(st, ids, warm, concurrency, "warm", time_box)
    raw_rounds, rt_rounds = [], []
    for r in range(rounds):
        sim_cpu = st.sim.cpu_seconds()
        fig = await relay_raw(st.http, st.sim.url, convs, count, concurrency, time_box)
        fig["sim_cpu_s"] = round(st.sim.cpu_seconds() - sim_cpu, 2)
        raw_rounds.append(fig)
        sim_cpu, rt_cpu = st.sim.cpu_seconds(), st.runtime_cpu()
        fig = await relay_runtime(st, ids, count, concurrency, f"m{r}", time_box)
        fig["sim_cpu_s"] = round(st.sim.cpu_seconds() - sim_cpu, 2)
        fig["runtime_cpu_s"] = round(st.runtime_cpu() - rt_cpu, 2)
        fig["runtime_cpu_us_per_message"] = round((fig["runtime_cpu_s"] / fig["messages"]) * 1e6, 1)
        rt_rounds.append(fig)

    def median(figs: list[dict[str, Any]]) -> dict[str, Any]:
        return sorted(figs, key=lambda f: f["per_second"])[len(figs) // 2]

    raw_fig, rt_fig = median(raw_rounds), median(rt_rounds)
    return {
        "handovers": handovers,
        "concurrency": concurrency,
        "rounds": rounds,
        "raw": raw_fig,
        "runtime": rt_fig,
        "ratio": round(rt_fig["per_second"] / raw_fig["per_second"], 3),
        "target_ratio": 0.45,
        "per_round_per_second": {
            "raw": [f["per_second"] for f in raw_rounds],
            "runtime": [f["per_second"] for f in rt_rounds],
        },
    }


def table(title: str, fig: dict[str, Any]) -> None:
    rows = [
        [path, fig[key]["messages"], fig[key]["per_second"], fig[key]["p50_ms"], fig[key]["p99_ms"]]
        for path, key in (("raw client → simulator", "raw"), ("client → runtime → simulator", "runtime"))
    ]
    print_table(title, ["path", "messages", "msg/s", "p50 ms", "p99 ms"], rows)
    print(f"ratio runtime/raw = {fig['ratio']:.3f} (target ≥ {fig['target_ratio']}); "
          f"runtime CPU {fig['runtime']['runtime_cpu_us_per_message']} µs/message")  # fmt: skip


def sizes(quick: bool) -> dict[str, Any]:
    if quick:
        return {"handovers": 50, "count": 2_000, "concurrency": 64, "time_box": 10.0, "rounds": 1}
    return {"handovers": 200, "count": 15_000, "concurrency": 64, "time_box": 30.0, "rounds": 3}


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
