"""Two checkouts of the runtime side by side on the fan-in (or relay) path: `python -m bench.ab A_DIR B_DIR`.

Each checkout (`git worktree add --detach /tmp/a REV`) gets a stack of its own (simulator, runtime, webhook
receiver), both started at once; then phases of the same events alternate between them, the order swapped
every round, and each round's runtime CPU per event gives a B/A ratio. The median of those pairs is
printed and written to bench/results/ab.json (`--name`). On shared cores a whole `python -m bench fanin`
moves ±15 % from run to run, so a change of a few percent shows only when the two runtimes take turns
under the same conditions; this is how the changes and the experiments named in the README's Performance
section were judged. `--path relay` does the same with user messages (POST /v1/handovers/{id}/messages,
`--count` per phase, 64 at a time, as `relay` sends them). The load client and the receiver are this
checkout's, the same for both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import bench_fanin, bench_relay, processes
from bench.common import Stack, stack
from bench.figures import write_results


def _revision(root: Path) -> str:
    """The checkout's commit, `+dirty` when its files differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False).stdout

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    return f"{commit}+dirty" if git("status", "--porcelain", "--untracked-files=no").strip() else commit


async def _stack_in(exits: contextlib.AsyncExitStack, root: Path) -> Stack:
    """A stack whose runtime and simulator run from `root` (spawn starts its children there)."""
    processes.ROOT = root
    return await exits.enter_async_context(stack())


async def _fanin_side(st: Stack, rate: float) -> Callable[[int], Awaitable[float]]:
    """The fan-in phase on one side, after its handovers are accepted and warmed up: CPU µs per event."""
    conversations = await bench_fanin.prepare(st, 200)
    await bench_fanin.runtime_phase(st, conversations, 2000, rate, 120)  # caches, the first pages of the store

    async def phase(count: int) -> float:
        fig = await bench_fanin.runtime_phase(st, conversations, count, rate, 300)
        return float(fig["runtime_cpu_us_per_event"])

    return phase


async def _relay_side(st: Stack, tag: str) -> Callable[[int], Awaitable[float]]:
    """The relay phase on one side, after its handovers are started and warmed up: CPU µs per message."""
    views, _ = await st.start_handovers(200, 32, prefix="ab")
    ids = [view["id"] for view in views]
    await bench_relay.relay_runtime(st, ids, 2000, 64, "warm", 120)
    phases = 0

    async def phase(count: int) -> float:
        nonlocal phases
        phases += 1
        before = st.runtime_cpu()
        fig = await bench_relay.relay_runtime(st, ids, count, 64, f"{tag}{phases}", 300)
        return round((st.runtime_cpu() - before) / int(fig["messages"]) * 1e6, 1)

    return phase


async def compare(a: Path, b: Path, *, rounds: int, count: int, rate: float, path: str = "fanin") -> dict[str, Any]:
    """Alternate phases of `count` events at `rate` (fan-in) or `count` user messages (relay) between the
    two checkouts' runtimes."""
    original = processes.ROOT
    async with contextlib.AsyncExitStack() as exits:
        try:
            sides = {"A": await _stack_in(exits, a), "B": await _stack_in(exits, b)}
        finally:
            processes.ROOT = original
        phases = {
            name: await (_relay_side(st, name) if path == "relay" else _fanin_side(st, rate))
            for name, st in sides.items()
        }
        # Unmeasured rounds first: in an A/A run of the relay, the first three rounds still read 0.74-0.87
        # (the side measured first ran slower while the processes settled), the later ones 0.98-1.00.
        for name in ("A", "B", "B", "A", "A", "B"):
            await phases[name](count)
        cpu: dict[str, list[float]] = {"A": [], "B": []}
        for index in range(rounds):
            for name in ("A", "B") if index % 2 == 0 else ("B", "A"):
                cpu[name].append(await phases[name](count))
            print(f"round {index + 1}: A {cpu['A'][-1]} µs  B {cpu['B'][-1]} µs  B/A {cpu['B'][-1] / cpu['A'][-1]:.3f}")
    pairs = [after / before for before, after in zip(cpu["A"], cpu["B"], strict=True)]
    return {
        "a": {"dir": str(a), "commit": _revision(a)},
        "b": {"dir": str(b), "commit": _revision(b)},
        "path": path,
        "rate": rate if path == "fanin" else None,
        "events_per_phase": count,
        "cpu_us_per_event": cpu,
        "paired_b_over_a": {"median": round(statistics.median(pairs), 3), "min": round(min(pairs), 3),
                            "max": round(max(pairs), 3)},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="checkout A (the baseline)")
    parser.add_argument("b", type=Path, help="checkout B (the change)")
    parser.add_argument("--path", choices=("fanin", "relay"), default="fanin")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--count", type=int, default=6000, help="events (or messages) per phase (default 6000)")
    parser.add_argument("--rate", type=float, default=3000.0, help="fan-in: events/s (default 3000)")
    parser.add_argument("--name", default="ab", help="results/<name>.json (default ab)")
    args = parser.parse_args()
    processes.raise_nofile()
    figures = asyncio.run(
        compare(args.a.resolve(), args.b.resolve(), rounds=args.rounds, count=args.count, rate=args.rate,
                path=args.path)
    )  # fmt: skip
    paired = figures["paired_b_over_a"]
    spread = f"rounds {paired['min']} to {paired['max']}"
    unit = "message" if args.path == "relay" else "event"
    print(f"runtime CPU per {unit}, B/A paired by round: median {paired['median']} ({spread})")
    print(f"→ {write_results(args.name, figures, quick=False)}")


if __name__ == "__main__":
    main()
