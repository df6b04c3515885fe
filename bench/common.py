"""The benchmarks' stack: simulator, runtime(s) and webhook receiver, started together (processes.py starts
each child, figures.py reports what they measured)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from bench.processes import Proc, spawn

ORG_ID = "00D000000000001"
SECRET = "whsec_bench_0123456789abcdef"


@dataclass
class Receiver:
    """The bot platform's webhook: records arrival time and the agent message text (its emit time)."""

    latencies: list[float] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    emits: list[float] = field(default_factory=list)
    other: int = 0
    url: str = ""
    waiter: Callable[[], None] | None = None

    def reset(self) -> None:
        self.latencies.clear()
        self.arrivals.clear()
        self.emits.clear()
        self.other = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        now = time.time()
        if body["type"] == "agent.message":
            emitted = float(body["data"]["text"].split(" ", 1)[0])
            self.latencies.append(now - emitted)
            self.arrivals.append(now)
            self.emits.append(emitted)
        else:
            self.other += 1
        return web.Response(status=204)

    async def wait_count(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.latencies) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return len(self.latencies) >= count


@contextlib.asynccontextmanager
async def receiver_server() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


def tls_files(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate (EC P-256, CA:TRUE, SAN 127.0.0.1 and localhost) made with the openssl CLI."""
    cert, key = directory / "sim-cert.pem", directory / "sim-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-addext", "basicConstraints=critical,CA:TRUE",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class Stack:
    sim: Proc
    runtime: Proc
    http: aiohttp.ClientSession
    receiver: Receiver | None
    connector: str = "bench"
    # Several runtime processes on one Redis: requests go round-robin, as behind a load balancer.
    runtimes: list[Proc] = field(default_factory=list)

    def url_for(self, index: int) -> str:
        """The runtime that serves request number `index`."""
        procs = self.runtimes or [self.runtime]
        return procs[index % len(procs)].url

    def runtime_cpu(self) -> float:
        """CPU seconds used by every runtime process."""
        return sum(p.cpu_seconds() for p in (self.runtimes or [self.runtime]))

    async def start_handovers(
        self, count: int, concurrency: int, *, prefix: str = "s", transcript: bool = False
    ) -> tuple[list[dict[str, Any]], list[float]]:
        """Start `count` handovers, `concurrency` at a time; (views, latencies in seconds)."""
        views: list[dict[str, Any]] = []
        latencies: list[float] = []
        settings = {"sendTranscript": True} if transcript else {}
        body_transcript = (
            [{"source": "user", "text": "I need help with my order", "timestamp": "2024-01-01T00:00:00Z"}]
            if transcript
            else []
        )

        async def one(index: int) -> None:
            body = {
                "connector": self.connector,
                "sessionId": f"{prefix}-{index}",
                "userId": f"u-{index}",
                "settings": settings,
                "transcript": body_transcript,
            }
            started = time.perf_counter()
            async with self.http.post(f"{self.url_for(index)}/v1/handovers", data=orjson.dumps(body),
                                      headers={"Content-Type": "application/json"}) as response:  # fmt: skip
                payload = await response.read()
                if response.status != 201:
                    raise RuntimeError(f"start failed: {response.status} {payload[:300]!r}")
            latencies.append(time.perf_counter() - started)
            views.append(orjson.loads(payload))

        await bounded(count, concurrency, one)
        return views, latencies

    async def sim_post(self, path: str, body: Any) -> Any:
        async with self.http.post(f"{self.sim.url}{path}", data=orjson.dumps(body)) as response:
            response.raise_for_status()
            return await response.json()

    async def sim_get(self, path: str) -> Any:
        async with self.http.get(f"{self.sim.url}{path}") as response:
            response.raise_for_status()
            return await response.json()

    async def emit(self, conversations: list[str], count: int, rate: float, timeout: float) -> float:
        """Have the simulator's agents write `count` messages at `rate`/s; wait until emitted; seconds taken."""
        await self.sim_post("/_bench/emit", {"conversations": conversations, "count": count, "rate": rate})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = await self.sim_get("/_bench/emit")
            if status["done"]:
                return float(status["seconds"])
            await asyncio.sleep(0.05)
        raise RuntimeError("the simulator did not finish emitting in time")


async def bounded(count: int, concurrency: int, work: Callable[[int], Awaitable[None]]) -> None:
    """Run work(0..count-1) with at most `concurrency` in flight (a fixed pool of workers)."""
    counter = iter(range(count))

    async def worker() -> None:
        for index in counter:
            await work(index)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))


def client_session(limit: int = 0) -> aiohttp.ClientSession:
    """The load client's session. Its idle keep-alive is shorter than the runtime's (HANDOVER_MIAW_HEADER_TIMEOUT_S,
    10 s): with aiohttp's default 15 s it reused connections the runtime was closing, and a POST failed with
    "Can not write request body" (`python -m bench redis`, 3 processes, after a long handover set-up)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, limit_per_host=0, ssl=False, keepalive_timeout=5.0),
        timeout=aiohttp.ClientTimeout(total=120),
    )


@contextlib.asynccontextmanager
async def stack(
    *,
    store: str | None = None,
    uvloop: bool = True,
    tls: bool = False,
    receiver: bool = True,
    ping_s: float = 15.0,
    log_level: str = "INFO",
    client_limit: int = 0,
    processes: int = 1,
) -> AsyncIterator[Stack]:
    """Simulator and runtime in their own processes, the receiver in this one; a connector named `bench`."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        tmpdir = Path(tmp)
        sim_args = ["--ping", str(ping_s)]
        runtime_env: dict[str, str] = {}
        if tls:
            cert, key = tls_files(tmpdir)
            sim_args += ["--tls-cert", str(cert), "--tls-key", str(key)]
            # OpenSSL's standard variable: the runtime's default SSL context trusts this file (and only it).
            runtime_env["SSL_CERT_FILE"] = str(cert)
        if uvloop:
            sim_args.append("--uvloop")
        sim = spawn("sim", "bench._sim", sim_args)
        runtime_args = ["--data-dir", str(tmpdir / "data"), "--log-level", log_level]
        if store:
            runtime_args += ["--store", store]
        if uvloop:
            runtime_args.append("--uvloop")
        others: list[Proc] = []
        try:
            runtime = spawn("runtime", "bench._runtime", runtime_args, env=runtime_env)
            for index in range(1, processes):
                args = [*runtime_args, "--data-dir", str(tmpdir / f"data{index}")]
                others.append(spawn(f"runtime{index}", "bench._runtime", args, env=runtime_env))
        except BaseException:
            for proc in others:
                proc.stop()
            sim.stop()
            raise
        profiler = _profile(runtime)
        try:
            async with client_session(client_limit) as http, contextlib.AsyncExitStack() as exits:
                rec = await exits.enter_async_context(receiver_server()) if receiver else None
                the_stack = Stack(sim, runtime, http, rec, runtimes=[runtime, *others] if others else [])
                # Without a receiver, the pull format: deliveries wait in the store for GET …/events.
                delivery = {"format": "webhook", "url": rec.url, "secret": SECRET} if rec else {"format": "sse"}
                config = {"baseUrl": sim.url, "organizationId": ORG_ID, "esDeveloperName": "Bot_Handover_Custom"}
                async with http.put(
                    f"{runtime.url}/v1/connectors/bench", json={"config": config, "delivery": delivery}
                ) as response:
                    if response.status not in (200, 201):
                        raise RuntimeError(f"connector: {response.status} {await response.text()}")
                yield the_stack
        finally:
            if profiler is not None:
                profiler.send_signal(2)
                profiler.wait(30)
            for proc in others:
                proc.stop()
            runtime.stop()
            sim.stop()


def _profile(runtime: Proc) -> subprocess.Popen[bytes] | None:
    """With BENCH_PYSPY=<file>, record the runtime with py-spy (collapsed stacks) while the stack lives."""
    target = os.environ.get("BENCH_PYSPY")
    if not target:
        return None
    return subprocess.Popen(
        [
            "py-spy",
            "record",
            "-p",
            str(runtime.pid),
            "-o",
            target,
            "--format",
            "raw",
            "-r",
            "200",
            "--gil",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def new_namespace() -> str:
    return f"bench-{uuid.uuid4().hex[:12]}"


async def clean_redis_namespace(url: str, namespace: str) -> int:
    """Delete every key of a namespace with SCAN + DEL (never FLUSHDB); how many were deleted."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    deleted = 0
    try:
        batch: list[Any] = []
        async for key in client.scan_iter(match=f"{namespace}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += await client.delete(*batch)
                batch = []
        if batch:
            deleted += await client.delete(*batch)
    finally:
        await client.aclose()
    return deleted
