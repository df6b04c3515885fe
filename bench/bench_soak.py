"""soak: whole handovers, 50 live at a time, for minutes, on the SQLite store: does stored state stay bounded?

Each handover starts, an agent accepts, three agent messages and three user messages go each way, the
agent ends it; as one ends the next starts. Every sample interval the runtime's data directory (database,
WAL), RSS and open file descriptors are recorded, with the handovers done and the deliveries seen; at the
end every handover is checked: each agent message delivered (under one delivery id: lost / duplicated),
each user message received by MIAW once. Retention is short (`--quick`: 10 s, else 60 s) so that the
purge of ended handovers is part of what is measured; the WAL bound is the runtime's default (64 MiB).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from bench.common import ORG_ID, SECRET, Stack, stack
from bench.figures import print_table, write_results

LIVE = 50
MESSAGES = 3


@dataclass
class Ledger:
    """What the webhook received, per handover: agent message texts by delivery id, and its end."""

    agent: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    ended: set[str] = field(default_factory=set)
    calls: int = 0
    redelivered: int = 0
    seen: set[str] = field(default_factory=set)
    waiters: dict[str, asyncio.Event] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
        delivery = orjson.loads(await request.read())
        self.calls += 1
        if delivery["id"] in self.seen:
            self.redelivered += 1  # at least once: the same id again is allowed, and not a duplicate
            return web.Response(status=204)
        self.seen.add(delivery["id"])
        hid = delivery["handoverId"]
        if delivery["type"] == "agent.message":
            self.agent[hid][delivery["id"]] = delivery["data"]["text"]
        elif delivery["type"] == "handover.ended":
            self.ended.add(hid)
        waiter = self.waiters.get(hid)
        if waiter is not None:
            waiter.set()
        return web.Response(status=204)

    async def until(self, hid: str, done: Any, seconds: float = 60.0) -> bool:
        """Wait (woken by each delivery of the handover) until done() holds; False after `seconds`."""
        waiter = self.waiters.setdefault(hid, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while not done():
                    waiter.clear()
                    await waiter.wait()
        return bool(done())


@contextlib.asynccontextmanager
async def ledger_server() -> AsyncIterator[tuple[Ledger, str]]:
    ledger = Ledger()
    app = web.Application()
    app.router.add_post("/hook", ledger.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    try:
        yield ledger, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    finally:
        await runner.cleanup()


@dataclass
class Counts:
    started: int = 0
    done: int = 0
    agent_lost: int = 0
    agent_duplicated: int = 0
    user_lost: int = 0
    user_duplicated: int = 0
    not_ended: int = 0


def _dir_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file())


def sample(st: Stack, data_dir: Path, started: float, counts: Counts, ledger: Ledger) -> dict[str, Any]:
    """One row of the time series."""
    db = data_dir / "handover-miaw.db"
    wal = Path(f"{db}-wal")
    return {
        "t_s": round(time.monotonic() - started, 1),
        "handovers_done": counts.done,
        "data_dir_mb": round(_dir_bytes(data_dir) / 1e6, 2),
        "db_mb": round(db.stat().st_size / 1e6, 2) if db.exists() else 0.0,
        "wal_mb": round(wal.stat().st_size / 1e6, 2) if wal.exists() else 0.0,
        "rss_mib": round(st.runtime.rss_bytes() / 2**20, 1),
        "fds": len(os.listdir(f"/proc/{st.runtime.pid}/fd")),
        "lost": counts.agent_lost + counts.user_lost,
        "duplicated": counts.agent_duplicated + counts.user_duplicated,
        "webhook_calls": ledger.calls,
    }


async def one_handover(st: Stack, ledger: Ledger, index: int, counts: Counts) -> None:
    """A whole handover, checked."""
    http, runtime, sim = st.http, st.runtime.url, st.sim.url
    body = {"connector": "bench", "sessionId": f"soak-{index}", "userId": f"u-{index}"}
    async with http.post(f"{runtime}/v1/handovers", json=body) as response:
        if response.status != 201:
            raise RuntimeError(f"start failed: {response.status} {await response.text()}")
        view = await response.json()
    counts.started += 1
    hid, cid = view["id"], view["conversationId"]
    conv = f"{sim}/_sim/conversations/{cid}"
    async with http.post(f"{conv}/accept", json={"agent": "Maria"}) as response:
        response.raise_for_status()
    agent_texts = [f"agent {n} of {hid}" for n in range(MESSAGES)]
    user_texts = [f"user {n} of {hid}" for n in range(MESSAGES)]
    for n in range(MESSAGES):
        async with http.post(f"{conv}/messages", json={"text": agent_texts[n]}) as response:
            response.raise_for_status()
        message = {"id": f"m{n}", "text": user_texts[n]}
        async with http.post(f"{runtime}/v1/handovers/{hid}/messages", json=message) as response:
            if response.status not in (200, 202):
                raise RuntimeError(f"message refused: {response.status} {await response.text()}")
    await ledger.until(hid, lambda: len(ledger.agent[hid]) >= MESSAGES)
    async with http.post(f"{conv}/end") as response:
        response.raise_for_status()
    if not await ledger.until(hid, lambda: hid in ledger.ended):
        counts.not_ended += 1
    async with http.get(conv) as response:
        received = [m.get("text") for m in (await response.json())["endUserMessages"]]
    got = list(ledger.agent.pop(hid, {}).values())
    counts.agent_lost += sum(1 for text in agent_texts if text not in got)
    counts.agent_duplicated += len(got) - len(set(got))
    counts.user_lost += sum(1 for text in user_texts if text not in received)
    counts.user_duplicated += sum(max(received.count(text) - 1, 0) for text in user_texts)
    ledger.ended.discard(hid)
    ledger.waiters.pop(hid, None)
    counts.done += 1


async def soak(st: Stack, ledger: Ledger, data_dir: Path, seconds: float, sample_s: float) -> dict[str, Any]:
    counts = Counts()
    started = time.monotonic()
    deadline = started + seconds
    samples: list[dict[str, Any]] = [sample(st, data_dir, started, counts, ledger)]
    errors: list[str] = []
    next_index = iter(range(10**9))

    async def worker() -> None:
        while time.monotonic() < deadline:
            try:
                await one_handover(st, ledger, next(next_index), counts)
            except Exception as exc:  # counted and shown: a soak reports failures, it does not stop at one
                errors.append(f"{type(exc).__name__}: {exc}"[:300])

    async def sampler() -> None:
        while True:
            await asyncio.sleep(sample_s)
            samples.append(sample(st, data_dir, started, counts, ledger))
            row = samples[-1]
            print(
                f"  t={row['t_s']:>6}s done={row['handovers_done']:>6} data_dir={row['data_dir_mb']:>7} MB "
                f"wal={row['wal_mb']:>6} MB rss={row['rss_mib']:>6} MiB fds={row['fds']:>4} "
                f"lost={row['lost']} duplicated={row['duplicated']}",
                flush=True,
            )

    sampling = asyncio.get_running_loop().create_task(sampler())
    try:
        await asyncio.gather(*(worker() for _ in range(LIVE)))
    finally:
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
    samples.append(sample(st, data_dir, started, counts, ledger))
    return {"counts": counts.__dict__, "errors": errors[:20], "error_count": len(errors), "samples": samples}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    seconds, retention_s, sample_s = (30.0, 10.0, 3.0) if args.quick else (args.soak_seconds, 60.0, 10.0)
    # The bench runtime reads HANDOVER_MIAW_* from its environment, which it inherits from this process.
    os.environ["HANDOVER_MIAW_RETENTION_S"] = str(retention_s)
    # INFO: the upkeep's lines (WAL rewinds and truncations with the time they held the store, purges) are figures too.
    async with stack(uvloop=not args.std_loop, log_level="INFO") as st, ledger_server() as (ledger, url):
        config = {"baseUrl": st.sim.url, "organizationId": ORG_ID, "esDeveloperName": "Bot_Handover_Custom"}
        delivery = {"format": "webhook", "url": url, "secret": SECRET}
        async with st.http.put(
            f"{st.runtime.url}/v1/connectors/bench", json={"config": config, "delivery": delivery}
        ) as response:
            response.raise_for_status()
        cmd = [str(arg) for arg in st.runtime.popen.args]  # type: ignore[union-attr]
        data_dir = Path(cmd[cmd.index("--data-dir") + 1])
        fig = await soak(st, ledger, data_dir, seconds, sample_s)
    fig.update(seconds=seconds, live=LIVE, messages_each_way=MESSAGES, retention_s=retention_s, store="sqlite")
    fig["upkeep"] = upkeep_figures(st.runtime.log)
    keys = ("t_s", "handovers_done", "data_dir_mb", "wal_mb", "rss_mib", "fds", "lost", "duplicated")
    rows = [[s[key] for key in keys] for s in fig["samples"]]
    headers = ["t s", "handovers", "data dir MB", "WAL MB", "RSS MiB", "fds", "lost", "duplicated"]
    print_table(f"soak ({seconds:.0f} s, {LIVE} live, retention {retention_s:.0f} s)", headers, rows)
    counts = fig["counts"]
    print(
        f"soak: handovers={counts['done']} lost={counts['agent_lost'] + counts['user_lost']} "
        f"duplicated={counts['agent_duplicated'] + counts['user_duplicated']} not_ended={counts['not_ended']} "
        f"errors={fig['error_count']}"
    )
    print(f"upkeep: {fig['upkeep']}")
    print(f"→ {write_results('soak', fig, quick=args.quick)}")
    return fig


def upkeep_figures(log: Path) -> dict[str, Any]:
    """WAL rewinds, truncations and purges (how many, the longest time one held the store), from the runtime's
    log."""
    held: list[float] = []
    rewinds: list[float] = []
    batch_held: list[float] = []
    purged = rounds = 0
    for line in log.read_bytes().splitlines():
        if b"store.wal_truncated" in line:
            held.append(float(orjson.loads(line)["lock_held_ms"]))
        elif b"store.wal_rewinding" in line:
            rewinds.append(float(orjson.loads(line)["lock_held_ms"]))
        elif b"store.purged" in line:
            entry = orjson.loads(line)
            purged += int(entry["handovers"])
            batch_held.append(float(entry["lock_held_ms_max"]))
            rounds += 1
    return {
        "wal_rewinds": len(rewinds),
        "rewind_lock_held_ms_max": max(rewinds, default=0.0),
        "wal_truncations": len(held),
        "truncate_lock_held_ms_max": max(held, default=0.0),
        "purge_rounds": rounds,
        "handovers_purged": purged,
        "purge_batch_lock_held_ms_max": max(batch_held, default=0.0),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not hasattr(args, "soak_seconds"):
        args.soak_seconds = 180.0
    return asyncio.run(main(args))
