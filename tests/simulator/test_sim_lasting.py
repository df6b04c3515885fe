"""The simulator lasts: ended conversations and old call records are forgotten, streams are counted as they
close, and the process exits promptly on SIGTERM with streams open."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from handover_miaw.simulator import Simulator, SimulatorConfig, create_app
from handover_miaw.simulator.retention import forget_old
from tests.waiting import wait_for

from .simhelpers import API, DEPLOYMENT, ORG, WAIT, Api, FakeClock
from .test_sim_messages import file_form


async def _status(session: aiohttp.ClientSession, url: str) -> dict[str, int]:
    async with session.get(f"{url}/_sim/status") as resp:
        data: dict[str, int] = await resp.json()
        return data


async def _wait_streams(session: aiohttp.ClientSession, url: str, count: int) -> None:
    async def open_streams() -> bool:
        return (await _status(session, url))["openStreams"] == count

    await wait_for(open_streams, f"{count} open streams", seconds=WAIT)


async def _token(session: aiohttp.ClientSession, url: str) -> str:
    body = {"orgId": ORG, "esDeveloperName": DEPLOYMENT, "capabilitiesVersion": "1", "platform": "Web"}
    async with session.post(f"{url}{API}/authorization/unauthenticated/access-token", json=body) as resp:
        token: str = (await resp.json())["accessToken"]
        return token


async def _open_stream(session: aiohttp.ClientSession, url: str, token: str) -> aiohttp.ClientResponse:
    headers = {"Authorization": f"Bearer {token}", "X-Org-Id": ORG, "Last-Event-Id": "0"}
    resp = await session.get(f"{url}/eventrouter/v1/sse", headers=headers)
    assert resp.status == 200
    return resp


@pytest.fixture
async def simulator_process() -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """`handover-miaw simulator` in a process of its own, with the default (long) ping interval."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "handover_miaw",
        "simulator",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        yield proc, url
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_sigterm_with_streams_open_exits_within_seconds(
    simulator_process: tuple[asyncio.subprocess.Process, str],
) -> None:
    proc, url = simulator_process
    async with aiohttp.ClientSession() as session:
        token = await _token(session, url)
        stream = await _open_stream(session, url, token)
        # A second client that stopped reading: the simulator's writes to it block once the socket buffers fill.
        stalled = await _open_stream(session, url, token)
        await _wait_streams(session, url, 2)
        cid = str(uuid.uuid4())
        create = {"conversationId": cid, "esDeveloperName": DEPLOYMENT}
        auth = {"Authorization": f"Bearer {token}"}
        async with session.post(f"{url}{API}/conversation", json=create, headers=auth) as resp:
            assert resp.status == 201
        async with session.post(f"{url}/_sim/conversations/{cid}/accept", json={}) as resp:
            assert resp.status == 200
        for _ in range(40):
            async with session.post(f"{url}/_sim/conversations/{cid}/messages", json={"text": "x" * 200_000}):
                pass
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 5)
        took = time.monotonic() - sent
        stream.close()
        stalled.close()
    assert code == 0, f"exit code {code} after {took:.1f} s"


async def test_a_closed_stream_is_counted_at_once(simulator_process: tuple[asyncio.subprocess.Process, str]) -> None:
    _, url = simulator_process
    async with aiohttp.ClientSession() as session:
        token = await _token(session, url)
        streams = [await _open_stream(session, url, token) for _ in range(3)]
        await _wait_streams(session, url, 3)
        streams[0].close()
        # The ping interval is 15 s: only noticing the closed socket itself brings the count down in time.
        await _wait_streams(session, url, 2)
        for stream in streams[1:]:
            stream.close()
        await _wait_streams(session, url, 0)


async def test_ended_conversations_and_old_records_are_forgotten(aiohttp_client: Any, clock: FakeClock) -> None:
    sim = Simulator(SimulatorConfig(retention_s=60, token_lifetime_s=30), clock)
    api = Api(await aiohttp_client(create_app(sim)), sim)
    token = await api.token()
    ended, closed, live = [await api.create(token) for _ in range(3)]
    await sim.accept(ended)
    upload = await api.client.post(
        f"{API}/conversation/{ended}/file", data=file_form(b"\x89PNG", "image/png"), headers=api.auth(token)
    )
    assert upload.status == 202
    await sim.end_session(ended)
    await sim.close(closed)
    await sim.route(live)
    assert len(sim.files) == 1
    early_calls = len(sim.calls)
    clock.now += 61
    recent = await api.create(await api.token())
    await sim.end_session(recent)
    forgotten = forget_old(sim)
    assert set(sim.store.conversations) == {live, recent}
    assert sim.files == {}
    assert forgotten.conversations == 2
    assert forgotten.calls == early_calls
    assert [c.endpoint for c in sim.calls] == ["access_token", "create_conversation"]
    assert forgotten.tokens == 1  # the first token expired at 30 s; the new one lives
    assert (await api.control(f"/conversations/{ended}", method="GET")).status == 404


async def test_a_subject_without_conversations_loses_its_replay_log(aiohttp_client: Any, clock: FakeClock) -> None:
    sim = Simulator(SimulatorConfig(retention_s=60), clock)
    api = Api(await aiohttp_client(create_app(sim)), sim)
    token = await api.token()
    cid = await api.create(token)
    await sim.end_session(cid)
    clock.now += 61
    assert forget_old(sim).subjects == 1
    async with api.stream(token, "0") as stream:
        # Nothing of the forgotten conversation is replayed; what comes next is streamed.
        fresh = await api.create(token)
        await sim.route(fresh)
        first = await stream.event()
    assert first.json["conversationId"] == fresh


async def test_the_app_sweeps_by_itself(aiohttp_client: Any) -> None:
    sim = Simulator(SimulatorConfig(retention_s=0.2))
    api = Api(await aiohttp_client(create_app(sim)), sim)
    cid = await api.create(await api.token())
    await sim.end_session(cid)
    await wait_for(lambda: cid not in sim.store.conversations, "the ended conversation swept", seconds=WAIT)
