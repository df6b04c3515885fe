"""The aiohttp application: resources start in dependency order and stop in reverse.

store and its leases → HTTP sessions (MIAW, deliveries) → the application service (`Handovers`: resumes
live handovers, runs the ownership and timer loops) → the outbox dispatcher.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import aiohttp.web_response
import structlog
from aiohttp import hdrs, web

from handover_miaw.api.access_log import AccessLogger
from handover_miaw.api.app_keys import API_DOC, HANDOVERS, MANIFEST, METRICS, SETTINGS, SUBSCRIBERS, Subscribers
from handover_miaw.api.connectors_file import load_connectors_file
from handover_miaw.api.expect import close_if_not_invited, expect_handler
from handover_miaw.api.middleware import errors_middleware
from handover_miaw.api.openapi import ApiDocument
from handover_miaw.api.routes_connectors import routes as connector_routes
from handover_miaw.api.routes_deliveries import routes as delivery_routes
from handover_miaw.api.routes_doctor import routes as doctor_routes
from handover_miaw.api.routes_handovers import MULTIPART_OVERHEAD_BYTES
from handover_miaw.api.routes_handovers import routes as handover_routes
from handover_miaw.api.routes_meta import routes as meta_routes
from handover_miaw.api.routes_tools import routes as tool_routes
from handover_miaw.api.routes_ui import add_ui
from handover_miaw.api.server_log import SERVER_LOGGER
from handover_miaw.delivery.dispatcher import Dispatcher
from handover_miaw.delivery.guard import delivery_session as delivery_session_for
from handover_miaw.delivery.outbox import Outbox
from handover_miaw.handovers.application import Handovers, ServiceOptions
from handover_miaw.handovers.timers import TimerPolicy
from handover_miaw.logs import secrets
from handover_miaw.manifest import Manifest, load_manifest
from handover_miaw.metrics import Metrics
from handover_miaw.miaw import stream_session
from handover_miaw.settings import Settings
from handover_miaw.store import create_store
from handover_miaw.store.records import Retention
from handover_miaw.tasks import stop

__all__ = ["GC_THRESHOLDS", "SERVER_NAME", "create_app", "hide_server_version", "server_options", "tune_gc"]

# The young generation's collection threshold: at CPython's 700 the runtime collected every few requests,
# a visible share of its CPU per message (`python -m bench relay`). Requests make short-lived objects freed by
# reference counting; what the higher threshold lets pile up is at most that many container objects of
# cyclic garbage.
GC_THRESHOLDS = (10_000, 10, 10)

log = structlog.get_logger(__name__)

# What the `Server` header says: aiohttp's default names the Python and aiohttp versions, which tells a
# scanner which published flaws to try.
SERVER_NAME = "handover-miaw"


async def _runtime(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    records = load_connectors_file(settings.connectors, app[API_DOC], settings) if settings.connectors else []
    if "://" not in settings.store_url or settings.store_url.startswith("sqlite:"):
        # Owner only: the store holds secrets (webhook secrets, Cognigy keys, live handovers' tokens).
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    retention = Retention(ended_s=settings.retention_s, dead_s=settings.dead_letter_retention_s)
    store = create_store(settings.store_url, retention=retention, wal_limit_bytes=settings.wal_limit_bytes)
    await store.open()
    durability = await store.durability()
    if not durability.safe:
        log.warning("store.not_durable", engine=durability.engine, detail=durability.detail)
    miaw_session = stream_session()
    policy = settings.delivery_policy()
    delivery_session = delivery_session_for(policy)
    outbox = Outbox()
    options = ServiceOptions(
        heartbeat_timeout_s=settings.heartbeat_timeout_s,
        request_timeout_s=settings.miaw_timeout_s,
        lease_ttl_s=settings.lease_ttl_s,
        timers=TimerPolicy(token_warning_s=settings.token_warning_s, queue_timeout_s=settings.queue_timeout_s),
    )
    handovers = Handovers(store, outbox, miaw_session, app[MANIFEST], app[METRICS], options)
    app[HANDOVERS] = handovers
    dispatcher = Dispatcher(
        store,
        delivery_session,
        app[METRICS],
        outbox.signal,
        horizon_s=settings.delivery_horizon_s,
        policy=policy,
        leases=handovers.stream_leases.leases,
        owner=handovers.stream_leases.owner,
        lease_ttl_s=settings.lease_ttl_s,
    )
    dispatch_task: asyncio.Task[None] | None = None
    try:
        resumed = await handovers.open(records)
        dispatch_task = asyncio.get_running_loop().create_task(dispatcher.run(), name="outbox-dispatcher")
        log.info("runtime.started", connectors=len(records), resumed=resumed, store=settings.store_url.split("://")[0])
        yield
    finally:
        if dispatch_task is not None:
            await stop(dispatch_task)
        await handovers.close()
        await delivery_session.close()
        await miaw_session.close()
        await store.close()


async def _end_event_streams(app: web.Application) -> None:
    app[SUBSCRIBERS].close_all()


async def _server_header(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER_NAME


def hide_server_version() -> None:
    """Name no versions in the answers aiohttp makes itself, before any routing (a 400 to bytes that are
    not HTTP), for the whole process: aiohttp has no setting for it, only this module-level default,
    which every response it prepares falls back to. Called by `serve`, whose process is the runtime's."""
    aiohttp.web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]


def tune_gc() -> None:
    """Collect less often, and never look at what was loaded at start again: for the whole process, once
    the application is built (modules, the manifest, its schemas). Called by `serve`, whose process is the
    runtime's: the standard thresholds made the runtime collect every few requests, each collection
    walking the young objects again (see GC_THRESHOLDS), and every full one the 60,000 start-up objects."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def server_options(settings: Settings) -> dict[str, Any]:
    """How the HTTP server around the application is run (`web.run_app`, `web.AppRunner` keywords).

    aiohttp closes a connection whose request head has not arrived `keepalive_timeout` after it opened or
    after the previous answer (the timer is not moved by partial data), which is the slow-header limit; it
    is also how long an idle keep-alive connection is kept. The access line is aiohttp's, made cheaper
    (api.access_log); the server's own lines go through api.server_log.
    """
    return {"keepalive_timeout": settings.header_timeout_s, "access_log_class": AccessLogger, "logger": SERVER_LOGGER}


def _add_routes(app: web.Application, table: web.RouteTableDef) -> None:
    """Add `table`'s routes, each with the expect handler that invites a body only once it passed its checks,
    and HEAD beside each GET as `add_get` gives it (load balancers and uptime checks ask with HEAD)."""
    for route in table:
        if not isinstance(route, web.RouteDef):
            raise TypeError(f"{route!r}: the API's route tables hold routes only")
        options = dict(route.kwargs)
        resource = app.router.add_resource(route.path, name=options.pop("name", None))
        if route.method == hdrs.METH_GET and options.pop("allow_head", True):
            resource.add_route(hdrs.METH_HEAD, route.handler, expect_handler=expect_handler, **options)
        resource.add_route(route.method, route.handler, expect_handler=expect_handler, **options)


def create_app(settings: Settings, manifest: Manifest | None = None) -> web.Application:
    """The runtime's application; ValueError for settings it cannot start with (e.g. a short API key)."""
    if problems := settings.problems():
        raise ValueError("; ".join(problems))
    manifest = manifest or load_manifest()
    secrets.add(*settings.api_keys)
    secrets.add_keys(manifest.secret_keys)
    if settings.insecure_dev:
        log.warning("runtime.insecure_dev", detail="no API key is required and loopback MIAW URLs are allowed")
    # Files are multipart and bigger than JSON bodies; JSON bodies are limited again in requests.json_body.
    app = web.Application(
        client_max_size=max(settings.max_body_bytes, settings.max_file_bytes) + MULTIPART_OVERHEAD_BYTES,
        middlewares=[errors_middleware],
    )
    app[SETTINGS] = settings
    app[MANIFEST] = manifest
    app[API_DOC] = ApiDocument(manifest)
    app[METRICS] = Metrics()
    app[SUBSCRIBERS] = Subscribers()
    app.on_response_prepare.append(_server_header)
    app.on_shutdown.append(_end_event_streams)
    app.cleanup_ctx.append(_runtime)
    app.on_response_prepare.append(close_if_not_invited)
    for table in (connector_routes, delivery_routes, meta_routes, doctor_routes, handover_routes, tool_routes):
        _add_routes(app, table)
    if not settings.no_ui:
        add_ui(app)
    return app
