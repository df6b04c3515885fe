"""Development mode answers its API only for localhost, IP addresses and the names it is given: a page that
another site pointed at the runtime through DNS (rebinding) names that site in `Host` and is refused before
anything is read or started. Public paths are served for any name; with API keys the key is the guard."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from handover_miaw.simulator import Simulator

from .conftest import API_KEY, Factory

REBOUND = "rebound.example:8080"


async def _refused(client: TestClient[Any, Any], method: str, path: str, **kwargs: Any) -> None:
    async with client.request(method, path, headers={"Host": REBOUND, **kwargs.pop("headers", {})}, **kwargs) as r:
        assert r.status == 403
        error = (await r.json())["error"]
    assert error["code"] == "forbidden"
    assert error["pointer"] == "/Host"
    assert "'rebound.example'" in error["message"]
    assert "--dev-hosts" in error["message"]


async def test_a_rebound_name_is_refused_and_starts_nothing(start_runtime: Factory, sim: Simulator) -> None:
    client = await start_runtime(insecure_dev=True)
    await _refused(client, "GET", "/v1/handovers")
    await _refused(client, "POST", "/v1/handovers", json={"connector": "acme", "sessionId": "s", "userId": "u"})
    await _refused(client, "PUT", "/v1/connectors/acme", json={})
    assert sim.store.conversations == {}
    async with client.get("/v1/connectors") as listed:
        assert listed.status == 200
        assert (await listed.json())["connectors"] == []


async def test_loopback_names_and_addresses_are_served(start_runtime: Factory) -> None:
    client = await start_runtime(insecure_dev=True)
    for host in ("localhost:8080", "app.localhost", "127.0.0.1:8080", "[::1]:8080", "192.168.1.20"):
        async with client.get("/v1/handovers", headers={"Host": host}) as response:
            assert response.status == 200, host


async def test_names_given_with_dev_hosts_are_served(start_runtime: Factory) -> None:
    client = await start_runtime(insecure_dev=True, dev_hosts=("runtime", ".dev.example"))
    for host in ("runtime:8080", "chat.dev.example"):
        async with client.get("/v1/handovers", headers={"Host": host}) as response:
            assert response.status == 200, host
    await _refused(client, "GET", "/v1/handovers")


async def test_public_paths_are_served_for_any_name(start_runtime: Factory) -> None:
    client = await start_runtime(insecure_dev=True)
    for path in ("/healthz", "/v1/openapi.json", "/ui/"):
        async with client.get(path, headers={"Host": REBOUND}) as response:
            assert response.status == 200, path


async def test_with_api_keys_the_key_is_the_guard(start_runtime: Factory) -> None:
    client = await start_runtime(insecure_dev=False)
    async with client.get("/v1/handovers", headers={"Host": REBOUND}) as refused:
        assert refused.status == 401
    headers = {"Host": REBOUND, "Authorization": f"Bearer {API_KEY}"}
    async with client.get("/v1/handovers", headers=headers) as response:
        assert response.status == 200
