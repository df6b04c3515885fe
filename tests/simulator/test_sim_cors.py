"""CORS as MIAW answers a browser client: preflights on every route, the origin on every real response.

The control routes answer fewer origins: tests/simulator/test_sim_control_cors.py."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from handover_miaw.simulator import Simulator, SimulatorConfig, create_app

from .simhelpers import API, ORG, Api, new_id

PAGE = "https://chat.example.com"
BROWSER_HEADERS = "authorization, content-type, x-org-id, last-event-id, cache-control"


async def preflight(client: TestClient[Any, Any], path: str, method: str, origin: str = PAGE) -> Any:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": BROWSER_HEADERS,
    }
    return await client.options(path, headers=headers)


@pytest.mark.parametrize(
    ("path", "method", "methods"),
    [
        (f"{API}/authorization/unauthenticated/access-token", "POST", "POST"),
        (f"{API}/conversation", "POST", "POST"),
        (f"{API}/conversation/{new_id()}", "DELETE", "DELETE, GET"),
        (f"{API}/conversation/{new_id()}/message", "POST", "POST"),
        (f"{API}/conversation/{new_id()}/entries", "GET", "GET"),
        (f"{API}/authorization/authenticated/access-token", "DELETE", "DELETE, POST"),
        ("/eventrouter/v1/sse", "GET", "GET"),
        ("/embeddedservice/v1/embedded-service-config", "GET", "GET"),
    ],
)
async def test_preflight_answers_every_route(
    client: TestClient[Any, Any], path: str, method: str, methods: str
) -> None:
    resp = await preflight(client, path, method)
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == PAGE
    assert resp.headers["Access-Control-Allow-Methods"] == methods
    assert resp.headers["Access-Control-Allow-Headers"] == BROWSER_HEADERS
    assert "Origin" in resp.headers.getall("Vary")


async def test_preflight_of_conversation_list_is_the_list_route(client: TestClient[Any, Any]) -> None:
    # The {conversationId} route also matches "list"; its DELETE must not leak into the answer.
    resp = await preflight(client, f"{API}/conversation/list", "GET")
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Methods"] == "GET"
    assert resp.headers["Allow"] == "GET, OPTIONS"


async def test_plain_options_names_the_path_s_methods(client: TestClient[Any, Any]) -> None:
    resp = await client.options(f"{API}/conversation/list")
    assert resp.status == 204
    assert resp.headers["Allow"] == "GET, OPTIONS"
    assert "Access-Control-Allow-Methods" not in resp.headers


async def test_preflight_is_not_logged_or_faulted(client: TestClient[Any, Any], sim: Simulator) -> None:
    sim.fail_next("create_conversation", 503)
    assert (await preflight(client, f"{API}/conversation", "POST")).status == 204
    assert sim.calls == []
    assert "create_conversation" in sim.faults.http


async def test_unknown_path_preflight_is_404_with_the_origin(client: TestClient[Any, Any]) -> None:
    resp = await preflight(client, "/nowhere", "GET")
    assert resp.status == 404
    assert resp.headers["Access-Control-Allow-Origin"] == PAGE


async def test_real_responses_carry_the_origin_errors_included(api: Api) -> None:
    origin = {"Origin": PAGE}
    token = (await api.token_response())["accessToken"]
    ok = await api.client.get(f"{API}/conversation/list", headers={**api.auth(token), **origin})
    assert ok.status == 200
    assert ok.headers["Access-Control-Allow-Origin"] == PAGE
    unauthorized = await api.client.get(f"{API}/conversation/list", headers=origin)
    assert unauthorized.status == 401
    assert unauthorized.headers["Access-Control-Allow-Origin"] == PAGE
    not_found = await api.client.get("/nowhere", headers=origin)
    assert not_found.status == 404
    assert not_found.headers["Access-Control-Allow-Origin"] == PAGE
    no_origin = await api.client.get(f"{API}/conversation/list", headers=api.auth(token))
    assert "Access-Control-Allow-Origin" not in no_origin.headers


async def test_the_event_stream_carries_the_origin(api: Api) -> None:
    token = await api.token()
    headers = {**api.auth(token), "X-Org-Id": ORG, "Last-Event-Id": "0", "Origin": PAGE}
    resp = await api.client.get("/eventrouter/v1/sse", headers=headers)
    try:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == PAGE
    finally:
        resp.close()


async def test_injected_faults_carry_the_origin(api: Api, sim: Simulator) -> None:
    sim.fail_next("access_token", 429, retry_after=2)
    body = {"orgId": ORG, "esDeveloperName": "Bot_Handover_Custom", "capabilitiesVersion": "1", "platform": "Web"}
    path = f"{API}/authorization/unauthenticated/access-token"
    resp = await api.client.post(path, json=body, headers={"Origin": PAGE})
    assert resp.status == 429
    assert resp.headers["Access-Control-Allow-Origin"] == PAGE


async def test_an_origin_allow_list(aiohttp_client: Any) -> None:
    sim = Simulator(SimulatorConfig(cors_origins=frozenset({PAGE})))
    client: TestClient[Any, Any] = await aiohttp_client(create_app(sim))
    assert (await preflight(client, f"{API}/conversation", "POST")).status == 204
    refused = await preflight(client, f"{API}/conversation", "POST", origin="https://evil.example.net")
    assert refused.status == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
    other = await client.get(f"{API}/conversation/list", headers={"Origin": "https://evil.example.net"})
    assert other.status == 401
    assert "Access-Control-Allow-Origin" not in other.headers
    mine = await client.get(f"{API}/conversation/list", headers={"Origin": PAGE})
    assert mine.headers["Access-Control-Allow-Origin"] == PAGE
