"""Fixtures: the simulator and a delivery receiver on real loopback HTTP, and a doctor run against them.

Layered: `sim` → `sim_url`; `receiver`; `connector` (a valid connector body aimed at both) → `doctor`
(runs every check and returns the report). A test breaks one thing and reads one line.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from handover_miaw.api.openapi import ApiDocument
from handover_miaw.delivery.envelope import SIGNATURE_HEADER, verify
from handover_miaw.doctor import DoctorInput, DoctorOptions, Report, run_doctor
from handover_miaw.doctor.report import Finding
from handover_miaw.manifest import Manifest
from handover_miaw.settings import Settings

ORG_ID = "00D000000000001"
DEPLOYMENT = "Bot_Handover_Custom"
SECRET = "whsec_doctor_0123456789"
COGNIGY_KEY = "cognigy-key-0123456789"

Doctor = Callable[..., Awaitable[Report]]


@dataclass
class Receiver:
    """A bot platform's receiver: checks webhook signatures (401 when wrong) and Cognigy API keys."""

    url: str = ""
    pings: list[dict[str, Any]] = field(default_factory=list)

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify(SECRET, body, request.headers.get(SIGNATURE_HEADER, ""), time.time())
        except ValueError:
            return web.Response(status=401)
        self.pings.append(await request.json())
        return web.Response(status=204)

    async def notify(self, request: web.Request) -> web.Response:
        if request.headers.get("X-API-Key") != COGNIGY_KEY:
            return web.json_response({"error": "unauthorized"}, status=401)
        self.pings.append(await request.json())
        return web.json_response({"ok": True})


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Receiver:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.hook)
    app.router.add_post("/new/v2.0/endpoint/notify", receiver.notify)
    server: TestServer = await aiohttp_server(app)
    receiver.url = str(server.make_url("")).rstrip("/")
    return receiver


@pytest.fixture
def connector(sim_url: str, receiver: Receiver) -> dict[str, Any]:
    """A correct connector: the simulator's deployment, deliveries to the receiver's webhook."""
    return {
        "config": {"baseUrl": sim_url, "organizationId": ORG_ID, "esDeveloperName": DEPLOYMENT},
        "delivery": {"format": "webhook", "url": f"{receiver.url}/hook", "secret": SECRET},
    }


@pytest.fixture
def settings() -> Settings:
    return Settings(insecure_dev=True)


@pytest.fixture
def doctor(connector: dict[str, Any], settings: Settings, manifest: Manifest) -> Doctor:
    """Run the doctor on `connector` (as changed by the test) with the given node settings and options."""
    api = ApiDocument(manifest)

    async def run(
        *,
        nodes: tuple[tuple[str, dict[str, Any]], ...] = (),
        identity_token: str | None = None,
        check_timeout_s: float = 5.0,
        total_timeout_s: float = 30.0,
        ca_file: Path | None = None,
        doctor_settings: Settings | None = None,
    ) -> Report:
        doctor_input = DoctorInput("acme", connector, nodes=nodes, identity_token=identity_token)
        options = DoctorOptions(doctor_settings or settings, check_timeout_s, total_timeout_s, ca_file)
        return await run_doctor(doctor_input, options, manifest, api)

    return run


def line(report: Report, key: str) -> Finding:
    """The finding of one check."""
    return next(r.finding for r in report.results if r.key == key)
