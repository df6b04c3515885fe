"""/v1/deliveries: the outbox as operators see it, and the re-drive of dead letters."""

from __future__ import annotations

from aiohttp import web

from handover_miaw.api.app_keys import HANDOVERS
from handover_miaw.api.paging import fetch_page, next_link
from handover_miaw.api.responses import json_response
from handover_miaw.api.views import delivery_view
from handover_miaw.errors import MalformedRequestError
from handover_miaw.store.records import DeliveryState

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/v1/deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    """Deliveries, oldest first, a page at a time, optionally in one state (`?state=dead`: the dead letters)
    and of one handover (`?handover=`: read off its own index; the Operations timeline read every page of
    every handover's to find one's)."""
    state = request.query.get("state")
    if state is not None and state not in {s.value for s in DeliveryState}:
        raise MalformedRequestError(f"unknown state {state!r}", pointer="/state")
    chosen = DeliveryState(state) if state else None
    handovers = request.app[HANDOVERS]
    handover_id = request.query.get("handover")
    if handover_id is not None:
        page = await fetch_page(
            request, lambda limit, after: handovers.handover_deliveries_page(handover_id, chosen, limit, after)
        )
    else:
        page = await fetch_page(request, lambda limit, after: handovers.deliveries_page(chosen, limit, after))
    return json_response({"deliveries": [delivery_view(d) for d in page.items], "next": next_link(request, page)})


@routes.post("/v1/deliveries/{id}/retry")
async def retry_delivery(request: web.Request) -> web.Response:
    """Put a dead delivery back in the outbox."""
    delivery_id = request.match_info["id"]
    await request.app[HANDOVERS].redrive(delivery_id)
    return json_response({"id": delivery_id, "state": "pending"}, status=202)
