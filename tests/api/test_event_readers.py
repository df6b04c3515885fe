"""At most `max_event_subscribers` readers of one handover's /events at once; a reader that leaves frees
its place. Served as `serve` serves it: aiohttp's test server cancels a handler whose client left, `serve`
does not, so only a runtime run like `serve` shows whether the place is really given back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from aiohttp import web

from handover_miaw.api import create_app, server_options
from handover_miaw.settings import Settings
from tests.api.conftest import WireFactory, connector_body
from tests.waiting import wait_for


async def test_at_most_n_readers_per_handover_and_a_reader_that_leaves_frees_its_place(
    wire_runtime: WireFactory, sim_url: str
) -> None:
    runtime = await wire_runtime(max_event_subscribers=2)
    http, url = runtime.http, runtime.url
    async with http.put(f"{url}/v1/connectors/acme", json=connector_body(sim_url)) as response:
        assert response.status == 201
    async with http.post(f"{url}/v1/handovers", json={"connector": "acme", "sessionId": "s", "userId": "u"}) as r:
        assert r.status == 201
        events = f"{url}/v1/handovers/{(await r.json())['id']}/events"
    readers = [await http.get(events) for _ in range(2)]
    assert [r.status for r in readers] == [200, 200]
    async with http.get(events) as refused:
        assert refused.status == 429
        error = (await refused.json())["error"]
    assert error["code"] == "too_many_requests"
    assert "2 readers" in error["message"]

    readers.pop().close()  # the client goes away; nothing tells the server's handler

    async def admitted() -> bool:
        reader = await http.get(events)
        if reader.status == 200:
            readers.append(reader)
            return True
        reader.release()
        return False

    await wait_for(admitted, "the place of the reader that went away")

    # Each stream ends with the handover, and every place is free again.
    async with http.delete(events.removesuffix("/events")) as ended:
        assert ended.status == 200
    for reader in readers:
        assert b"event: handover.ended" in await reader.read()
        reader.release()
    async with http.get(events) as again:
        assert again.status == 200
        assert b"event: handover.ended" in await again.read()


async def test_readers_of_other_handovers_do_not_count(wire_runtime: WireFactory, sim_url: str) -> None:
    runtime = await wire_runtime(max_event_subscribers=1)
    http, url = runtime.http, runtime.url
    async with http.put(f"{url}/v1/connectors/acme", json=connector_body(sim_url)) as response:
        assert response.status == 201
    readers: list[aiohttp.ClientResponse] = []
    for session in ("a", "b"):
        async with http.post(
            f"{url}/v1/handovers", json={"connector": "acme", "sessionId": session, "userId": "u"}
        ) as r:
            handover_id = (await r.json())["id"]
        readers.append(await http.get(f"{url}/v1/handovers/{handover_id}/events"))
    assert [r.status for r in readers] == [200, 200]
    for reader in readers:
        reader.close()


async def test_stopping_the_runtime_ends_open_event_streams_instead_of_waiting_for_them(
    tmp_path: Path, sim_url: str
) -> None:
    # An open /events stream waits for deliveries; aiohttp's graceful stop waits for every open handler (60 s
    # by default), so without ending the streams a runtime with a reader attached took a minute to stop.
    settings = Settings(data_dir=tmp_path / "data", insecure_dev=True)
    runner = web.AppRunner(create_app(settings), **server_options(settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{url}/v1/connectors/acme", json=connector_body(sim_url)) as response:
            assert response.status == 201
        body = {"connector": "acme", "sessionId": "s", "userId": "u"}
        async with http.post(f"{url}/v1/handovers", json=body) as started:
            events = f"{url}/v1/handovers/{(await started.json())['id']}/events"
        async with http.get(events) as reader:
            assert reader.status == 200
            first = b""
            async with asyncio.timeout(10):
                while b"handover.status" not in first:  # the queue status: the stream is open and waiting
                    first += await reader.content.readany()
            async with asyncio.timeout(20):  # well under the 60 s graceful wait the stream used to hold
                await runner.cleanup()
                rest = await reader.content.read()  # the server ended the stream: end of body
    assert b"handover.ended" not in rest  # the handover lives on for the next start; only the stream ended
