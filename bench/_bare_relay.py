"""The floor for any relay built on aiohttp: a bare server that turns each POST into one MIAW send.

`python -m bench._bare_relay --sim URL --conversations N [--uvloop]` opens N conversations on the simulator
(token, event stream, conversation), drains their event streams, and serves `POST /relay/{k}` with a JSON
`{"id", "text"}` body by posting that text to conversation k and answering 202 with the MIAW id. No
validation, no store, no idempotency, no metrics: what the runtime's relay path costs beyond this is the
runtime's own. It prints its URL once ready.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import aiohttp
import orjson
from aiohttp import web

from bench import raw
from bench.processes import run_child, serve_until_signalled


def bare_relay(sim: str, conversations: int) -> web.Application:
    """The relay app; its conversations are opened at startup and their streams drained until cleanup."""
    app = web.Application()
    urls: list[str] = []
    headers: list[dict[str, str]] = []
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def drain(conv: raw.RawConversation) -> None:
        assert conv.stream is not None
        with contextlib.suppress(aiohttp.ClientError):
            async for _ in conv.stream.content.iter_any():
                pass

    async def conversations_ctx(_app: web.Application) -> AsyncIterator[None]:
        convs = [(await raw.start(http, sim))[0] for _ in range(conversations)]
        urls.extend(f"{sim}{raw.API}/conversation/{c.conversation_id}/message" for c in convs)
        headers.extend(c.headers() for c in convs)
        drains = [asyncio.create_task(drain(c)) for c in convs]
        yield
        for task in drains:
            task.cancel()
        await asyncio.gather(*drains, return_exceptions=True)
        await http.close()

    async def relay(request: web.Request) -> web.Response:
        k = int(request.match_info["k"])
        body = orjson.loads(await request.read())
        miaw_id = str(uuid.uuid4())
        await raw.post(http, urls[k], raw.message_body(body["text"], miaw_id), headers[k])
        return web.Response(body=orjson.dumps({"id": body["id"], "miawMessageId": miaw_id}), status=202,
                            content_type="application/json")  # fmt: skip

    app.cleanup_ctx.append(conversations_ctx)
    app.router.add_post("/relay/{k}", relay)
    return app


async def main(args: argparse.Namespace) -> None:
    await serve_until_signalled(bare_relay(args.sim, args.conversations))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim", required=True)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--uvloop", action="store_true")
    arguments = parser.parse_args()
    run_child(main(arguments), use_uvloop=arguments.uvloop)
