"""The manifest, the API document, health, readiness and metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from handover_miaw.api.app_keys import API_DOC, HANDOVERS, MANIFEST, METRICS
from handover_miaw.api.responses import json_response

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/v1/manifest")
async def get_manifest(request: web.Request) -> web.Response:
    """The manifest and the schemas derived from it."""
    manifest = request.app[MANIFEST]
    return json_response(
        {
            "manifest": manifest.document,
            "schemas": {"connectorConfig": manifest.connector_schema, "nodeSettings": manifest.node_schema},
        }
    )


@routes.get("/v1/openapi.json")
async def get_openapi(request: web.Request) -> web.Response:
    """The API document."""
    return web.Response(body=request.app[API_DOC].body, content_type="application/json")


@routes.get("/healthz")
async def healthz(_request: web.Request) -> web.Response:
    """The process answers."""
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """The store answers and takes writes (a full disk answers reads: it once said ready throughout);
    `store` says what a restart of it would lose (a warning, not unreadiness)."""
    handovers = request.app[HANDOVERS]
    if (refusal := await handovers.unreadiness()) is not None:
        code, message = refusal
        return json_response({"error": {"code": code, "message": message}}, status=503)
    return json_response({"status": "ready", "store": (await handovers.durability()).view()})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text."""
    registry = request.app[METRICS]
    for state, count in request.app[HANDOVERS].live_counts().items():
        registry.handovers.labels(state).set(count)
    # Read at scrape time, so every process on a shared store reports the same figure.
    registry.dead_deliveries.set(await request.app[HANDOVERS].dead_deliveries())
    return web.Response(body=generate_latest(registry.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
