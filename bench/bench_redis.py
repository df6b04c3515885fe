"""redis: the relay and fan-in benchmarks on the Redis store with 1, 2 and 3 runtime processes sharing it
(requests round-robin across the processes, as behind a load balancer), each in a fresh namespace
`bench-<uuid>` deleted afterwards with SCAN + DEL (never FLUSHDB).

On this 2-core machine the processes share the cores with the simulator and the load client, so more
processes measure coordination overhead rather than added capacity."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bench import bench_fanin, bench_relay
from bench.common import clean_redis_namespace, new_namespace, stack
from bench.figures import print_table, write_results

REDIS = "redis://127.0.0.1:6379/0"


async def one(args: argparse.Namespace, processes: int) -> dict[str, Any]:
    namespace = new_namespace()
    store = f"{REDIS}?namespace={namespace}"
    figures: dict[str, Any] = {"processes": processes, "namespace": namespace}
    try:
        if not args.fanin_only:
            async with stack(store=store, uvloop=not args.std_loop, processes=processes) as st:
                figures["relay"] = await bench_relay.measure(st, **bench_relay.sizes(args.quick))
        async with stack(store=store, uvloop=not args.std_loop, processes=processes) as st:
            figures["fanin"] = await bench_fanin.measure(st, **bench_fanin.sizes(args.quick))
    finally:
        figures["keys_deleted"] = await clean_redis_namespace(REDIS, namespace)
    return figures


async def fanin_only(args: argparse.Namespace) -> dict[str, Any]:
    """`--fanin-only`: the fan-in with one runtime process, the figure compared with SQLite's fan-in, alone
    (a few minutes shorter, for A/B runs)."""
    single = await one(args, 1)
    figures = {"store": "redis", "processes": 1, **single["fanin"], "keys_deleted": single["keys_deleted"]}
    bench_fanin.table(f"fan-in (Redis store, 1 process, {figures['handovers']} handovers, webhook delivery)", figures)
    print(f"→ {write_results('redis-fanin', figures, quick=args.quick)}")
    return figures


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.fanin_only:
        return await fanin_only(args)
    runs = [await one(args, processes) for processes in (1, 2, 3)]
    rows = [
        [
            r["processes"],
            r["relay"]["runtime"]["per_second"],
            r["relay"]["ratio"],
            r["relay"]["runtime"]["p99_ms"],
            r["fanin"]["fixed"]["p99_ms"],
            r["fanin"]["saturation"]["events_per_second"],
            r["keys_deleted"],
        ]
        for r in runs
    ]
    print_table(
        "Redis store, runtime processes sharing it",
        ["processes", "relay msg/s", "ratio", "relay p99 ms", "fan-in p99 @500/s", "fan-in max ev/s", "keys deleted"],
        rows,
    )
    figures = {"store": "redis", "runs": runs}
    print(f"→ {write_results('redis', figures, quick=args.quick)}")
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(main(args))
