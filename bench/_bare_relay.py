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
import signal
import uuid

import aiohttp
import orjson
from aiohttp import web

from bench import raw
from bench.common import raise_nofile


async def main(args: argparse.Namespace) -> None:
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    convs = [(await raw.start(http, args.sim))[0] for _ in range(args.conversations)]
    urls = [f"{args.sim}{raw.API}/conversation/{c.conversation_id}/message" for c in convs]
    headers = [c.headers() for c in convs]

    async def drain(conv: raw.RawConversation) -> None:
        assert conv.stream is not None
        with contextlib.suppress(aiohttp.ClientError, asyncio.CancelledError):
            async for _ in conv.stream.content.iter_any():
                pass

    drains = [asyncio.create_task(drain(c)) for c in convs]

    async def relay(request: web.Request) -> web.Response:
        k = int(request.match_info["k"])
        body = orjson.loads(await request.read())
        miaw_id = str(uuid.uuid4())
        await raw.post(http, urls[k], raw.message_body(body["text"], miaw_id), headers[k])
        return web.Response(body=orjson.dumps({"id": body["id"], "miawMessageId": miaw_id}), status=202,
                            content_type="application/json")  # fmt: skip

    app = web.Application()
    app.router.add_post("/relay/{k}", relay)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    try:
        await stop.wait()
    finally:
        for task in drains:
            task.cancel()
        await runner.cleanup()
        await http.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim", required=True)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--uvloop", action="store_true")
    arguments = parser.parse_args()
    raise_nofile()
    if arguments.uvloop:
        import uvloop

        uvloop.run(main(arguments))
    else:
        asyncio.run(main(arguments))
