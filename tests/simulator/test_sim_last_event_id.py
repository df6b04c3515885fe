"""A stream opened without Last-Event-Id: from now by default (a reloaded web page), 400 behind a switch."""

from __future__ import annotations

from typing import Any

from handover_miaw.simulator import Simulator, SimulatorConfig, create_app

from .simhelpers import ORG, Api, Stream


async def test_without_last_event_id_the_stream_starts_now(api: Api, sim: Simulator) -> None:
    token = await api.token()
    conversation_id = await api.create(token)
    await api.say(token, conversation_id, "before the reload")
    resp = await api.client.get("/eventrouter/v1/sse", headers={**api.auth(token), "X-Org-Id": ORG})
    assert resp.status == 200
    stream = Stream(resp)
    try:
        await api.say(token, conversation_id, "after the reload")
        frame = await stream.event()
    finally:
        await stream.close()
    # Nothing from before the stream opened is replayed: the first event is the new message.
    assert frame.payload["abstractMessage"]["staticContent"]["text"] == "after the reload"


async def test_the_switch_keeps_the_400(aiohttp_client: Any) -> None:
    sim = Simulator(SimulatorConfig(require_last_event_id=True, ping_interval_s=0.05))
    api = Api(await aiohttp_client(create_app(sim)), sim)
    token = await api.token()
    resp = await api.client.get("/eventrouter/v1/sse", headers={**api.auth(token), "X-Org-Id": ORG})
    assert resp.status == 400
    assert (await resp.json()) == {"message": "Last-Event-Id header is required.", "code": "MISSING_HEADER"}
    with_header = await api.open_stream(token, "0")
    assert with_header.status == 200
    with_header.close()
