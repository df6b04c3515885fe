"""Shared plumbing of the benchmarks: processes, the runtime + simulator + receiver stack, figures, tables."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import resource
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
ORG_ID = "00D000000000001"
SECRET = "whsec_bench_0123456789abcdef"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def raise_nofile(wanted: int = 65536) -> int:
    """Raise this process's open-file limit as far as the hard limit allows; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def serve_until_signalled(
    app: web.Application,
    *,
    ssl_context: Any = None,
    cleanup_timeout: float = 10.0,
    handler_cancellation: bool = False,
    server_options: dict[str, Any] | None = None,
) -> None:
    """Serve `app` on a free loopback port and print its URL (the line `spawn` waits for), until SIGINT or
    SIGTERM; the app's startup (cleanup_ctx) runs before the URL is printed. `handler_cancellation` cancels a
    handler whose client went away (the simulator's streams; never the runtime's, which finish their writes).
    `server_options` are further runner keywords (the runtime's own, from `handover_miaw.api.server_options`)."""
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        handler_cancellation=handler_cancellation,
        **(server_options or {}),
    )
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context, backlog=4096, shutdown_timeout=1.0)
    await site.start()
    print(f"{'https' if ssl_context else 'http'}://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runner.cleanup(), cleanup_timeout)


def run_child(main: Coroutine[Any, Any, None], *, use_uvloop: bool) -> None:
    """Run a child process's main coroutine, on uvloop when asked, with the open-file limit raised."""
    raise_nofile()
    if use_uvloop:
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


# --- figures --------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank) of values; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def calibration_ms() -> float:
    """Milliseconds this machine takes for a fixed piece of pure Python (best of five), so that figures
    from different machines can be compared: the runtime's costs scale with it."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i % 7
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    versions = {}
    for dist in ("aiohttp", "orjson", "uvloop", "redis", "jsonschema-rs", "aiosqlite"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = bool(
        subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=False).stdout
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "calibration_ms": calibration_ms(),
        "packages": versions,
        "git": commit + ("+dirty" if dirty else ""),
    }


def command_line() -> str:
    return "python -m bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def write_results(name: str, figures: dict[str, Any], *, quick: bool) -> Path:
    """bench/results/<name>.json (or <name>.quick.json for a smoke run)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / (f"{name}.quick.json" if quick else f"{name}.json")
    document = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": command_line(),
        "quick": quick,
        "machine": machine_info(),
        "figures": figures,
    }
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    return path


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            if value != value:  # NaN
                return "-"
            return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True))))
    sys.stdout.flush()


# --- processes ------------------------------------------------------------------------------------------


@dataclass
class Proc:
    """A child process that prints its base URL on its first stdout line."""

    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def rss_bytes(self) -> int:
        fields = Path(f"/proc/{self.pid}/statm").read_text().split()
        return int(fields[1]) * PAGE

    def cpu_seconds(self) -> float:
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self, timeout: float = 30.0) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


def spawn(
    name: str, module: str, args: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 30.0
) -> Proc:
    """Start `python -m module args` and wait for the URL it prints."""
    log = Path(tempfile.gettempdir()) / f"bench-{name}-{os.getpid()}.log"
    popen = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
        env={**os.environ, **(env or {})},
    )
    assert popen.stdout is not None
    ready, _, _ = select.select([popen.stdout], [], [], timeout)
    line = popen.stdout.readline().decode().strip() if ready else ""
    if not line.startswith("http"):
        popen.kill()
        raise RuntimeError(f"{name} did not start (log: {log}): {log.read_text()[-2000:]}")
    return Proc(name, popen, line, log)


# --- the stack: simulator, runtime, webhook receiver ----------------------------------------------------


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
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, limit_per_host=0, ssl=False),
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
            "--nonblocking",
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


def fmt_ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def dump(value: Any) -> str:
    return json.dumps(value, indent=2)
