"""A client that shuts its sending side once its request is sent (`nc -N`, `socat`, an HTTP/1.0 health-check
script) gets its answers, then the connection is closed. aiohttp's handler let the connection close at the
half-close, so `GET /healthz` followed by a FIN got no answer at all (aiohttp#3659). Served by a real `serve`
process, whose server is the one that answers this way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import aiohttp.web_server
import pytest

from handover_miaw.api.half_close import HalfCloseRequestHandler
from handover_miaw.simulator import Simulator
from tests.api.conftest import WireFactory, WireRuntime, connector_body, start_live
from tests.api.wire_client import WireConnection, request_head
from tests.processes import RuntimeProcess, free_port
from tests.waiting import wait_for

MESSAGE = b'{"id": "m-1", "text": "sent before the half-close"}'


@pytest.fixture
async def served(tmp_path: Path, sim_url: str) -> AsyncIterator[tuple[RuntimeProcess, str]]:
    """`serve` (development mode, one event reader per handover) with a live handover on the simulator."""
    connectors = tmp_path / "connectors.json"
    connectors.write_bytes(b'{"connectors": {}}')
    env = {"HANDOVER_MIAW_MAX_EVENT_SUBSCRIBERS": "1"}
    runtime = RuntimeProcess(free_port(), tmp_path / "data", connectors, tmp_path / "runtime.log", env)
    async with aiohttp.ClientSession() as http:
        await runtime.start(http)
        try:
            async with http.put(f"{runtime.url}/v1/connectors/acme", json=connector_body(sim_url)) as response:
                assert response.status == 201
            body = {"connector": "acme", "sessionId": "s1", "userId": "ann"}
            async with http.post(f"{runtime.url}/v1/handovers", json=body) as response:
                assert response.status == 201
                handover_id = (await response.json())["id"]
            yield runtime, handover_id
        finally:
            await runtime.stop()


HalfClose = Callable[..., Awaitable[WireConnection]]


@pytest.fixture
async def half_closed(served: tuple[RuntimeProcess, str]) -> AsyncIterator[HalfClose]:
    """`await half_closed(*requests)`: a connection that sent `requests` and then shut its sending side."""
    opened: list[WireConnection] = []

    async def open_(*requests: bytes) -> WireConnection:
        connection = await WireConnection.open(served[0].port)
        opened.append(connection)
        # In one burst, as `nc -N` sends a short request: the head, the body and the FIN come in one read.
        connection.writer.write(b"".join(requests))
        connection.writer.write_eof()
        return connection

    yield open_
    for connection in opened:
        await connection.close()


async def test_a_request_followed_by_a_half_close_is_answered_then_the_connection_closed(
    half_closed: HalfClose,
) -> None:
    connection = await half_closed(b"GET /healthz HTTP/1.0\r\n\r\n")
    response = await connection.response()
    assert response.status == 200
    assert await connection.closed_by_peer(5.0) == b""


async def test_pipelined_requests_before_a_half_close_are_all_answered_in_order(
    served: tuple[RuntimeProcess, str], half_closed: HalfClose
) -> None:
    _, handover_id = served
    connection = await half_closed(
        request_head("GET", "/healthz", {}),
        request_head("GET", f"/v1/handovers/{handover_id}", {}),
        request_head("GET", "/v1/handovers/ho_00000000000000000000000000000000", {}),
    )
    answers = [await connection.response() for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 404]
    assert answers[1].json()["id"] == handover_id
    assert await connection.closed_by_peer(5.0) == b""


async def test_a_head_cut_short_after_a_whole_request_leaves_that_request_answered(half_closed: HalfClose) -> None:
    # The parser's complaint about the cut head was taken for a body cut short, and the connection closed unanswered.
    connection = await half_closed(request_head("GET", "/healthz", {}), b"G")
    response = await connection.response()
    assert response.status == 200
    assert await connection.closed_by_peer(5.0) == b""


async def test_a_user_message_followed_by_a_half_close_is_sent_and_answered(
    served: tuple[RuntimeProcess, str], half_closed: HalfClose, sim: Simulator
) -> None:
    _, handover_id = served
    headers = {"Content-Type": "application/json", "Content-Length": str(len(MESSAGE))}
    connection = await half_closed(request_head("POST", f"/v1/handovers/{handover_id}/messages", headers), MESSAGE)
    response = await connection.response()
    assert response.status == 202, response.body
    assert [c.endpoint for c in sim.calls if c.endpoint == "send_message"] == ["send_message"]
    assert await connection.closed_by_peer(5.0) == b""


async def test_a_body_cut_short_by_a_half_close_closes_the_connection_at_once(
    served: tuple[RuntimeProcess, str], half_closed: HalfClose, sim: Simulator
) -> None:
    runtime, handover_id = served
    headers = {"Content-Type": "application/json", "Content-Length": str(len(MESSAGE))}
    connection = await half_closed(request_head("POST", f"/v1/handovers/{handover_id}/messages", headers), MESSAGE[:10])
    assert await connection.closed_by_peer(5.0) == b""  # no answer: the body can never be whole
    assert [c.endpoint for c in sim.calls if c.endpoint == "send_message"] == []
    async with aiohttp.ClientSession() as http, http.get(f"{runtime.url}/healthz") as response:
        assert response.status == 200


async def test_an_event_reader_that_half_closes_gives_its_place_back_at_once(
    served: tuple[RuntimeProcess, str],
) -> None:
    """A stream already answering is closed at the half-close, as before: a browser leaving closes its side,
    and the reader's place (one per handover here) must not wait for the stream's next ping."""
    runtime, handover_id = served
    events = f"/v1/handovers/{handover_id}/events"
    reader = await WireConnection.open(runtime.port)
    await reader.send(request_head("GET", events, {"Accept": "text/event-stream"}))
    assert (await reader.reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{runtime.url}{events}") as refused:
            assert refused.status == 429
        reader.writer.write_eof()

        async def admitted() -> bool:
            async with http.get(f"{runtime.url}{events}", timeout=aiohttp.ClientTimeout(sock_read=None)) as again:
                return again.status == 200

        await wait_for(admitted, "the place of the reader that half-closed", seconds=5.0)
    await reader.close()


@pytest.fixture
async def on_asyncio_loop(
    monkeypatch: pytest.MonkeyPatch, wire_runtime: WireFactory, sim_url: str
) -> tuple[WireRuntime, str]:
    """The runtime in this process, on asyncio's own loop (serve's is uvloop), with the handler `serve` installs:
    there the head's message leaves aiohttp's queue before its handler starts, and a FIN read in that gap saw
    neither (a body cut short then waited 10 s for its 408 instead of closing)."""
    monkeypatch.setattr(aiohttp.web_server, "RequestHandler", HalfCloseRequestHandler)
    runtime = await wire_runtime()
    return runtime, await start_live(runtime, sim_url)


async def _burst(runtime: WireRuntime, data: bytes) -> WireConnection:
    connection = await runtime.connect()
    connection.writer.write(data)
    connection.writer.write_eof()
    return connection


async def test_on_asyncio_s_loop_a_whole_request_and_its_fin_in_one_burst_are_answered(
    on_asyncio_loop: tuple[WireRuntime, str], sim: Simulator
) -> None:
    runtime, handover_id = on_asyncio_loop
    headers = {"Content-Type": "application/json", "Content-Length": str(len(MESSAGE))}
    connection = await _burst(runtime, request_head("POST", f"/v1/handovers/{handover_id}/messages", headers) + MESSAGE)
    response = await connection.response()
    assert response.status == 202, response.body
    assert [c.endpoint for c in sim.calls if c.endpoint == "send_message"] == ["send_message"]
    assert await connection.closed_by_peer(5.0) == b""


async def test_on_asyncio_s_loop_a_body_cut_short_in_one_burst_closes_at_once(
    on_asyncio_loop: tuple[WireRuntime, str], sim: Simulator
) -> None:
    runtime, handover_id = on_asyncio_loop
    headers = {"Content-Type": "application/json", "Content-Length": str(len(MESSAGE))}
    connection = await _burst(runtime, request_head("POST", f"/v1/handovers/{handover_id}/messages", headers) + b"{")
    assert await connection.closed_by_peer(2.0) == b""  # not the 408 of a body stalled for 10 s
    assert [c.endpoint for c in sim.calls if c.endpoint == "send_message"] == []


async def test_on_asyncio_s_loop_a_head_cut_short_after_a_whole_request_leaves_it_answered(
    on_asyncio_loop: tuple[WireRuntime, str],
) -> None:
    runtime, _ = on_asyncio_loop
    connection = await _burst(runtime, request_head("GET", "/healthz", {}) + b"G")
    response = await connection.response()
    assert response.status == 200
    assert await connection.closed_by_peer(5.0) == b""
