"""https: a certificate given, or a throwaway self-signed one for a host name, trusted as the README says."""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from handover_miaw.simulator import SimulatorConfig, serve
from handover_miaw.simulator.tls import make_self_signed, server_context

HOST = "acme.my.salesforce-scrt.com"


class LoopbackResolver(AbstractResolver):
    """Resolves every name to 127.0.0.1, as the README's /etc/hosts line does."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        return None


async def _status(url: str, cafile: Path) -> int:
    trust = ssl.create_default_context(cafile=str(cafile))
    connector = aiohttp.TCPConnector(ssl=trust, resolver=LoopbackResolver())
    async with aiohttp.ClientSession(connector=connector) as session, session.get(f"{url}/_sim/status") as resp:
        return resp.status


async def test_serves_https_for_the_host_name(tmp_path: Path) -> None:
    made = make_self_signed(HOST, tmp_path)
    assert made.key.stat().st_mode & 0o777 == 0o600
    urls: asyncio.Queue[str] = asyncio.Queue()
    stop = asyncio.Event()
    context = server_context(made.cert, made.key)
    task = asyncio.create_task(serve("127.0.0.1", 0, SimulatorConfig(), stop, urls.put_nowait, context))
    try:
        url = await asyncio.wait_for(urls.get(), 5)
        assert url.startswith("https://127.0.0.1:")
        port = url.rsplit(":", 1)[1]
        assert await _status(url, made.cert) == 200
        assert await _status(f"https://{HOST}:{port}", made.cert) == 200
        assert await _status(f"https://localhost:{port}", made.cert) == 200
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await _status(f"https://other.example.com:{port}", made.cert)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_the_command_makes_a_certificate_and_says_how_to_trust_it() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "handover_miaw", "simulator", "--port", "0", "--tls", "self-signed", "--tls-host", HOST,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stderr is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip()
        assert url.startswith("https://127.0.0.1:")
        port = url.rsplit(":", 1)[1]
        told = (await asyncio.wait_for(proc.stderr.readline(), 5)).decode()
        cert = Path(told.split(": ")[-1].split(" (key ")[0])
        assert cert.name == "cert.pem"
        hints = [(await asyncio.wait_for(proc.stderr.readline(), 5)).decode() for _ in range(4)]
        assert f"--cacert {cert} --resolve {HOST}:{port}:127.0.0.1" in hints[0]
        assert f'--host-resolver-rules="MAP {HOST} 127.0.0.1:{port}"' in hints[2]
        assert await _status(f"https://{HOST}:{port}", cert) == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 5) == 0
        assert not await asyncio.to_thread(cert.exists)  # a throwaway: gone with the process
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
