"""Hostile or slow clients at the socket. Bad bytes in Authorization, broken multipart, Last-Event-ID
in digits other than ASCII's and a body the client cuts short get a 4xx with the JSON error body, never a
500 or a traceback in the log; a request aiohttp cannot parse is its 400 and a warning without the
client's bytes; a connection that does not send its request head in time is closed; every answer says
`Server: handover-miaw` without versions, a 401 `WWW-Authenticate: Bearer`."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from handover_miaw.simulator import Simulator
from tests.api.conftest import API_KEY, WireFactory, WireRuntime, connector_body
from tests.api.wire_client import WireConnection, WireResponse, chunked, request_head
from tests.processes import RuntimeProcess, free_port
from tests.waiting import wait_for

UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "a valid API key is required"}}


async def _send(
    runtime: WireRuntime, method: str, path: str, headers: dict[str, str | bytes], body: bytes = b""
) -> WireResponse:
    connection = await runtime.connect()
    await connection.send(request_head(method, path, {**headers, "Content-Length": str(len(body))}) + body)
    return await connection.response()


def _error(response: WireResponse, status: int) -> dict[str, Any]:
    assert response.status == status, response.body
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    return error


def _no_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    noisy = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not noisy, [r.getMessage() for r in noisy]


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer \xff\xfe\xfd",
        b"Bearer " + API_KEY.encode() + b"\xc3",
        b"\xff\xff " + API_KEY.encode(),
        b"Bearer \xed\xa0\x80",
    ],
)
async def test_authorization_that_is_not_utf8_is_401_without_a_traceback(
    wire_runtime: WireFactory, caplog: pytest.LogCaptureFixture, authorization: bytes
) -> None:
    runtime = await wire_runtime(insecure_dev=False, api_keys=(API_KEY,))
    response = await _send(runtime, "GET", "/v1/connectors", {"Authorization": authorization})
    _error(response, 401)
    assert response.json() == UNAUTHORIZED
    assert response.headers["www-authenticate"] == "Bearer"
    _no_error_logged(caplog)
    ok = await _send(runtime, "GET", "/v1/connectors", {"Authorization": f"Bearer {API_KEY}"})
    assert ok.status == 200


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--x\r\nContent-Disposition: form-data; name=file\r\n\r\nabc\r\n--x--\r\n"),
        ("multipart/form-data; boundary=", b"--\r\n\r\n"),
        ("multipart/form-data; boundary=x", b"garbage, no boundary anywhere"),
        ("multipart/form-data; boundary=x", b""),
        ("multipart/form-data; boundary=x", b"--x\r\nthis is not a header line\r\n\r\nabc\r\n--x--\r\n"),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nContent-Disposition: form-data; name=file\r\nContent-Type: application/pdf\r\n\r\nabc--x--",
        ),
        ("multipart/form-data; boundary=" + "b" * 80, b"--" + b"b" * 80 + b"--\r\n"),
    ],
    ids=["no-boundary", "empty-boundary", "garbage", "empty", "bad-part-header", "unterminated", "long-boundary"],
)
async def test_broken_multipart_is_400(
    live: tuple[WireRuntime, str], caplog: pytest.LogCaptureFixture, content_type: str, body: bytes
) -> None:
    runtime, handover_id = live
    response = await _send(runtime, "POST", f"/v1/handovers/{handover_id}/files", {"Content-Type": content_type}, body)
    error = _error(response, 400)
    assert error["code"] == "malformed_request"
    assert "multipart" in error["message"] or error.get("pointer") == "/file"
    _no_error_logged(caplog)


# Superscript two; twelve in Arabic-Indic digits; twelve in full-width digits (str.isdigit() takes all three).
NOT_ASCII_DIGITS = ["\u00b2", "\u0661\u0662", "\uff11\uff12"]


@pytest.mark.parametrize("value", [*NOT_ASCII_DIGITS, "-1", "+1", "0x1", "1e3", "1" * 19], ids=ascii)
async def test_last_event_id_takes_ascii_digits_only(
    live: tuple[WireRuntime, str], caplog: pytest.LogCaptureFixture, value: str
) -> None:
    runtime, handover_id = live
    path = f"/v1/handovers/{handover_id}/events"
    response = await _send(runtime, "GET", path, {"Last-Event-ID": value.encode()})
    error = _error(response, 400)
    assert error["pointer"] == "/Last-Event-ID"
    assert "ASCII digits" in error["message"]
    _no_error_logged(caplog)


async def test_last_event_id_in_ascii_digits_replays_after_it(live: tuple[WireRuntime, str]) -> None:
    runtime, handover_id = live
    async with runtime.http.delete(f"{runtime.url}/v1/handovers/{handover_id}") as ended:
        assert ended.status == 200
    path = f"/v1/handovers/{handover_id}/events"
    everything = await _send(runtime, "GET", path, {})
    assert everything.status == 200
    ids = [line.split(b":", 1)[1].strip() for line in everything.body.splitlines() if line.startswith(b"id:")]
    assert ids
    after_first = await _send(runtime, "GET", path, {"Last-Event-ID": ids[0]})
    assert after_first.status == 200
    assert [line for line in after_first.body.splitlines() if line.startswith(b"id:")] == [b"id: " + i for i in ids[1:]]


async def test_every_answer_names_the_server_without_versions(live: tuple[WireRuntime, str]) -> None:
    runtime, handover_id = live
    answers = [
        await _send(runtime, "GET", "/healthz", {}),
        await _send(runtime, "GET", f"/v1/handovers/{handover_id}", {}),
        await _send(runtime, "GET", "/v1/nowhere", {}),
        await _send(runtime, "PATCH", "/v1/handovers", {}),
        await _send(runtime, "POST", "/v1/handovers", {"Content-Type": "application/json"}, orjson.dumps([1])),
    ]
    assert [a.status for a in answers] == [200, 200, 404, 405, 422]
    assert {a.headers["server"] for a in answers} == {"handover-miaw"}


async def test_a_connection_that_sends_no_whole_request_head_in_time_is_closed(wire_runtime: WireFactory) -> None:
    runtime = await wire_runtime(header_timeout_s=0.5)
    slow = await runtime.connect()
    await slow.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Still-Typing: ")
    loop = asyncio.get_running_loop()
    opened = loop.time()
    assert await slow.closed_by_peer(5.0) == b"", "closed without an answer"
    assert loop.time() - opened >= 0.4
    prompt = await runtime.connect()
    await prompt.send(request_head("GET", "/healthz", {}))
    assert (await prompt.response()).status == 200


async def test_serve_closes_slow_connections_and_names_no_versions_even_to_garbage(tmp_path: Path) -> None:
    connectors = tmp_path / "connectors.json"
    connectors.write_bytes(b'{"connectors": {}}')
    env = {"HANDOVER_MIAW_HEADER_TIMEOUT_S": "0.5", "HANDOVER_MIAW_LOG_LEVEL": "WARNING"}
    runtime = RuntimeProcess(free_port(), tmp_path / "data", connectors, tmp_path / "runtime.log", env)
    async with aiohttp.ClientSession() as http:
        await runtime.start(http)
    try:
        slow = await WireConnection.open(runtime.port)
        await slow.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert await slow.closed_by_peer(5.0) == b""
        await slow.close()
        prompt = await WireConnection.open(runtime.port)
        await prompt.send(request_head("GET", "/healthz", {}))
        answer = await prompt.response()
        assert answer.status == 200
        assert answer.headers["server"] == "handover-miaw"
        await prompt.close()
        garbage = await WireConnection.open(runtime.port)
        await garbage.send(b"\x16\x03\x01 this is not HTTP\r\n\r\n")
        refused = await garbage.response()
        assert refused.status == 400
        assert refused.headers["server"] == "handover-miaw"
        assert refused.json()["error"]["code"] == "malformed_request"
        await garbage.close()
    finally:
        await runtime.stop()


@pytest.mark.parametrize(
    "head",
    [
        b"Authorization: Bearer KEY\x01\r\n",  # a control character aiohttp refuses, quoting the header
        b"Authorization: Bearer\r\n KEY\r\n",  # an obsolete line folding
        b"X-Note: KEY\nAuthorization: Bearer KEY\r\n",  # a bare LF
    ],
    ids=["control-character", "folded", "bare-lf"],
)
async def test_a_request_aiohttp_refuses_is_answered_in_json_quoting_none_of_its_bytes(
    tmp_path: Path, head: bytes
) -> None:
    # aiohttp's own text/plain 400 quoted the header it refused, the API key in it too.
    key = "k" * 40
    connectors = tmp_path / "connectors.json"
    connectors.write_bytes(b'{"connectors": {}}')
    env = {"HANDOVER_MIAW_API_KEYS": key, "HANDOVER_MIAW_LOG_LEVEL": "WARNING"}
    runtime = RuntimeProcess(free_port(), tmp_path / "data", connectors, tmp_path / "runtime.log", env, extra_args=())
    async with aiohttp.ClientSession() as http:
        await runtime.start(http)
    try:
        connection = await WireConnection.open(runtime.port)
        await connection.send(
            b"GET /v1/connectors HTTP/1.1\r\nHost: 127.0.0.1\r\n" + head.replace(b"KEY", key.encode()) + b"\r\n"
        )
        answer = await connection.response()
        await connection.close()
    finally:
        await runtime.stop()
    assert answer.status == 400
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {
        "error": {"code": "malformed_request", "message": "the request could not be read as HTTP (400)"}
    }
    assert key.encode() not in answer.body
    assert key not in (tmp_path / "runtime.log").read_text()


async def test_multipart_parts_count_against_one_budget(wire_runtime: WireFactory, sim_url: str) -> None:
    """Parts the endpoint does not use are not skipped unread: a body of many of them is refused once it
    passes what a largest file needs, before it ends (it never does here: no closing boundary)."""
    runtime = await wire_runtime(max_file_bytes=16384)
    async with runtime.http.put(f"{runtime.url}/v1/connectors/acme", json=connector_body(sim_url)) as response:
        assert response.status == 201
    async with runtime.http.post(
        f"{runtime.url}/v1/handovers", json={"connector": "acme", "sessionId": "s", "userId": "u"}
    ) as response:
        handover_id = (await response.json())["id"]
    part = b"--x\r\nContent-Disposition: form-data; name=padding\r\n\r\n" + b"p" * 4000 + b"\r\n"
    connection = await runtime.connect()
    headers = {"Content-Type": "multipart/form-data; boundary=x", "Transfer-Encoding": "chunked"}
    await connection.send(request_head("POST", f"/v1/handovers/{handover_id}/files", headers))
    # 240 KB: three times the budget, room for the 64 KiB the multipart reader reads ahead of a part's end.
    await connection.send_each(chunked(part * 60, len(part))[:-1])
    error = _error(await connection.response(), 413)
    assert error["code"] == "payload_too_large"


def _sent_on(sim: Simulator) -> int:
    """User messages and files the simulator has been sent so far."""
    return sum(c.endpoint in {"send_message", "send_file"} for c in sim.calls)


async def _send_half(runtime: WireRuntime, path: str, endpoint: str, framing: str) -> tuple[WireConnection, int]:
    """A valid body for `endpoint` (a message, or a file as multipart), its head and its first half sent
    with Content-Length or in 64-byte chunks; the connection, and how many body bytes went out."""
    if endpoint == "messages":
        content_type, body = "application/json", orjson.dumps({"id": "m1", "text": "a message sent in half"})
    else:
        content_type = "multipart/form-data; boundary=x"
        body = b"--x\r\nContent-Disposition: form-data; name=file; filename=a.pdf\r\nContent-Type: application/pdf"
        body += b"\r\n\r\n" + b"%PDF" * 1000 + b"\r\n--x--\r\n"
    connection = await runtime.connect()
    if framing == "content-length":
        headers: dict[str, str | bytes] = {"Content-Type": content_type, "Content-Length": str(len(body))}
        await connection.send(request_head("POST", path, headers) + body[: len(body) // 2])
    else:
        headers = {"Content-Type": content_type, "Transfer-Encoding": "chunked"}
        await connection.send(request_head("POST", path, headers))
        await connection.send_each(chunked(body, 64)[: len(body) // 128])
    return connection, len(body) // 2


def _answered(caplog: pytest.LogCaptureFixture, path: str) -> list[str]:
    """The access lines the runtime wrote for `path`."""
    return [r.getMessage() for r in caplog.records if r.name == "aiohttp.access" and f" {path} " in r.getMessage()]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("endpoint", ["messages", "files"])
async def test_a_body_the_client_cuts_short_is_a_400_not_an_internal_error(
    live: tuple[WireRuntime, str],
    caplog: pytest.LogCaptureFixture,
    sim: Simulator,
    framing: str,
    endpoint: str,
) -> None:
    """A client that closes the connection before its body's last byte (a dropped mobile link) got a 500
    and a traceback logged as an internal error; it is a 400 of the client's, and nothing is sent on."""
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    runtime, handover_id = live
    path = f"/v1/handovers/{handover_id}/{endpoint}"
    sent_before = _sent_on(sim)
    connection, half = await _send_half(runtime, path, endpoint, framing)
    await runtime.probe.received(half - 64)
    connection.writer.close()  # gone, the rest of the body never sent
    await wait_for(lambda: bool(_answered(caplog, path)), "the runtime's answer to the request cut short")
    assert [line.split('" ')[1].split()[0] for line in _answered(caplog, path)] == ["400"]
    _no_error_logged(caplog)
    assert _sent_on(sim) == sent_before
    whole = orjson.dumps({"id": "m2", "text": "the next one arrives whole"})
    async with runtime.http.post(f"{runtime.url}/v1/handovers/{handover_id}/messages", data=whole,
                                 headers={"Content-Type": "application/json"}) as response:  # fmt: skip
        assert response.status == 202, await response.text()


@pytest.mark.parametrize(
    "framing",
    [
        b'5\r\n{"id": "secret-in-the-body"}\r\n0\r\n\r\n',  # five bytes announced, more sent
        b'zz\r\n{"id": "secret-in-the-body"}\r\n0\r\n\r\n',  # no chunk size at all
    ],
    ids=["chunk-overrun", "chunk-size"],
)
async def test_a_request_the_server_cannot_parse_is_a_warning_without_the_clients_bytes(
    live: tuple[WireRuntime, str], caplog: pytest.LogCaptureFixture, framing: bytes
) -> None:
    """aiohttp answers 400 itself, and logged the request as an error with a traceback quoting the body."""
    runtime, handover_id = live
    connection = await runtime.connect()
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    await connection.send(request_head("POST", f"/v1/handovers/{handover_id}/messages", headers) + framing)
    assert (await connection.response()).status == 400
    _no_error_logged(caplog)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "malformed_request" in r.getMessage()]
    assert [r.getMessage() for r in warnings] == ["http.malformed_request from 127.0.0.1: BadHttpMessage (400)"]
    assert not any("secret-in-the-body" in (r.getMessage() + (r.exc_text or "")) for r in caplog.records)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("endpoint", ["messages", "files"])
async def test_a_body_that_stops_arriving_is_a_408_and_the_connection_is_closed(
    wire_runtime: WireFactory, sim_url: str, sim: Simulator, caplog: pytest.LogCaptureFixture, framing: str,
    endpoint: str,
) -> None:  # fmt: skip
    """A client gone silent after half its body (no FIN, no RST: a lost mobile link) held the handler and
    the connection for good; the body's reads now wait `header_timeout_s` for a byte at most."""
    runtime = await wire_runtime(header_timeout_s=0.5)
    async with runtime.http.put(f"{runtime.url}/v1/connectors/acme", json=connector_body(sim_url)) as response:
        assert response.status == 201
    body = {"connector": "acme", "sessionId": "s1", "userId": "ann"}
    async with runtime.http.post(f"{runtime.url}/v1/handovers", json=body) as response:
        handover_id = (await response.json())["id"]
    path = f"/v1/handovers/{handover_id}/{endpoint}"
    sent_before = _sent_on(sim)
    connection, _ = await _send_half(runtime, path, endpoint, framing)
    answer = await connection.response(seconds=5.0)
    error = _error(answer, 408)
    assert error == {"code": "request_timeout", "message": "the request body stopped arriving: no byte for 0.5 s"}
    assert answer.headers["connection"].lower() == "close"
    assert await connection.closed_by_peer(5.0) == b""
    _no_error_logged(caplog)
    assert _sent_on(sim) == sent_before


async def test_a_body_whose_content_encoding_is_broken_is_a_400(
    live: tuple[WireRuntime, str], caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp wraps the decoding error in RequestPayloadError, which is no HttpProcessingError: it was a 500
    and two tracebacks."""
    runtime, handover_id = live
    body = b"secret-in-the-body, and not gzip at all"
    headers: dict[str, str | bytes] = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    response = await _send(runtime, "POST", f"/v1/handovers/{handover_id}/messages", headers, body)
    error = _error(response, 400)
    assert error["code"] == "malformed_request"
    assert "encoding is broken" in error["message"]
    _no_error_logged(caplog)
    assert not any("secret-in-the-body" in (r.getMessage() + (r.exc_text or "")) for r in caplog.records)
