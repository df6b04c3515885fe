"""Standalone serving: serve() in-process and run() as the CLI would start it."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp

from handover_miaw.simulator import SimulatorConfig, serve

from .simhelpers import DEPLOYMENT, ORG

CONFIG_PATH = "/embeddedservice/v1/embedded-service-config"


async def fetch_config(base_url: str) -> int:
    async with aiohttp.ClientSession() as session:
        params = {"orgId": ORG, "esConfigName": DEPLOYMENT}
        async with session.get(f"{base_url}{CONFIG_PATH}", params=params) as resp:
            return resp.status


async def test_serve_announces_its_url_and_stops() -> None:
    urls: asyncio.Queue[str] = asyncio.Queue()
    stop = asyncio.Event()
    task = asyncio.create_task(serve("127.0.0.1", 0, SimulatorConfig(), stop, urls.put_nowait))
    try:
        url = await asyncio.wait_for(urls.get(), 5)
        assert url.startswith("http://127.0.0.1:")
        assert await fetch_config(url) == 200
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_run_prints_base_url_and_exits_on_sigterm() -> None:
    code = "from handover_miaw.simulator import SimulatorConfig, run; run('127.0.0.1', 0, SimulatorConfig())"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        url = line.decode().strip()
        assert url.startswith("http://127.0.0.1:")
        assert await fetch_config(url) == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
