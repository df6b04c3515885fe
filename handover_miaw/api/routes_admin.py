"""Connectors, deliveries, the manifest, the API document, health, readiness and metrics."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from handover_miaw.api.keys import API_DOC, MANIFEST, METRICS, SERVICE, SETTINGS, SIGNAL, STORE
from handover_miaw.api.paging import fetch_page, next_link
from handover_miaw.api.requests import json_body
from handover_miaw.api.responses import json_response
from handover_miaw.api.views import connector_view, delivery_view
from handover_miaw.delivery.targets import control_character_problems
from handover_miaw.errors import (
    InvalidNameError,
    MalformedRequestError,
    NotFoundError,
    SchemaViolationError,
    StateConflictError,
)
from handover_miaw.handovers.ownership import live_handovers
from handover_miaw.logs import DELIVERY_SECRETS, secrets
from handover_miaw.names import connector_name_problem
from handover_miaw.problems import Problem
from handover_miaw.schema import quote
from handover_miaw.settings import Settings
from handover_miaw.store.records import ConnectorRecord, DeliveryState

__all__ = ["check_connector_hosts", "check_connector_targets", "routes"]

routes = web.RouteTableDef()


def check_connector_hosts(settings: Settings, body: dict[str, Any], base: str = "") -> None:
    """Refuse a MIAW base URL outside the host allow-list (loopback only in development mode)."""
    host = urlsplit(body["config"]["baseUrl"]).hostname or ""
    if not settings.base_url_allowed(host):
        allowed = "loopback hosts (development mode)" if settings.insecure_dev else ", ".join(settings.allowed_hosts)
        reason = f"host {host!r} is not allowed for MIAW calls (allowed: {allowed})"
        raise SchemaViolationError([Problem(f"{base}/config/baseUrl", reason)])


def check_connector_targets(settings: Settings, body: dict[str, Any], base: str = "") -> None:
    """Refuse a delivery URL the target policy does not allow (http, an internal address) and any control
    character in a value that becomes a header or a request (a Cognigy apiKey with CR LF made every attempt
    fail); the reasons name the field, never the value."""
    problems = [Problem(f"{base}{pointer}", reason) for pointer, reason in control_character_problems(body)]
    url = body["delivery"].get("url")
    if isinstance(url, str) and not problems:
        refused = settings.delivery_policy().url_problem(url)
        if refused is not None:
            problems.append(Problem(f"{base}/delivery/url", f"the delivery URL {refused}"))
    if problems:
        raise SchemaViolationError(problems)


def connector_record(name: str, body: dict[str, Any]) -> ConnectorRecord:
    """A validated connector body as a record; its secrets are registered for redaction."""
    secrets.add(*(body["delivery"].get(key) for key in DELIVERY_SECRETS))
    return ConnectorRecord(name=name, config=body["config"], delivery=body["delivery"], updated_at=time.time())


def _name(request: web.Request, *, creating: bool = False) -> str:
    # A name outside the rule names nothing that exists (404), and cannot be created (422, with the rule).
    name = request.match_info["name"]
    if (reason := connector_name_problem(name)) is not None:
        if creating:
            raise InvalidNameError(f"connector name {quote(name)} is not allowed: {reason}")
        raise NotFoundError(f"connector {quote(name)} does not exist")
    return name


@routes.put("/v1/connectors/{name}")
async def put_connector(request: web.Request) -> web.Response:
    """Create or replace a connector."""
    name = _name(request, creating=True)
    body = await json_body(request, "putConnector")
    check_connector_hosts(request.app[SETTINGS], body)
    check_connector_targets(request.app[SETTINGS], body)
    store = request.app[STORE]
    existed = await store.get_connector(name) is not None
    record = connector_record(name, body)
    await store.put_connector(record)
    request.app[SERVICE].connectors.changed(name)
    return json_response(connector_view(record), status=200 if existed else 201)


@routes.get("/v1/connectors")
async def list_connectors(request: web.Request) -> web.Response:
    """Connectors by name, a page at a time."""
    page = await fetch_page(request, request.app[STORE].connectors_page)
    return json_response({"connectors": [connector_view(c) for c in page.items], "next": next_link(request, page)})


@routes.get("/v1/connectors/{name}")
async def get_connector(request: web.Request) -> web.Response:
    """One connector."""
    name = _name(request)
    record = await request.app[STORE].get_connector(name)
    if record is None:
        raise NotFoundError(f"connector {name!r} does not exist")
    return json_response(connector_view(record))


@routes.delete("/v1/connectors/{name}")
async def delete_connector(request: web.Request) -> web.Response:
    """Remove a connector that serves no live handover."""
    name = _name(request)
    store = request.app[STORE]
    if await store.get_connector(name) is None:
        raise NotFoundError(f"connector {name!r} does not exist")
    live = [h for h in await live_handovers(store) if h.connector == name]
    if live:
        raise StateConflictError(f"connector {name!r} serves {len(live)} live handover(s)")
    await store.delete_connector(name)
    request.app[SERVICE].connectors.changed(name)
    return web.Response(status=204)


@routes.get("/v1/deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    """Deliveries, oldest first, a page at a time, optionally in one state (`?state=dead`: the dead letters)."""
    state = request.query.get("state")
    if state is not None and state not in {s.value for s in DeliveryState}:
        raise MalformedRequestError(f"unknown state {state!r}", pointer="/state")
    chosen = DeliveryState(state) if state else None
    store = request.app[STORE]
    page = await fetch_page(request, lambda limit, after: store.deliveries_page(chosen, limit, after))
    return json_response({"deliveries": [delivery_view(d) for d in page.items], "next": next_link(request, page)})


@routes.post("/v1/deliveries/{id}/retry")
async def retry_delivery(request: web.Request) -> web.Response:
    """Put a dead delivery back in the outbox."""
    delivery_id = request.match_info["id"]
    store = request.app[STORE]
    if not await store.redrive(delivery_id, time.time()):
        raise NotFoundError(f"no dead delivery {delivery_id!r}")
    request.app[SIGNAL].notify("")
    return json_response({"id": delivery_id, "state": "pending"}, status=202)


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
    store = request.app[STORE]
    if not await store.ping():
        return json_response(
            {"error": {"code": "store_unavailable", "message": "the store does not answer"}}, status=503
        )
    if not await store.probe_write():
        return json_response({"error": {"code": "store_read_only", "message": "the store refuses writes"}}, status=503)
    return json_response({"status": "ready", "store": (await store.durability()).view()})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text."""
    registry = request.app[METRICS]
    for state, count in request.app[SERVICE].live_counts().items():
        registry.handovers.labels(state).set(count)
    # Read at scrape time, so every process on a shared store reports the same figure.
    registry.dead_deliveries.set(await request.app[STORE].count_deliveries(DeliveryState.DEAD))
    return web.Response(body=generate_latest(registry.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
