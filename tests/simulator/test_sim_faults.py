"""Fault injection, through the Python methods and the /_sim HTTP control API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from handover_miaw.simulator import Simulator, SimulatorError

from .simhelpers import API, Api, Frame, Stream, text_body

CONTINUATION = f"{API}/authorization/continuation-access-token"


async def test_drop_streams_now(api: Api, sim: Simulator) -> None:
    token = await api.token()
    async with api.stream(token) as first, api.stream(token) as second:
        await first.next()
        await second.next()
        sim.drop_streams()
        await first.ended()
        await second.ended()


async def test_drop_streams_over_http(api: Api) -> None:
    token = await api.token()
    async with api.stream(token) as stream:
        await stream.next()
        assert (await api.control("/faults/drop-streams", {"everyNEvents": None})).status == 200
        await stream.ended()


async def test_drop_every_n_events(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    assert (await api.control("/faults/drop-streams", {"everyNEvents": 2})).status == 200
    async with api.stream(token) as stream:
        await api.say(token, cid, "one")
        await api.say(token, cid, "two")
        await api.say(token, cid, "three")
        received = await stream.events(2)
        await stream.ended()
    async with api.stream(token, received[-1].id or "") as again:
        replayed = await again.event()
    assert replayed.payload["abstractMessage"]["staticContent"]["text"] == "three"


async def test_fail_next_with_429_and_retry_after(api: Api, sim: Simulator) -> None:
    token = await api.token()
    sim.fail_next("continuation_token", 429, count=2, retry_after=7)
    for _ in range(2):
        resp = await api.client.get(CONTINUATION, headers=api.auth(token))
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "7"
        assert (await resp.json())["code"] == "INJECTED_FAULT"
    assert (await api.client.get(CONTINUATION, headers=api.auth(token))).status == 200


async def test_fail_next_503_over_http_hits_only_that_endpoint(api: Api) -> None:
    token = await api.token()
    cid = await api.create(token)
    fault = {"endpoint": "send_message", "status": 503, "count": 1}
    assert (await api.control("/faults/http", fault)).status == 200
    status = await api.client.get(f"{API}/conversation/{cid}", headers=api.auth(token))
    assert status.status == 200
    failed = await api.send(token, cid, text_body("hi"))
    assert failed.status == 503
    assert "Retry-After" not in failed.headers
    assert (await api.send(token, cid, text_body("hi"))).status == 202


async def test_429_without_retry_after_defaults_to_one_second(api: Api) -> None:
    fault = {"endpoint": "access_token", "status": 429}
    assert (await api.control("/faults/http", fault)).status == 200
    resp = await api.client.post(f"{API}/authorization/unauthenticated/access-token", json={})
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "1"


async def test_sse_endpoint_can_fail(api: Api, sim: Simulator) -> None:
    token = await api.token()
    sim.fail_next("sse", 503)
    assert (await api.open_stream(token)).status == 503
    ok = await api.open_stream(token)
    assert ok.status == 200
    ok.close()


@pytest.mark.parametrize(
    "body",
    [
        {"endpoint": "nope", "status": 503},
        {"endpoint": "send_message", "status": 200},
        {"endpoint": "send_message", "status": 503, "count": 0},
        {"endpoint": "send_message"},
    ],
)
async def test_bad_http_faults_are_400(api: Api, body: dict[str, Any]) -> None:
    assert (await api.control("/faults/http", body)).status == 400


async def test_latency(api: Api, sim: Simulator) -> None:
    token = await api.token()
    assert (await api.control("/faults/latency", {"endpoint": "continuation_token", "seconds": 0.3})).status == 200
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await api.client.get(CONTINUATION, headers=api.auth(token))).status == 200
    assert loop.time() - started >= 0.3
    started = loop.time()
    await api.token()
    assert loop.time() - started < 0.3
    with pytest.raises(SimulatorError):
        sim.add_latency("nope", 1)


async def test_expire_tokens_over_http_ends_streams_and_blocks_reconnect(api: Api) -> None:
    token = await api.token()
    cid = await api.create(token)
    async with api.stream(token) as stream:
        await stream.next()
        assert (await api.control("/faults/expire-tokens")).status == 200
        await stream.ended()
    assert (await api.open_stream(token)).status == 401
    assert (await api.client.get(f"{API}/conversation/{cid}", headers=api.auth(token))).status == 401


async def test_duplicate_next_events(api: Api, sim: Simulator) -> None:
    token = await api.token()
    cid = await api.create(token)
    assert (await api.control("/faults/duplicate", {"count": 1})).status == 200
    async with api.stream(token) as stream:
        await api.say(token, cid, "once")
        await api.say(token, cid, "twice?")
        frames = await stream.events(3)
    assert frames[0].id == frames[1].id
    assert frames[0].data == frames[1].data
    assert frames[2].id != frames[1].id
    assert len(sim.conversation(cid).end_user_messages) == 2


async def test_stop_and_restart_heartbeat(api: Api, sim: Simulator) -> None:
    token = await api.token()
    async with api.stream(token) as stream:
        await stream.next()
        assert (await api.control("/faults/heartbeat", {"stopped": True})).status == 200
        # One ping may already be in flight; after it, silence for many ping intervals.
        late_pings = 0
        while True:
            try:
                await stream.next(within=sim.config.ping_interval_s * 6)
            except TimeoutError:
                break
            late_pings += 1
            assert late_pings <= 1, "pings kept coming"
        assert sim.hub.open_streams == 1
        assert (await api.control("/faults/heartbeat", {"stopped": False})).status == 200
        assert await stream.next() == Frame("ping", None, "0")


async def test_reset_faults(api: Api, sim: Simulator) -> None:
    token = await api.token()
    sim.fail_next("continuation_token", 503, count=5)
    sim.stop_heartbeat()
    sim.duplicate_next_events(3)
    sim.drop_streams(every_n_events=1)
    assert (await api.control("/faults", method="DELETE")).status == 200
    assert (await api.client.get(CONTINUATION, headers=api.auth(token))).status == 200
    assert not sim.faults.heartbeat_stopped
    assert sim.faults.duplicate_remaining == 0
    assert sim.faults.drop_every_n_events is None


async def test_call_log_records_endpoint_and_status(api: Api) -> None:
    token = await api.token()
    await api.client.get(CONTINUATION)
    resp = await api.open_stream(token)
    stream = Stream(resp)
    await stream.next()
    await stream.close()
    calls = (await (await api.control("/calls", method="GET")).json())["calls"]
    assert [(c["endpoint"], c["status"]) for c in calls] == [
        ("access_token", 200),
        ("continuation_token", 401),
        ("sse", 200),
    ]
    assert calls[0]["method"] == "POST"
    assert (await api.control("/calls", method="DELETE")).status == 200
    assert (await (await api.control("/calls", method="GET")).json())["calls"] == []
