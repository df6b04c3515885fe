"""The MIAW simulator in its own process, plus a few `/_bench` routes the benchmarks drive it with.

`python -m bench._sim [--tls-cert C --tls-key K] [--uvloop] [--ping S]` prints its base URL, then serves until
SIGTERM/SIGINT. Bench routes (never part of the real simulator):

- POST /_bench/accept {"conversations": [...]}: an agent accepts each conversation.
- POST /_bench/emit {"conversations": [...], "count": N, "rate": R}: the agent of each conversation, round
  robin, writes N messages at R per second (0: as fast as the loop allows); each text is the emit time.
- GET  /_bench/emit: {"done", "emitted", "seconds"} of the last emission.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import time
from typing import Any

from aiohttp import web

from bench.common import run_child, serve_until_signalled
from handover_miaw.simulator import Simulator, SimulatorConfig, create_app

_TICK = 0.005


class Emitter:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.task: asyncio.Task[None] | None = None
        self.emitted = 0
        self.seconds = 0.0

    async def run(self, conversations: list[str], count: int, rate: float, pad: str) -> None:
        self.emitted = 0
        start = time.perf_counter()
        n = len(conversations)
        while self.emitted < count:
            if rate > 0:
                # Emit what the schedule owes by now, then sleep one tick.
                due = min(count, int((time.perf_counter() - start) * rate) + 1)
                burst = due - self.emitted
            else:
                burst = min(50, count - self.emitted)
            for _ in range(burst):
                cid = conversations[self.emitted % n]
                await self.sim.send_text(cid, f"{time.time():.6f} {pad}")
                self.emitted += 1
            await asyncio.sleep(_TICK if rate > 0 else 0)
        self.seconds = time.perf_counter() - start


def bench_routes(sim: Simulator) -> list[web.RouteDef]:
    emitter = Emitter(sim)

    async def accept(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        for cid in body["conversations"]:
            await sim.accept(cid, "Maria")
        return web.json_response({"accepted": len(body["conversations"])})

    async def emit(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        if emitter.task is not None and not emitter.task.done():
            return web.json_response({"error": "busy"}, status=409)
        emitter.task = asyncio.get_running_loop().create_task(
            emitter.run(body["conversations"], int(body["count"]), float(body["rate"]), "x" * int(body.get("pad", 40)))
        )
        return web.json_response({"started": True})

    async def emit_status(_request: web.Request) -> web.Response:
        done = emitter.task is None or emitter.task.done()
        return web.json_response({"done": done, "emitted": emitter.emitted, "seconds": emitter.seconds})

    return [web.post("/_bench/accept", accept), web.post("/_bench/emit", emit), web.get("/_bench/emit", emit_status)]


async def main(args: argparse.Namespace) -> None:
    sim = Simulator(SimulatorConfig(ping_interval_s=args.ping))
    app = create_app(sim)
    app.add_routes(bench_routes(sim))
    ssl_context = None
    if args.tls_cert:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
    # As `handover-miaw simulator` serves: a stream whose client left is removed at once, not at the next ping.
    await serve_until_signalled(app, ssl_context=ssl_context, handler_cancellation=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--ping", type=float, default=15.0)
    arguments = parser.parse_args()
    run_child(main(arguments), use_uvloop=arguments.uvloop)
