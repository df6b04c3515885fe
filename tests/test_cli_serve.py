"""`handover-miaw serve` says where it listens: one `runtime.listening` line with the bound URL (the real
port, also for `--port 0`), which answers."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp


async def test_serve_logs_the_url_it_listens_on(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "handover_miaw", "serve", "--insecure-dev", "--port", "0"),
        *("--data-dir", str(tmp_path / "data")),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(30):
            while True:
                line = await proc.stderr.readline()
                assert line, "serve exited before saying where it listens"
                record = json.loads(line)
                if record["event"] == "runtime.listening":
                    break
        url = record["url"]
        assert url.startswith("http://127.0.0.1:")
        assert not url.endswith(":0")
        async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as response:
            assert response.status == 200
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
