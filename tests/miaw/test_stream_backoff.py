"""A stream's reconnect backoff starts over only after a connection that carried a whole event. Any byte did
before: a proxy that sent a keep-alive comment and closed, or a server sending one endless line, made every
live handover reconnect (and catch up through the entry list) about once a second, for good."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from handover_miaw.miaw import EventStream, MiawClient, StreamState
from handover_miaw.miaw.models import parse_access_token

from .conftest import DEPLOYMENT, FAST_RECONNECT
from .helpers import FakeClock, Recorder
from .test_jwt import make_jwt


async def _reconnect_failures(aiohttp_server: Any, clock: FakeClock, sent: bytes, count: int) -> list[int]:
    """The failure counts of the first `count` reconnects of a stream whose server sends `sent` and closes."""

    async def sse(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(sent)
        return response

    app = web.Application()
    app.router.add_get("/eventrouter/v1/sse", sse)
    server = await aiohttp_server(app)
    token = parse_access_token({"accessToken": make_jwt({"sub": "s", "exp": clock.now + 600}), "lastEventId": "5"})
    recorder = Recorder()
    async with MiawClient(str(server.make_url("")), "00D000000000001", DEPLOYMENT, clock=clock) as client:
        stream = EventStream(
            client, token, on_event=recorder.on_event, on_state=recorder.on_state, reconnect_policy=FAST_RECONNECT
        )
        async with stream:
            await recorder.wait_for(lambda: recorder.count(StreamState.RECONNECTING) >= count)
    return [s.failures for s in recorder.states if s.state is StreamState.RECONNECTING][:count]


@pytest.mark.parametrize(
    "sent",
    [b": keep-alive\n\n", b"x" * 70_000, b"data: an event never ended\n", b"\n\n\n"],
    ids=["comment", "endless-line", "no-blank-line", "blank-lines"],
)
async def test_a_connection_without_a_whole_event_backs_off_further(
    aiohttp_server: Any, clock: FakeClock, sent: bytes
) -> None:
    assert await _reconnect_failures(aiohttp_server, clock, sent, 4) == [1, 2, 3, 4]


async def test_a_connection_that_carried_an_event_starts_the_backoff_over(
    aiohttp_server: Any, clock: FakeClock
) -> None:
    ping = b'event: ping\nid: 6\ndata: {"conversationId": "c", "conversationEntry": {}}\n\n'
    assert await _reconnect_failures(aiohttp_server, clock, ping, 3) == [1, 1, 1]
