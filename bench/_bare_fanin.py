"""The floor for any fan-in built on aiohttp: read MIAW event streams, POST one signed webhook per agent message.

`python -m bench._bare_fanin --sim URL --hook URL --secret S --conversations N [--uvloop]` opens N
conversations on the simulator (token, event stream, conversation) and, for each, reads its stream with the
runtime's own SSE parser, parses each event's JSON (and its entryPayload), and for an agent's message POSTs
the runtime's webhook envelope, signed as the runtime signs it (`handover_miaw.delivery.formats`), awaiting
the answer before the next event of that conversation (in order per conversation, as the runtime delivers).
No state machine, no store, no outbox, no retries, no metrics: what the runtime's fan-in costs beyond this is
the runtime's own. `GET /conversations` lists the conversation ids. It prints its URL once ready.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from bench import raw
from bench.common import run_child, serve_until_signalled
from handover_miaw.delivery.envelope import delivery_id, envelope
from handover_miaw.delivery.formats import build_request
from handover_miaw.miaw.sse import SSEParser

AGENT_ROLES = frozenset({"Agent", "Chatbot", "Supervisor"})


def agent_message(
    conversation_id: str, event: str, data: str, target: dict[str, Any]
) -> tuple[str, bytes, dict[str, str]] | None:
    """The signed webhook request (url, body, headers) for one SSE event; None unless an agent's message."""
    if event != "CONVERSATION_MESSAGE":
        return None
    entry = orjson.loads(data)["conversationEntry"]
    sender = entry.get("sender") or {}
    if sender.get("role") not in AGENT_ROLES:
        return None
    payload = entry["entryPayload"]
    message = (orjson.loads(payload) if isinstance(payload, str) else payload)["abstractMessage"]
    entry_id = entry["identifier"]
    ident = delivery_id(conversation_id, f"{entry_id}:message")
    body = envelope(
        id=ident,
        type="agent.message",
        handover_id=conversation_id,
        connector="bench",
        session_id=conversation_id,
        user_id="u",
        occurred_at=time.time(),
        data={
            "messageId": entry_id,
            "text": message["staticContent"]["text"],
            "role": sender["role"],
            "agent": {"name": entry.get("senderDisplayName")},
            "attachments": [],
            "choices": [],
        },
    )
    request = build_request(target, body, int(time.time()))
    assert request is not None
    return request.url, request.body, request.headers


def bare_fanin(sim: str, hook: str, secret: str, conversations: int) -> web.Application:
    """The fan-in app; its conversations are opened at startup and read until cleanup."""
    app = web.Application()
    target = {"format": "webhook", "url": hook, "secret": secret}
    ids: list[str] = []
    # The runtime's sessions: unlimited connections for streams, a pool of 256 for deliveries (api/app.py).
    streams = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    deliveries = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))

    async def read(conv: raw.RawConversation) -> None:
        assert conv.stream is not None
        parser = SSEParser()
        with contextlib.suppress(aiohttp.ClientError):
            async for chunk in conv.stream.content.iter_any():
                for event in parser.feed(chunk):
                    request = agent_message(conv.conversation_id, event.event, event.data, target)
                    if request is None:
                        continue
                    url, body, headers = request
                    async with deliveries.post(url, data=body, headers=headers, allow_redirects=False) as response:
                        await response.read()

    async def conversations_ctx(_app: web.Application) -> AsyncIterator[None]:
        convs = [(await raw.start(streams, sim))[0] for _ in range(conversations)]
        ids.extend(c.conversation_id for c in convs)
        readers = [asyncio.create_task(read(c)) for c in convs]
        yield
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await streams.close()
        await deliveries.close()

    async def listing(_request: web.Request) -> web.Response:
        return web.json_response({"conversations": ids})

    app.cleanup_ctx.append(conversations_ctx)
    app.router.add_get("/conversations", listing)
    return app


async def main(args: argparse.Namespace) -> None:
    await serve_until_signalled(bare_fanin(args.sim, args.hook, args.secret, args.conversations))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim", required=True)
    parser.add_argument("--hook", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--uvloop", action="store_true")
    arguments = parser.parse_args()
    run_child(main(arguments), use_uvloop=arguments.uvloop)
