"""One rule for connector names, in every place a name comes in: creating one through the API answers
422 with the rule (not 404), a start naming a bad one answers 422 with the rule, and nothing is stored."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from handover_miaw.names import CONNECTOR_NAME_RULE

from .conftest import Bot, connector_body

BAD_NAMES = ["Acme", "café", "\u0661", "a b", "-acme", "a" * 64]


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_creating_a_connector_with_a_bad_name_is_422_with_the_rule(bot: Bot, name: str) -> None:
    response = await bot.api.put(f"/v1/connectors/{quote(name)}", json=connector_body(bot.sim_url, bot.receiver))
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "invalid_name"
    assert CONNECTOR_NAME_RULE in error["message"]
    assert (await (await bot.api.get("/v1/connectors")).json())["connectors"] == []


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_reading_a_bad_name_is_404(bot: Bot, name: str) -> None:
    for method in ("GET", "DELETE"):
        response = await bot.api.request(method, f"/v1/connectors/{quote(name)}")
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_starting_with_a_bad_connector_name_is_422_with_the_rule(bot: Bot, name: str) -> None:
    await bot.connector()
    response = await bot.api.post("/v1/handovers", json={"connector": name, "sessionId": "s", "userId": "u"})
    assert response.status == 422
    (problem,) = (await response.json())["error"]["problems"]
    assert problem["pointer"] == "/connector"
    assert problem["message"].endswith(f"is not allowed: {CONNECTOR_NAME_RULE}")
    assert (await (await bot.api.get("/v1/handovers")).json())["handovers"] == []


async def test_the_api_document_states_the_rule(bot: Bot) -> None:
    document = await (await bot.api.get("/v1/openapi.json")).json()
    name = document["components"]["schemas"]["ConnectorName"]
    assert name["description"] == CONNECTOR_NAME_RULE
    assert name["pattern"] == "^[a-z0-9][a-z0-9_-]{0,62}$"
