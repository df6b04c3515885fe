"""The aiohttp application around a :class:`Simulator`, and a standalone runner.

Start order: simulator state → scripted agent (cleanup context) → server. On shutdown the open event
streams are ended first (``on_shutdown``) so the server's graceful wait does not hang on them, then the
scripted agent's tasks are cancelled and awaited (cleanup context exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from . import control, control_deployment, messages, rest, sse
from .config import SimulatorConfig
from .faults import ENDPOINTS
from .httputil import SIMULATOR_KEY, error_response, simulator
from .script import ScriptRunner
from .simulator import Simulator
from .state import SimulatorError

__all__ = ["create_app", "run", "serve"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def miaw_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply injected latency and failures, turn :class:`SimulatorError` into JSON, log MIAW calls."""
    sim = simulator(request)
    endpoint = request.match_info.route.name
    if endpoint not in ENDPOINTS:
        try:
            return await handler(request)
        except SimulatorError as exc:
            return error_response(exc.status, exc.code, exc.message)
    delay = sim.faults.latency_s.get(endpoint)
    if delay:
        await asyncio.sleep(delay)
    failure = sim.faults.take_failure(endpoint)
    if failure is not None:
        headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else None
        response: web.StreamResponse = error_response(
            failure.status, "INJECTED_FAULT", f"Injected HTTP {failure.status}.", headers
        )
    else:
        try:
            response = await handler(request)
        except SimulatorError as exc:
            response = error_response(exc.status, exc.code, exc.message)
        if not isinstance(response, web.Response):
            # A stream logged itself when it opened.
            return response
    sim.record_call(endpoint, request.method, request.path, response.status)
    return response


async def _close_streams(app: web.Application) -> None:
    app[SIMULATOR_KEY].hub.close_all()


async def _script_context(app: web.Application) -> AsyncIterator[None]:
    sim = app[SIMULATOR_KEY]
    script = sim.config.script
    if script is None:
        yield
        return
    runner = ScriptRunner(sim, script)
    sim.listeners.append(runner)
    try:
        yield
    finally:
        sim.listeners.remove(runner)
        await runner.aclose()


def create_app(sim: Simulator) -> web.Application:
    """The simulator's web app: MIAW REST + event router + ``/_sim`` control API."""
    app = web.Application(middlewares=[miaw_middleware])
    app[SIMULATOR_KEY] = sim
    app.add_routes(rest.routes())
    app.add_routes(messages.routes())
    app.add_routes(sse.routes())
    app.add_routes(control.routes())
    app.add_routes(control_deployment.routes())
    app.on_response_prepare.append(control_deployment.skew_date)
    app.on_shutdown.append(_close_streams)
    app.cleanup_ctx.append(_script_context)
    return app


async def serve(
    host: str,
    port: int,
    config: SimulatorConfig,
    stop: asyncio.Event,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve until ``stop`` is set; ``announce`` receives the base URL once the socket is bound."""
    runner = web.AppRunner(create_app(Simulator(config)))
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        announce(f"http://{host or bound_host}:{bound_port}")
        await stop.wait()
    finally:
        await runner.cleanup()


def run(host: str, port: int, config: SimulatorConfig) -> None:
    """Run the simulator in the foreground until SIGINT/SIGTERM; prints its base URL first."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        await serve(host, port, config, stop, lambda url: print(url, flush=True))

    asyncio.run(main())
