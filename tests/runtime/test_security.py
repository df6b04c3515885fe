"""Nobody let in: API keys, where MIAW calls may go, no redirects followed, no secret in an error body."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from handover_miaw.api.app_keys import HANDOVERS
from handover_miaw.api.openapi import ApiDocument
from handover_miaw.manifest import load_manifest
from handover_miaw.settings import Settings

from .conftest import API_KEY, ORG_ID, SECRET, Bot, Factory

IDENTITY = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2VjcmV0LWlkZW50aXR5LXNpZ25hdHVyZQ"
UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "a valid API key is required"}}


def _operations() -> list[tuple[str, str]]:
    document = ApiDocument(load_manifest()).document
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "delete"} and operation.get("security", document["security"]):
                concrete = path.replace("{id}", "ho_00000000000000000000000000000000").replace("{name}", "acme")
                found.append((method.upper(), concrete))
    return found


@pytest.fixture
async def strict(start_runtime: Factory, sim_url: str) -> TestClient[Any, Any]:
    return await start_runtime(insecure_dev=False)


@pytest.mark.parametrize(("method", "path"), _operations())
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key-0123456789", API_KEY, f"Basic {API_KEY}"])
async def test_every_v1_operation_needs_the_key_and_says_nothing_more(
    strict: TestClient[Any, Any], method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await strict.request(method, path, headers=headers, json={"anything": API_KEY})
    assert response.status == 401
    assert await response.json() == UNAUTHORIZED
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("host", "dev", "allowed"),
    [
        ("acme.my.salesforce-scrt.com", False, True),
        ("acme.sandbox.my.salesforce-scrt.com", False, True),
        ("ACME.MY.SALESFORCE-SCRT.COM.", False, True),
        ("my.salesforce-scrt.com.evil.example", False, False),
        ("evilmy.salesforce-scrt.com", False, False),
        ("sfdc-scrt.com", False, False),
        ("acme.example.com", False, False),
        ("127.0.0.1", False, False),
        ("localhost", False, False),
        ("127.0.0.1", True, True),
        ("::1", True, True),
    ],
)
def test_host_allow_list(host: str, dev: bool, allowed: bool) -> None:
    assert Settings(insecure_dev=dev).base_url_allowed(host) is allowed


async def test_loopback_and_plain_http_base_urls_are_refused_outside_dev_mode(
    strict: TestClient[Any, Any], sim_url: str
) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    for base_url in (sim_url, "http://acme.my.salesforce-scrt.com"):
        body = {
            "config": {"baseUrl": base_url, "organizationId": ORG_ID, "esDeveloperName": "B"},
            "delivery": {"format": "sse"},
        }
        response = await strict.put("/v1/connectors/x", json=body, headers=headers)
        assert response.status == 422
        assert {p["pointer"] for p in (await response.json())["error"]["problems"]} == {"/config/baseUrl"}


async def test_a_miaw_redirect_is_never_followed(bot: Bot, aiohttp_server: Any) -> None:
    trap_hits: list[dict[str, str]] = []

    async def trap(request: web.Request) -> web.Response:
        trap_hits.append(dict(request.headers))
        return web.json_response({"accessToken": "x"})

    trap_app = web.Application()
    trap_app.router.add_route("*", "/{tail:.*}", trap)
    trap_server: TestServer = await aiohttp_server(trap_app)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(str(trap_server.make_url(request.path_qs)))

    redirector = web.Application()
    redirector.router.add_route("*", "/{tail:.*}", redirect)
    redirect_server: TestServer = await aiohttp_server(redirector)
    body = {
        "config": {
            "baseUrl": str(redirect_server.make_url("")).rstrip("/"),
            "organizationId": ORG_ID,
            "esDeveloperName": "Bot_Handover_Custom",
        },
        "delivery": {"format": "webhook", "url": f"{bot.receiver.url}/hook", "secret": SECRET},
    }
    assert (await bot.api.put("/v1/connectors/moved", json=body)).status == 201
    response = await bot.api.post("/v1/handovers", json={"connector": "moved", "sessionId": "s", "userId": "u"})
    assert response.status == 502
    assert (await response.json())["error"]["code"] == "upstream_refused"
    assert trap_hits == []


async def test_no_secret_in_any_error_body(bot: Bot) -> None:
    await bot.connector()
    bodies: list[str] = []

    async def call(method: str, path: str, body: Any) -> None:
        response = await bot.api.request(method, path, json=body)
        assert response.status >= 400, (path, response.status)
        bodies.append(await response.text())

    too_short = "whsec_shortone"  # under the 16 characters a webhook secret needs
    cognigy_key = "cognigy-key-" + "k" * 300  # over the 256 allowed
    await call(
        "PUT",
        "/v1/connectors/bad",
        {
            "config": {"baseUrl": bot.sim_url, "organizationId": ORG_ID, "esDeveloperName": "B"},
            "delivery": {"format": "webhook", "url": "https://hooks.example.com", "secret": too_short},
        },
    )
    await call(
        "PUT",
        "/v1/connectors/bad",
        {
            "config": {"baseUrl": bot.sim_url, "organizationId": ORG_ID, "esDeveloperName": "B"},
            "delivery": {"format": "cognigy", "url": "https://c.example.com", "urlToken": "t", "apiKey": cognigy_key},
        },
    )
    await call(
        "POST",
        "/v1/handovers",
        {"connector": "acme", "sessionId": "s", "userId": "u", "settings": {"identityToken": 12345, "bogus": IDENTITY}},
    )
    await call(
        "POST",
        "/v1/handovers",
        {"connector": "acme", "sessionId": "s", "userId": "u", "settings": {"identityToken": [IDENTITY]}},
    )
    handover = await bot.start(settings={"useIdentityToken": True, "identityToken": IDENTITY})
    hid = handover["id"]
    record = await bot.api.app[HANDOVERS].store.get_handover(hid)
    assert record is not None
    assert record.access_token
    bot.sim.expire_tokens()
    await call("POST", f"/v1/handovers/{hid}/messages", {"id": "m", "text": "after expiry"})
    await call("POST", f"/v1/handovers/{hid}/identity", {"identityToken": IDENTITY})
    joined = "\n".join(bodies)
    for secret in (too_short, cognigy_key, IDENTITY, SECRET, API_KEY, record.access_token):
        assert secret not in joined
    # Messages about a secret field never quote its value: they name the field and the rule instead.
    assert "/delivery/secret: the value is shorter than 16 characters" in joined, joined
    assert "/delivery/apiKey: the value is longer than 256 characters" in joined, joined
    for body in bodies:
        assert set(orjson.loads(body)) == {"error"}
