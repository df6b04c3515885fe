"""redis: the relay and fan-in benchmarks on the Redis store (one runtime process), in a fresh namespace
`bench-<uuid>` that is deleted afterwards with SCAN + DEL (never FLUSHDB).

Several processes on one Redis (issue 6 part 2) are not measured here yet: see the README."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bench import bench_fanin, bench_relay
from bench.common import clean_redis_namespace, new_namespace, stack, write_results

REDIS = "redis://127.0.0.1:6379/0"


async def main(args: argparse.Namespace) -> dict[str, Any]:
    namespace = new_namespace()
    store = f"{REDIS}?namespace={namespace}"
    figures: dict[str, Any] = {"store": "redis", "namespace": namespace, "processes": 1}
    try:
        async with stack(store=store, uvloop=not args.std_loop) as st:
            figures["relay"] = await bench_relay.measure(st, **bench_relay.sizes(args.quick))
        async with stack(store=store, uvloop=not args.std_loop) as st:
            figures["fanin"] = await bench_fanin.measure(st, **bench_fanin.sizes(args.quick))
    finally:
        figures["keys_deleted"] = await clean_redis_namespace(REDIS, namespace)
    bench_relay.table(f"relay (Redis store, 1 process, {figures['relay']['handovers']} handovers)", figures["relay"])
    bench_fanin.table(f"fan-in (Redis store, 1 process, {figures['fanin']['handovers']} handovers)", figures["fanin"])
    print(f"namespace {namespace}: {figures['keys_deleted']} keys deleted (SCAN + DEL)")
    print("several processes on one Redis: pending (multi-process serving is not in this tree yet)")
    print(f"→ {write_results('redis', figures, quick=args.quick)}")
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(main(args))
