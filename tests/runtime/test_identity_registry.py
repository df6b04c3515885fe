"""Identity tokens in the log redactor's registry: registered while in use, forgotten when done, and only
when shaped like one. The registry redacts a registered value from every later line of the process, so a
caller's `"handover"` sent as an identity token blinded every line with that word in it (logger names and
events), and every authenticated handover's identity token stayed registered for the life of the process
(its ending write had erased it from the settings it was read back from)."""

from __future__ import annotations

from handover_miaw.logs import secrets

from .conftest import Bot

IDENTITY = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.aWRlbnRpdHktb25l"
FRESH_IDENTITY = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.aWRlbnRpdHktdHdv"


async def test_an_identity_token_is_registered_while_its_handover_lives_and_forgotten_at_its_end(bot: Bot) -> None:
    await bot.connector()
    handover = await bot.start(settings={"useIdentityToken": True, "identityToken": IDENTITY})
    assert IDENTITY in secrets
    response = await bot.api.delete(f"/v1/handovers/{handover['id']}")
    assert response.status == 200, await response.text()
    assert IDENTITY not in secrets


async def test_a_fresh_identity_token_is_forgotten_once_used(bot: Bot) -> None:
    await bot.connector()
    handover = await bot.start(settings={"useIdentityToken": True, "identityToken": IDENTITY})
    response = await bot.api.post(f"/v1/handovers/{handover['id']}/identity", json={"identityToken": FRESH_IDENTITY})
    assert response.status == 200, await response.text()
    assert FRESH_IDENTITY not in secrets
    assert IDENTITY in secrets  # the stored one, still the handover's


async def test_what_is_not_shaped_like_a_token_is_not_registered(bot: Bot) -> None:
    await bot.connector()
    for value in ("handover", "handover_miaw.handovers.engine", "127.0.0.1"):
        await bot.api.post(
            "/v1/handovers",
            json={"connector": "acme", "sessionId": value, "userId": "u", "settings": {"identityToken": value}},
        )
        await bot.api.post("/v1/connectors/acme/check", json={"identityToken": value})
        assert value not in secrets, value
