"""A whole handover with DEBUG logging: no access token, identity token, API key or webhook secret in any line."""

from __future__ import annotations

import io

from handover_miaw.api.app_keys import HANDOVERS
from tests.waiting import wait_for

from .conftest import API_KEY, SECRET, Bot

IDENTITY = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4iLCJleHAiOjQxMDI0NDQ4MDB9.aWRlbnRpdHktc2lnbmF0dXJl"


async def test_no_secret_in_any_log_line(log_output: io.StringIO, bot: Bot) -> None:
    await bot.connector()
    handover = await bot.start(settings={"useIdentityToken": True, "identityToken": IDENTITY})
    hid, cid = handover["id"], handover["conversationId"]
    record = await bot.api.app[HANDOVERS].store.get_handover(hid)
    assert record is not None
    assert record.access_token  # read while live: an ended handover's tokens are erased
    await bot.sim.accept(cid, agent="Maria")
    await bot.sim.send_text(cid, "hello")
    await bot.api.post(f"/v1/handovers/{hid}/messages", json={"id": "m1", "text": "hi"})
    await wait_for(lambda: len(bot.receiver.of_type("agent.message", hid)) == 1, "the agent message")
    bot.sim.expire_tokens()
    response = await bot.api.post(f"/v1/handovers/{hid}/messages", json={"id": "m2", "text": "after expiry"})
    assert response.status == 409
    await bot.wait_state(hid, "ended")
    text = log_output.getvalue()
    assert len(text.splitlines()) > 10, "the test must see real log lines"
    assert "handover.queued" in text
    for secret in (record.access_token, IDENTITY, API_KEY, SECRET):
        assert secret not in text


async def test_an_ended_handover_s_token_leaves_the_registry(bot: Bot) -> None:
    from handover_miaw.logs import secrets

    await bot.connector()
    handover = await bot.start()
    record = await bot.api.app[HANDOVERS].store.get_handover(handover["id"])
    assert record is not None
    assert record.access_token in secrets
    await bot.sim.end_session(handover["conversationId"])
    await bot.wait_state(handover["id"], "ended")
    assert record.access_token not in secrets
