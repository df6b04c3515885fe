"""The aiohttp application around a :class:`Simulator`, and a standalone runner.

Start order: simulator state → scripted agent (cleanup context) → server. On shutdown the open event
streams are ended first (``on_shutdown``) so the server's graceful wait does not hang on them, then the
scripted agent's tasks are cancelled and awaited (cleanup context exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from . import control, control_deployment, messages, receipts, rest, sse
from .config import SimulatorConfig
from .cors import cors_middleware, setup_cors
from .faults import ENDPOINTS
from .httputil import SIMULATOR_KEY, error_response, simulator
from .retention import retention_context
from .script import ScriptRunner
from .simulator import Simulator
from .state import SimulatorError

__all__ = ["create_app", "run", "serve"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SHUTDOWN_GRACE_S = 1.0
"""How long a stopping simulator waits for handlers still running after the streams were told to end."""


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
    if (hold := sim.faults.holds.get(endpoint)) is not None:
        await hold.wait()
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
    app = web.Application(middlewares=[cors_middleware, miaw_middleware])
    app[SIMULATOR_KEY] = sim
    setup_cors(app, sim.config.cors_origins, sim.config.control_origins)
    app.add_routes(rest.routes())
    app.add_routes(messages.routes())
    app.add_routes(sse.routes())
    app.add_routes(control.routes())
    app.add_routes(receipts.routes())
    app.add_routes(control_deployment.routes())
    app.on_response_prepare.append(control_deployment.skew_date)
    app.on_shutdown.append(_close_streams)
    app.cleanup_ctx.append(_script_context)
    app.cleanup_ctx.append(retention_context)
    return app


async def serve(
    host: str,
    port: int,
    config: SimulatorConfig,
    stop: asyncio.Event,
    announce: Callable[[str], None] = print,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Serve (https with ``ssl_context``) until ``stop`` is set; ``announce`` receives the base URL once the
    socket is bound."""
    runner = web.AppRunner(
        create_app(Simulator(config)),
        # A stream's handler runs until its client goes: cancelling it when the socket closes is what
        # removes the stream at once (otherwise the next ping's failed write finds out, up to 15 s later).
        handler_cancellation=True,
        # Open streams never finish by themselves, and a handler blocked writing to a client that stopped
        # reading ignores the close request: past this grace the server cancels it, so SIGTERM ends the
        # process within seconds instead of aiohttp's default 60.
        shutdown_timeout=SHUTDOWN_GRACE_S,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        scheme = "https" if ssl_context is not None else "http"
        announce(f"{scheme}://{host or bound_host}:{bound_port}")
        await stop.wait()
    finally:
        await runner.cleanup()


def run(
    host: str,
    port: int,
    config: SimulatorConfig,
    ssl_context: ssl.SSLContext | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Run the simulator in the foreground until SIGINT/SIGTERM; prints its base URL first (or hands it
    to ``announce``)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        await serve(host, port, config, stop, announce or (lambda url: print(url, flush=True)), ssl_context)

    asyncio.run(main())
