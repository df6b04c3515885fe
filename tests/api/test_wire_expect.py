"""`Expect: 100-continue` at the socket: the body is invited only once the request's head passed its checks
(API key, declared length, content coding). A refused head gets its final answer first, with no
`100 Continue` before it, and the connection is closed after it: the client never sends the body. aiohttp's
own handler invited every body as the head arrived, so a 6 MiB file past its limit, or sent without a key,
was uploaded whole for a 413 or a 401."""

from __future__ import annotations

import logging
import socket
import struct

import orjson
import pytest

from handover_miaw.simulator import Simulator
from tests.api.conftest import API_KEY, WireFactory, WireRuntime
from tests.api.wire_client import WireConnection, WireResponse, request_head
from tests.waiting import wait_for

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
MESSAGE = orjson.dumps({"id": "m-1", "text": "invited"})
FILE_PATH = "/v1/handovers/{id}/files"


def _sent(sim: Simulator) -> list[str]:
    return [c.endpoint for c in sim.calls if c.endpoint in {"send_message", "send_file"}]


async def _head(runtime: WireRuntime, path: str, headers: dict[str, str | bytes]) -> WireConnection:
    connection = await runtime.connect()
    await connection.send(request_head("POST", path, {"Expect": "100-continue", **headers}))
    return connection


async def _refused_without_invitation(connection: WireConnection, status: int) -> WireResponse:
    """The final answer is the first thing the server sends, it says `Connection: close`, and the server
    closes the connection when the client gives up the body it was never invited to send."""
    response = await connection.response()
    assert response.status == status, response.body
    assert response.headers["connection"].lower() == "close"
    connection.writer.write_eof()
    assert await connection.closed_by_peer(5.0) == b""
    return response


async def test_a_body_that_passes_its_checks_is_invited_then_read(
    live: tuple[WireRuntime, str], sim: Simulator
) -> None:
    runtime, handover_id = live
    headers: dict[str, str | bytes] = {"Content-Type": "application/json", "Content-Length": str(len(MESSAGE))}
    connection = await _head(runtime, f"/v1/handovers/{handover_id}/messages", headers)
    assert await connection.reader.readexactly(len(CONTINUE)) == CONTINUE
    assert _sent(sim) == []
    await connection.send(MESSAGE)
    response = await connection.response()
    assert response.status == 202, response.body
    assert _sent(sim) == ["send_message"]


async def test_a_file_over_the_limit_is_a_413_before_any_byte_of_it(
    live: tuple[WireRuntime, str], sim: Simulator
) -> None:
    runtime, handover_id = live
    declared = 6 * 1024 * 1024
    headers: dict[str, str | bytes] = {
        "Content-Type": "multipart/form-data; boundary=b",
        "Content-Length": str(declared),
    }
    connection = await _head(runtime, FILE_PATH.format(id=handover_id), headers)
    response = await _refused_without_invitation(connection, 413)
    assert response.json()["error"]["code"] == "payload_too_large"
    assert _sent(sim) == []


async def test_a_json_body_in_an_unknown_coding_is_a_415_before_any_byte_of_it(
    live: tuple[WireRuntime, str],
) -> None:
    runtime, handover_id = live
    headers: dict[str, str | bytes] = {
        "Content-Type": "application/json",
        "Content-Encoding": "compress",
        "Content-Length": "100",
    }
    connection = await _head(runtime, f"/v1/handovers/{handover_id}/messages", headers)
    response = await _refused_without_invitation(connection, 415)
    assert response.json()["error"]["pointer"] == "/Content-Encoding"


async def test_a_body_without_a_valid_key_is_a_401_before_any_byte_of_it(
    wire_runtime: WireFactory,
) -> None:
    runtime = await wire_runtime(insecure_dev=False, api_keys=(API_KEY,))
    handover_id = "ho_0123456789abcdef0123456789abcdef"
    headers: dict[str, str | bytes] = {
        "Content-Type": "multipart/form-data; boundary=b",
        "Content-Length": "4096",
        "Authorization": "Bearer not-the-key",
    }
    connection = await _head(runtime, FILE_PATH.format(id=handover_id), headers)
    response = await _refused_without_invitation(connection, 401)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("expectation", ["200-ok", "100-continue, x"])
async def test_an_expectation_other_than_100_continue_is_a_417_naming_the_header(
    live: tuple[WireRuntime, str], sim: Simulator, expectation: str
) -> None:
    runtime, handover_id = live
    headers: dict[str, str | bytes] = {
        "Content-Type": "application/json",
        "Content-Length": str(len(MESSAGE)),
        "Expect": expectation,
    }
    connection = await _head(runtime, f"/v1/handovers/{handover_id}/messages", headers)
    response = await _refused_without_invitation(connection, 417)
    assert response.json() == {
        "error": {
            "code": "expectation_failed",
            "message": f"Expect {expectation!r} is not supported: only 100-continue",
            "pointer": "/Expect",
        }
    }
    assert _sent(sim) == []


async def test_a_client_gone_after_its_head_is_not_an_internal_error(
    live: tuple[WireRuntime, str], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # The 100 Continue written to a connection the client had reset was a 500 and a traceback per client.
    runtime, handover_id = live
    for _ in range(5):
        runtime.probe.reset()
        headers: dict[str, str | bytes] = {"Content-Type": "application/json", "Content-Length": str(len(MESSAGE))}
        connection = await _head(runtime, f"/v1/handovers/{handover_id}/messages", headers)
        sock = connection.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
        connection.writer.transport.abort()
        await wait_for(lambda: runtime.probe.answered, "the handler to end")
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    # structlog writes to stdout unless a test before this one configured it onto the logging module.
    assert "api.unhandled_error" not in capsys.readouterr().out


async def test_a_route_with_aiohttp_s_own_expect_handler_keeps_its_connection(live: tuple[WireRuntime, str]) -> None:
    """An unknown path is answered by aiohttp's default expect handler, which invites the body at once: its
    answer is not a refusal of a body never invited, and the connection carries on."""
    runtime, _ = live
    headers: dict[str, str | bytes] = {"Content-Type": "application/json", "Content-Length": str(len(MESSAGE))}
    connection = await _head(runtime, "/v1/no-such-route", headers)
    assert await connection.reader.readexactly(len(CONTINUE)) == CONTINUE
    await connection.send(MESSAGE)
    response = await connection.response()
    assert response.status == 404
    assert response.headers.get("connection", "keep-alive").lower() != "close"
    await connection.send(request_head("GET", "/healthz", {}))
    assert (await connection.response()).status == 200
