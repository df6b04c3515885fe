"""MIAW's answers are read within a bound, counted after decompression: a broken or hostile server (or a
proxy in between) cannot make the runtime hold an answer of any size. A success answer was read whole (a
200 MB one took 600 MB, a 1 MB gzip bomb 3 GB); an error answer is cut, as only its start is ever shown."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from handover_miaw.miaw import MiawClient, MiawProtocolError, MiawServerError, stream_session
from handover_miaw.miaw._transport import MAX_ANSWER_BYTES, MAX_ERROR_ANSWER_BYTES

from .conftest import DEPLOYMENT, FAST_RETRY, ORG_ID
from .helpers import FakeClock

TOKEN_PATH = "/iamessage/api/v2/authorization/unauthenticated/access-token"
Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]
CHUNK = b" " * 65536


def _streamed(status: int, total: int, sent: list[int]) -> Answer:
    """An answer of `total` bytes of JSON whitespace, chunked, counting in `sent` what the server managed to
    send."""

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            while sent[0] < total:
                await response.write(CHUNK)
                sent[0] += len(CHUNK)
        except ConnectionError:  # the client stopped reading and closed
            pass
        return response

    return answer


@pytest.fixture
async def hostile(aiohttp_server: Any) -> AsyncIterator[Callable[[Answer], Awaitable[MiawClient]]]:
    """A client of a server that answers the token call with `answer`."""
    sessions = []

    async def start(answer: Answer, **options: Any) -> MiawClient:
        app = web.Application()
        app.router.add_post(TOKEN_PATH, answer)
        server = await aiohttp_server(app)
        session = stream_session()
        sessions.append(session)
        return MiawClient(
            str(server.make_url("")).rstrip("/"), ORG_ID, DEPLOYMENT, session=session, request_timeout=10.0,
            retry_policy=FAST_RETRY, clock=FakeClock(), rand=lambda: 0.5, **options,
        )  # fmt: skip

    yield start
    for session in sessions:
        await session.close()


async def test_a_success_answer_past_the_bound_is_a_protocol_error_read_no_further(hostile: Any) -> None:
    sent = [0]
    client = await hostile(_streamed(200, 64 * MAX_ANSWER_BYTES, sent))
    with pytest.raises(MiawProtocolError, match=f"larger than {MAX_ANSWER_BYTES} bytes"):
        await client.unauthenticated_access_token()
    # The server was stopped by the client's closing, not by the end of its 1 GiB.
    assert sent[0] < 64 * MAX_ANSWER_BYTES


async def test_an_answer_past_the_bound_is_an_observed_attempt(hostile: Any) -> None:
    # Refused while read, it escaped the attempt's observation: /calls and the call metrics left it out.
    observed: list[tuple[str, str]] = []
    client = await hostile(
        _streamed(200, 2 * MAX_ANSWER_BYTES, [0]), observer=lambda e, outcome, _s: observed.append((e, outcome))
    )
    with pytest.raises(MiawProtocolError):
        await client.unauthenticated_access_token()
    assert observed == [("access_token", "MiawProtocolError")]


async def test_a_declared_length_past_the_bound_is_refused_before_its_body(hostile: Any) -> None:
    async def declared(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = MAX_ANSWER_BYTES + 1
        await response.prepare(request)
        await response.write(b"{")
        return response

    client = await hostile(declared)
    with pytest.raises(MiawProtocolError, match="larger than"):
        await client.unauthenticated_access_token()


async def test_a_gzip_bomb_counts_its_decompressed_bytes(hostile: Any) -> None:
    bomb = gzip.compress(b" " * (2 * MAX_ANSWER_BYTES), compresslevel=9)
    assert len(bomb) < MAX_ANSWER_BYTES // 100

    async def answer(_request: web.Request) -> web.Response:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        return web.Response(body=bomb, headers=headers)

    client = await hostile(answer)
    with pytest.raises(MiawProtocolError, match="larger than"):
        await client.unauthenticated_access_token()


async def test_an_error_answer_is_cut_at_its_bound(hostile: Any) -> None:
    async def answer(_request: web.Request) -> web.Response:
        return web.Response(status=503, body=b"x" * (16 * MAX_ERROR_ANSWER_BYTES), content_type="text/plain")

    client = await hostile(answer)
    with pytest.raises(MiawServerError) as raised:
        await client.unauthenticated_access_token()
    assert raised.value.body == "x" * MAX_ERROR_ANSWER_BYTES
