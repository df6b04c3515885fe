"""A private `redis-server` for a test: its own free loopback port and temporary directory, started by
the test and stopped after it; it can be SIGKILLed and started again on the same files (a crash)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import redis

from tests.processes import free_port

__all__ = ["PrivateRedis", "redis_server_available"]


def redis_server_available() -> bool:
    """Whether a redis-server binary is on the PATH."""
    return shutil.which("redis-server") is not None


class PrivateRedis:
    """`redis-server --port P --dir D <config>`; `url` is its redis:// URL."""

    def __init__(self, directory: Path, config: Sequence[str]) -> None:
        self.directory = directory
        self.config = tuple(config)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """Where it listens."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, seconds: float = 10.0) -> None:
        """Start it and wait until it answers PING (and has loaded its files)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        self.proc = subprocess.Popen([*args, *self.config, "--logfile", str(self.directory / "redis.log")])
        self.starts += 1
        deadline = time.monotonic() + seconds
        while True:
            try:
                with redis.Redis.from_url(self.url, socket_connect_timeout=0.2) as client:
                    if client.ping():
                        return
            except redis.exceptions.BusyLoadingError:
                pass
            except redis.exceptions.ConnectionError:
                if self.proc.poll() is not None:
                    raise AssertionError(f"redis-server exited with {self.proc.returncode}") from None
            if time.monotonic() > deadline:
                raise AssertionError("redis-server did not answer")
            time.sleep(0.02)  # polling a process's readiness, not synchronisation between test steps

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed at exit."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    async def crash_and_restart(self, down_s: float) -> None:
        """Kill it, stay down `down_s` (an outage the runtime must ride out), start it on the same files."""
        self.kill()
        await asyncio.sleep(down_s)
        await asyncio.to_thread(self.start)

    def stop(self) -> None:
        """SIGTERM and wait (end of test)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
