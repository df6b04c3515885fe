"""/v1/connectors: create or replace, list, read, delete."""

from __future__ import annotations

from aiohttp import web

from handover_miaw.api.app_keys import HANDOVERS, SETTINGS
from handover_miaw.api.connector_checks import check_connector_hosts, check_connector_targets
from handover_miaw.api.paging import fetch_page, next_link
from handover_miaw.api.requests import json_body
from handover_miaw.api.responses import json_response
from handover_miaw.api.views import connector_view
from handover_miaw.errors import InvalidNameError, NotFoundError
from handover_miaw.names import connector_name_problem
from handover_miaw.schema import quote

__all__ = ["connector_name", "routes"]

routes = web.RouteTableDef()


def connector_name(request: web.Request, *, creating: bool = False) -> str:
    """The connector name of the path; a name outside the rule names nothing that exists (404), and cannot be
    created (422, with the rule)."""
    name = request.match_info["name"]
    if (reason := connector_name_problem(name)) is not None:
        if creating:
            raise InvalidNameError(f"connector name {quote(name)} is not allowed: {reason}")
        raise NotFoundError(f"connector {quote(name)} does not exist")
    return name


@routes.put("/v1/connectors/{name}")
async def put_connector(request: web.Request) -> web.Response:
    """Create or replace a connector."""
    name = connector_name(request, creating=True)
    body = await json_body(request, "putConnector")
    check_connector_hosts(request.app[SETTINGS], body)
    check_connector_targets(request.app[SETTINGS], body)
    record, created = await request.app[HANDOVERS].put_connector(name, body)
    return json_response(connector_view(record), status=201 if created else 200)


@routes.get("/v1/connectors")
async def list_connectors(request: web.Request) -> web.Response:
    """Connectors by name, a page at a time."""
    page = await fetch_page(request, request.app[HANDOVERS].connectors_page)
    return json_response({"connectors": [connector_view(c) for c in page.items], "next": next_link(request, page)})


@routes.get("/v1/connectors/{name}")
async def get_connector(request: web.Request) -> web.Response:
    """One connector."""
    return json_response(connector_view(await request.app[HANDOVERS].connector(connector_name(request))))


@routes.delete("/v1/connectors/{name}")
async def delete_connector(request: web.Request) -> web.Response:
    """Remove a connector that serves no live handover."""
    await request.app[HANDOVERS].delete_connector(connector_name(request))
    return web.Response(status=204)
