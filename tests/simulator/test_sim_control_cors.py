"""CORS of the control routes (``/_sim``, the benchmarks' ``/_bench``): MIAW's routes answer every origin by
default, but only a page on this machine, or one allowed for control, may drive the simulator cross-origin;
any other page gets a 403 preflight, and its calls are refused without ``Access-Control-Allow-Origin``."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from handover_miaw.cli import _parser
from handover_miaw.simulator import Simulator, SimulatorConfig, create_app
from handover_miaw.simulator_command import config_options

from .simhelpers import API, new_id
from .test_sim_cors import preflight

FOREIGN = "https://evil.example.net"
LOOPBACK = ("http://127.0.0.1:5173", "http://localhost:3000", "https://localhost", "http://[::1]:8080")
LOOKALIKES = (
    "http://localhost.evil.example.net",
    "http://127.0.0.1.nip.io",
    "http://evil.example.net:80#@localhost",
    "http://user@localhost:3000",
    "http://localhost:3000/",
    "file://localhost",
    "null",
)
FAULT = {"endpoint": "send_message", "status": 503}
BENCH_CALLS: web.AppKey[list[str]] = web.AppKey("bench_calls")
CONTROL_ROUTES = [
    (f"/_sim/conversations/{new_id()}/end", "POST", "POST"),
    ("/_sim/faults/http", "POST", "POST"),
    ("/_sim/faults", "DELETE", "DELETE"),
    ("/_sim/status", "GET", "GET"),
    ("/_bench/emit", "POST", "GET, POST"),
]


async def _client(aiohttp_client: Any, sim: Simulator) -> TestClient[Any, Any]:
    """The simulator's app plus a ``/_bench`` route as bench/_sim.py adds them (it parses the body whatever
    its type); ``BENCH_CALLS`` holds the calls that reached it."""
    app = create_app(sim)
    calls: list[str] = []

    async def emit(request: web.Request) -> web.Response:
        calls.append(request.method)
        return web.json_response({"started": True})

    app.add_routes([web.post("/_bench/emit", emit), web.get("/_bench/emit", emit)])
    app[BENCH_CALLS] = calls
    client: TestClient[Any, Any] = await aiohttp_client(app)
    return client


@pytest.fixture
async def control_client(aiohttp_client: Any, sim: Simulator) -> TestClient[Any, Any]:
    return await _client(aiohttp_client, sim)


@pytest.mark.parametrize(("path", "method", "methods"), CONTROL_ROUTES)
async def test_a_foreign_page_s_preflight_is_403_naming_the_origin(
    control_client: TestClient[Any, Any], path: str, method: str, methods: str
) -> None:
    # MIAW's own routes still answer the page, as a browser client on any dev origin needs.
    miaw = await preflight(control_client, f"{API}/conversation", "POST", origin=FOREIGN)
    assert miaw.status == 204
    assert miaw.headers["Access-Control-Allow-Origin"] == FOREIGN
    refused = await preflight(control_client, path, method, origin=FOREIGN)
    assert refused.status == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert "Access-Control-Allow-Methods" not in refused.headers
    body = await refused.json()
    assert body["code"] == "ORIGIN_NOT_ALLOWED"
    assert f"Origin {FOREIGN} is not allowed on {path}" in body["message"]
    assert "loopback" in body["message"]
    assert "--control-origin" in body["message"]


async def test_only_loopback_pages_pass_by_default(control_client: TestClient[Any, Any]) -> None:
    for path, method, methods in CONTROL_ROUTES:
        for origin in LOOPBACK:
            resp = await preflight(control_client, path, method, origin=origin)
            assert resp.status == 204, (path, origin)
            assert resp.headers["Access-Control-Allow-Origin"] == origin
            assert resp.headers["Access-Control-Allow-Methods"] == methods
        for origin in LOOKALIKES:
            resp = await preflight(control_client, path, method, origin=origin)
            assert resp.status == 403, (path, origin)
            assert "Access-Control-Allow-Origin" not in resp.headers


async def test_a_loopback_page_drives_the_simulator(control_client: TestClient[Any, Any], sim: Simulator) -> None:
    for origin in LOOPBACK:
        resp = await control_client.post("/_sim/faults/http", json=FAULT, headers={"Origin": origin})
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == origin
    assert sim.faults.http["send_message"]
    refused = await control_client.post("/_sim/faults/http", json=FAULT, headers={"Origin": LOOKALIKES[0]})
    assert refused.status == 403


async def test_a_foreign_page_s_calls_are_refused(control_client: TestClient[Any, Any], sim: Simulator) -> None:
    page = {"Origin": FOREIGN}
    fault = await control_client.post("/_sim/faults/http", json=FAULT, headers=page)
    assert fault.status == 403
    assert "Access-Control-Allow-Origin" not in fault.headers
    assert (await fault.json())["code"] == "ORIGIN_NOT_ALLOWED"
    assert sim.faults.http == {}
    status = await control_client.get("/_sim/status", headers=page)
    assert status.status == 403
    assert "Access-Control-Allow-Origin" not in status.headers
    # A text/plain POST needs no preflight, and the bench route parses it anyway: the call itself is refused.
    bench = await control_client.post(
        "/_bench/emit", data='{"count": 1}', headers={**page, "Content-Type": "text/plain"}
    )
    assert bench.status == 403
    assert "Access-Control-Allow-Origin" not in bench.headers
    assert control_client.server.app[BENCH_CALLS] == []
    # The same page keeps MIAW's routes; scripts (no Origin) keep the control routes.
    miaw = await control_client.get(f"{API}/conversation/list", headers=page)
    assert miaw.status == 401
    assert miaw.headers["Access-Control-Allow-Origin"] == FOREIGN
    assert (await control_client.get("/_sim/status")).status == 200
    assert (await control_client.post("/_bench/emit")).status == 200


async def test_control_origins_widen_the_control_routes_only(aiohttp_client: Any) -> None:
    devbox = "http://devbox.lan:3000"
    page = "https://chat.example.com"
    config = SimulatorConfig(cors_origins=frozenset({page}), control_origins=frozenset({devbox}))
    client = await _client(aiohttp_client, Simulator(config))
    allowed = await preflight(client, "/_sim/faults/http", "POST", origin=devbox)
    assert allowed.status == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == devbox
    call = await client.post("/_sim/faults/http", json=FAULT, headers={"Origin": devbox})
    assert call.status == 200
    assert call.headers["Access-Control-Allow-Origin"] == devbox
    assert (await preflight(client, "/_sim/faults/http", "POST", origin=LOOPBACK[0])).status == 204
    # MIAW's allow-list is not the control routes' one, either way.
    assert (await preflight(client, f"{API}/conversation", "POST", origin=page)).status == 204
    assert (await preflight(client, "/_sim/faults/http", "POST", origin=page)).status == 403
    assert (await preflight(client, f"{API}/conversation", "POST", origin=devbox)).status == 403


async def test_the_control_origin_flag(aiohttp_client: Any) -> None:
    devbox = "http://devbox.lan:3000"
    args = _parser().parse_args(["simulator", "--control-origin", devbox, "--control-origin", "https://qa.lan"])
    options = config_options(args)
    assert options["control_origins"] == frozenset({devbox, "https://qa.lan"})
    assert options["cors_origins"] is None
    client = await _client(aiohttp_client, Simulator(SimulatorConfig(**options)))
    assert (await preflight(client, "/_sim/status", "GET", origin=devbox)).status == 204
    assert (await preflight(client, "/_sim/status", "GET", origin=FOREIGN)).status == 403
    assert config_options(_parser().parse_args(["simulator"]))["control_origins"] == frozenset()
