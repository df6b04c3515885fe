"""`POST /v1/connectors/{name}/check`: the doctor on a stored connector, with its stored secrets.

The same `run_doctor` as `handover-miaw doctor`; the answer is its JSON report (200 whenever the checks
ran, whatever they found). The sample identity token is registered for redaction before anything runs.
"""

from __future__ import annotations

from aiohttp import web

from handover_miaw.api.app_keys import API_DOC, HANDOVERS, MANIFEST, SETTINGS
from handover_miaw.api.requests import json_body
from handover_miaw.api.responses import json_response
from handover_miaw.api.routes_connectors import connector_name
from handover_miaw.doctor import DoctorInput, DoctorOptions, report_to_json, run_doctor
from handover_miaw.logs import secrets

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.post("/v1/connectors/{name}/check")
async def check_connector(request: web.Request) -> web.Response:
    """Run the seven checks on one connector."""
    name = connector_name(request)
    body = await json_body(request, "checkConnector") if request.body_exists else {}
    identity_token = body.get("identityToken")
    secrets.add_supplied(identity_token)
    record = await request.app[HANDOVERS].connector(name)
    nodes = tuple((f"nodeSettings/{index}", settings) for index, settings in enumerate(body.get("nodeSettings", [])))
    doctor_input = DoctorInput(
        name, {"config": record.config, "delivery": record.delivery}, nodes=nodes, identity_token=identity_token
    )
    settings = request.app[SETTINGS]
    options = DoctorOptions(settings, check_timeout_s=settings.miaw_timeout_s)
    report = await run_doctor(doctor_input, options, request.app[MANIFEST], request.app[API_DOC])
    return json_response(report_to_json(report))
