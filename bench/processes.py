"""The benchmarks' processes: children started with `python -m`, serving on a loopback port they print, and
measured through /proc (CPU time, resident memory)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from handover_miaw.descriptors import reserve_descriptors

__all__ = ["Proc", "raise_nofile", "run_child", "serve_until_signalled", "spawn"]

ROOT = Path(__file__).resolve().parent.parent
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
    # No access line unless the server options ask for one (the runtime's do, as serve's).
    options: dict[str, Any] = {"access_log": None, **(server_options or {})}
    runner = web.AppRunner(app, handle_signals=False, handler_cancellation=handler_cancellation, **options)
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
    """Run a child process's main coroutine, on uvloop when asked, with the open-file limit raised and the
    descriptor table sized for it while the process has one thread (as `serve` does: reserve_descriptors),
    so that no process of a run, the simulator and the floors included, stalls when its table would grow."""
    raise_nofile()
    reserve_descriptors()
    if use_uvloop:
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


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
