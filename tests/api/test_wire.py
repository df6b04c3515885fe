"""Request bodies as networks deliver them: every endpoint that reads a body gets the same answer whether
the body arrives in one piece, one byte at a time, in two halves with a pause, or chunked, over plain TCP
and over TLS; a body over the limit is refused with 413 before the client has finished sending it.

The pause between pieces is a wait on the server having received the previous piece (`Probe.received`),
so every split really reaches the handler as a separate read.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from tests.api.conftest import WireFactory, WireRuntime, connector_body
from tests.api.wire_client import WireConnection, WireResponse, chunked, request_head

# Unsigned JWT-shaped identity tokens of one verified user: the simulator reads `sub` only.
IDENTITY = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.Zmlyc3Q"
FRESH_IDENTITY = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2Vjb25k"
BOUNDARY = "wire-boundary-7d9f"
MODES = ("whole", "bytes", "halves", "chunked")
# Values that differ between two otherwise equal requests (new ids, clocks).
VOLATILE = {"id", "conversationId", "miawMessageId", "createdAt", "updatedAt", "endedAt"}
# The doctor's report: timings, and findings that quote measured values (clock skew, latencies).
VOLATILE |= {"elapsedMs", "found", "details"}
JSON = {"Content-Type": "application/json"}


@dataclass
class Stage:
    """A runtime with a connector and two live handovers (one of an authenticated user)."""

    runtime: WireRuntime
    sim_url: str
    handover: str
    authenticated: str


@dataclass(frozen=True)
class Endpoint:
    """How to make one valid request of an endpoint; `tag` makes it new (a fresh session or message id)."""

    method: str
    path: Callable[[Stage, str], str]
    headers: dict[str, str]
    body: Callable[[Stage, str], bytes]


def _multipart(_stage: Stage, tag: str) -> bytes:
    parts = [
        ("id", "", tag.encode()),
        ("text", "", "here is the receipt, as promised — ünïcödé too".encode()),
        ("file", '; filename="receipt.pdf"\r\nContent-Type: application/pdf', b"%PDF-1.4\n" + bytes(range(256))),
    ]
    out = b""
    for name, extra, value in parts:
        out += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"{extra}\r\n\r\n'.encode() + value + b"\r\n"
        )
    return out + f"--{BOUNDARY}--\r\n".encode()


# Not a valid package (the problems are the answer, 200): what matters here is that it is read whole.
_ARCHIVE = gzip.compress(b"not a tar, " * 300, mtime=0)


def _json(value: Callable[[str], Any]) -> Callable[[Stage, str], bytes]:
    return lambda _stage, tag: orjson.dumps(value(tag))


TRANSCRIPT = [
    {"source": "user", "text": "I want a refund for order 1234, it arrived broken — twice."},
    {"source": "bot", "text": "Let me get you an agent."},
]

ENDPOINTS = {
    "putConnector": Endpoint(
        "PUT", lambda s, tag: f"/v1/connectors/wire-{tag}", JSON, lambda s, tag: orjson.dumps(connector_body(s.sim_url))
    ),
    "startHandover": Endpoint(
        "POST",
        lambda s, tag: "/v1/handovers",
        JSON,
        _json(
            lambda tag: {
                "connector": "acme",
                "sessionId": f"web-{tag}",
                "userId": "ann",
                "settings": {"sendTranscript": True, "routingAttributes": {"language": "en_US"}},
                "transcript": TRANSCRIPT,
                "context": {"orderId": "1234", "channel": "web"},
            }
        ),
    ),
    "sendMessage": Endpoint(
        "POST",
        lambda s, tag: f"/v1/handovers/{s.handover}/messages",
        JSON,
        _json(lambda tag: {"id": f"msg-{tag}", "text": "Thanks! The box was crushed and the glass inside broke. " * 4}),
    ),
    "sendTyping": Endpoint(
        "POST", lambda s, tag: f"/v1/handovers/{s.handover}/typing", JSON, _json(lambda tag: {"typing": True})
    ),
    "setPresence": Endpoint(
        "POST", lambda s, tag: f"/v1/handovers/{s.handover}/presence", JSON, _json(lambda tag: {"status": "connected"})
    ),
    "refreshIdentity": Endpoint(
        "POST",
        lambda s, tag: f"/v1/handovers/{s.authenticated}/identity",
        JSON,
        _json(lambda tag: {"identityToken": FRESH_IDENTITY}),
    ),
    "validateDocument": Endpoint(
        "POST",
        lambda s, tag: "/v1/validate",
        JSON,
        _json(lambda tag: {"kind": "node", "document": {"routingAttributes": {"Order__c": tag}, "sendTranscript": 1}}),
    ),
    "previewHandover": Endpoint(
        "POST",
        lambda s, tag: "/v1/preview",
        JSON,
        _json(lambda tag: {"settings": {"sendTranscript": True}, "transcript": TRANSCRIPT, "language": "en_US"}),
    ),
    "checkPackage": Endpoint(
        "POST", lambda s, tag: "/v1/packages/check", {"Content-Type": "application/gzip"}, lambda s, tag: _ARCHIVE
    ),
    "checkConnector": Endpoint(
        "POST",
        lambda s, tag: "/v1/connectors/acme/check",
        JSON,
        _json(lambda tag: {"nodeSettings": [{"routingAttributes": {"language": "en_US"}}]}),
    ),
    "sendFile": Endpoint(
        "POST",
        lambda s, tag: f"/v1/handovers/{s.handover}/files",
        {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        _multipart,
    ),
}


@pytest.fixture(params=["plain", "tls"])
async def stage(request: pytest.FixtureRequest, wire_runtime: WireFactory, sim_url: str) -> Stage:
    runtime = await wire_runtime(use_tls=request.param == "tls", max_body_bytes=4096, max_file_bytes=16384)
    async with runtime.http.put(f"{runtime.url}/v1/connectors/acme", json=connector_body(sim_url)) as response:
        assert response.status == 201, await response.text()
    ids = []
    for session, settings in (("s1", {}), ("s2", {"useIdentityToken": True, "identityToken": IDENTITY})):
        body = {"connector": "acme", "sessionId": session, "userId": "ann", "settings": settings}
        async with runtime.http.post(f"{runtime.url}/v1/handovers", json=body) as response:
            assert response.status == 201, await response.text()
            ids.append((await response.json())["id"])
    return Stage(runtime, sim_url, *ids)


async def _exchange(
    runtime: WireRuntime, method: str, path: str, headers: dict[str, str], body: bytes, mode: str
) -> WireResponse:
    connection = await runtime.connect()
    probe = runtime.probe
    probe.reset()
    framing = {"Transfer-Encoding": "chunked"} if mode == "chunked" else {"Content-Length": str(len(body))}
    head = request_head(method, path, {**headers, **framing})
    if mode == "whole":
        await connection.send(head + body)
    elif mode == "bytes":
        await connection.send(head)
        await connection.send_each((body[i : i + 1] for i in range(len(body))), probe.received)
    elif mode == "halves":
        half = len(body) // 2
        await connection.send(head + body[:half])
        await probe.received(half)
        await connection.send(body[half:])
    else:
        await connection.send(head)
        frames = chunked(body, 7)
        decoded = 0
        for frame, size in zip(frames, [*(len(body[i : i + 7]) for i in range(0, len(body), 7)), 0], strict=True):
            await connection.send(frame)
            decoded += size
            await probe.received(decoded)
    return await connection.response()


def _normalised(response: WireResponse, tag: str) -> tuple[int, Any]:
    def walk(value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if key in VOLATILE and value is not None:
            return "<volatile>"
        return value.replace(tag, "<tag>") if isinstance(value, str) else value

    return response.status, walk(response.json()) if response.body else None


@pytest.mark.timeout(120)
@pytest.mark.parametrize("operation", list(ENDPOINTS))
async def test_a_body_in_pieces_gets_the_answer_of_one_piece(stage: Stage, operation: str) -> None:
    endpoint = ENDPOINTS[operation]
    answers = {}
    for mode in MODES:
        tag = f"{mode}-x"
        response = await _exchange(
            stage.runtime, endpoint.method, endpoint.path(stage, tag), endpoint.headers, endpoint.body(stage, tag), mode
        )
        assert response.status < 400, (mode, response.status, response.body)
        answers[mode] = _normalised(response, tag)
    assert answers["bytes"] == answers["whole"]
    assert answers["halves"] == answers["whole"]
    assert answers["chunked"] == answers["whole"]


async def _refused_before_the_end(runtime: WireRuntime, connection: WireConnection) -> WireResponse:
    response = await connection.response()
    assert response.status == 413, response.body
    assert response.json()["error"]["code"] == "payload_too_large"
    return response


@pytest.mark.parametrize("use_tls", [False, True], ids=["plain", "tls"])
async def test_a_declared_length_over_the_limit_is_refused_before_any_body_is_sent(
    wire_runtime: WireFactory, use_tls: bool
) -> None:
    runtime = await wire_runtime(use_tls=use_tls, max_body_bytes=4096)
    connection = await runtime.connect()
    await connection.send(request_head("POST", "/v1/handovers", {**JSON, "Content-Length": str(100 * 1024 * 1024)}))
    await _refused_before_the_end(runtime, connection)
    assert runtime.probe.request is not None
    assert runtime.probe.request.content.total_bytes == 0


@pytest.mark.parametrize("use_tls", [False, True], ids=["plain", "tls"])
async def test_a_chunked_body_over_the_limit_is_refused_once_past_it(wire_runtime: WireFactory, use_tls: bool) -> None:
    runtime = await wire_runtime(use_tls=use_tls, max_body_bytes=4096)
    connection = await runtime.connect()
    await connection.send(request_head("POST", "/v1/handovers", {**JSON, "Transfer-Encoding": "chunked"}))
    # 4097 bytes and no last chunk: the body never ends, so only a server that counts can answer.
    await connection.send_each(chunked(b"[" + b" " * 4096, 1024)[:-1])
    await _refused_before_the_end(runtime, connection)


async def test_a_file_body_declared_over_the_limit_is_refused_before_any_body_is_sent(
    stage: Stage,
) -> None:
    runtime = stage.runtime
    connection = await runtime.connect()
    headers = {**ENDPOINTS["sendFile"].headers, "Content-Length": str(100 * 1024 * 1024)}
    await connection.send(request_head("POST", f"/v1/handovers/{stage.handover}/files", headers))
    await _refused_before_the_end(runtime, connection)


@pytest.mark.parametrize("use_tls", [False, True], ids=["plain", "tls"])
async def test_a_large_start_in_8_kib_pieces_is_read_whole(
    wire_runtime: WireFactory, sim_url: str, use_tls: bool
) -> None:
    """Past the 64 KiB a single read hands over, as a rate-limited or proxied client sends it."""
    runtime = await wire_runtime(use_tls=use_tls)
    async with runtime.http.put(f"{runtime.url}/v1/connectors/acme", json=connector_body(sim_url)) as response:
        assert response.status == 201
    turn = {"source": "user", "text": "The parcel arrived crushed and the glass inside was broken. " * 60}
    body = orjson.dumps({"connector": "acme", "sessionId": "big", "userId": "ann", "transcript": [turn] * 80})
    assert len(body) > 250_000
    connection = await runtime.connect()
    runtime.probe.reset()
    await connection.send(request_head("POST", "/v1/handovers", {**JSON, "Content-Length": str(len(body))}))
    await connection.send_each((body[i : i + 8192] for i in range(0, len(body), 8192)), runtime.probe.received)
    response = await connection.response()
    assert response.status == 201, response.body
    assert response.json()["sessionId"] == "big"
