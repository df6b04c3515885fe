"""``/_sim`` routes that change the deployment and the server clock, so every `handover-miaw doctor` check
can be made to fail: the deployment type, whether it is published, its pre-chat fields and languages
(``/_sim/deployment``), and a skewed ``Date`` header (``/_sim/faults/clock-skew``).
"""

from __future__ import annotations

import dataclasses
import time
from email.utils import formatdate
from typing import Any

from aiohttp import web

from .config import FormField, SimulatorConfig
from .faults import ENDPOINTS
from .httputil import SIMULATOR_KEY, json_response, read_control_json, simulator
from .validation import array, boolean, number, obj, string, validate

__all__ = ["deployment_view", "routes", "skew_date"]

_FIELD = obj({"name": string()}, {"type": string(), "required": boolean(), "hidden": boolean()})
_DEPLOYMENT = obj(
    {},
    {
        "deploymentType": string(),
        "published": boolean(),
        "preChatFields": array(_FIELD),
        "languages": array(string()),
    },
)
_SKEW = obj({"seconds": number(minimum=-1e9)})


def deployment_view(config: SimulatorConfig) -> dict[str, Any]:
    """The deployment knobs as the control API shows and takes them."""
    return {
        "deploymentType": config.deployment_type,
        "published": config.published,
        "preChatFields": [
            {"name": f.name, "type": f.type, "required": f.required, "hidden": f.hidden} for f in config.pre_chat_fields
        ],
        "languages": list(config.languages),
    }


async def get_deployment(request: web.Request) -> web.Response:
    """The deployment as MIAW currently describes it."""
    return json_response(deployment_view(simulator(request).config))


async def set_deployment(request: web.Request) -> web.Response:
    """Change any of the deployment knobs; the ones left out keep their value."""
    body = await read_control_json(request)
    validate(body, _DEPLOYMENT)
    sim = simulator(request)
    changes: dict[str, Any] = {}
    if "deploymentType" in body:
        changes["deployment_type"] = body["deploymentType"]
    if "published" in body:
        changes["published"] = body["published"]
    if "preChatFields" in body:
        changes["pre_chat_fields"] = tuple(
            FormField(f["name"], f.get("type", "Text"), f.get("required", False), f.get("hidden", False))
            for f in body["preChatFields"]
        )
    if "languages" in body:
        changes["languages"] = tuple(body["languages"])
    sim.config = dataclasses.replace(sim.config, **changes)
    return json_response(deployment_view(sim.config))


async def clock_skew(request: web.Request) -> web.Response:
    """Make the ``Date`` header of MIAW answers run ``seconds`` ahead (negative: behind)."""
    body = await read_control_json(request)
    validate(body, _SKEW)
    simulator(request).faults.date_skew_s = float(body["seconds"])
    return json_response({"ok": True})


async def skew_date(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: rewrite the ``Date`` of MIAW answers while a skew is set."""
    skew = request.app[SIMULATOR_KEY].faults.date_skew_s
    if skew and request.match_info.route.name in ENDPOINTS:
        response.headers["Date"] = formatdate(time.time() + skew, usegmt=True)


def routes() -> list[web.RouteDef]:
    """The deployment and clock routes (named ``sim_*`` so faults and the call log skip them)."""
    return [
        web.get("/_sim/deployment", get_deployment, name="sim_deployment"),
        web.post("/_sim/deployment", set_deployment, name="sim_set_deployment"),
        web.post("/_sim/faults/clock-skew", clock_skew, name="sim_fault_clock_skew"),
    ]
