"""Processes the tests run for real: a runtime started as `python -m handover_miaw serve`, on a free
loopback port, that can be SIGKILLed and started again on the same data directory."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RuntimeProcess:
    """`python -m handover_miaw serve` on a fixed port and data directory; killed with SIGKILL."""

    def __init__(
        self,
        port: int,
        data_dir: Path,
        connectors: Path,
        log: Path,
        env: Mapping[str, str],
        extra_args: Sequence[str] = ("--insecure-dev",),
    ) -> None:
        self.port = port
        self.extra_args = tuple(extra_args)
        self.data_dir = data_dir
        self.connectors = connectors
        self.log = log
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """The runtime's base URL."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self, http: aiohttp.ClientSession, seconds: float = 20.0) -> None:
        """Start the process and wait until it answers /healthz."""
        args = ["-m", "handover_miaw", "serve", *self.extra_args, "--port", str(self.port)]
        args += ["--data-dir", str(self.data_dir), "--connectors", str(self.connectors)]
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, *args, stdout=out, stderr=out, env={**os.environ, **self.env}
            )
        self.starts += 1
        async with asyncio.timeout(seconds):
            while True:
                if self.proc.returncode is not None:
                    raise AssertionError(f"the runtime exited with {self.proc.returncode}:\n{self.tail()}")
                try:
                    async with http.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    def kill_now(self) -> None:
        """SIGKILL, synchronously (callable from inside a simulator callback): no shutdown code runs."""
        assert self.proc is not None
        self.proc.kill()

    async def reap(self) -> None:
        """Wait for the killed process to be gone."""
        assert self.proc is not None
        await self.proc.wait()

    async def stop(self) -> None:
        """SIGTERM and wait (end of test)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                async with asyncio.timeout(10):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    def tail(self, lines: int = 40) -> str:
        """The end of the runtime's output, for a failure message."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
