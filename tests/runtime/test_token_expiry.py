"""An access token reaching its `exp` mid-handover, against a simulator whose tokens live 6 seconds.

The agent (a notice in the conversation) and the bot (`handover.status` `token_expiring`) are told
`token_warning_s` before; then the handover ends with `token_expired`, unless an authenticated user's
bot platform supplies a fresh identity token: a new verified-user token for the same subject reads the
same conversation (a continuation token would keep the original expiry), and the handover goes on.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from handover_miaw.api.app_keys import HANDOVERS
from handover_miaw.miaw import MiawClient
from handover_miaw.settings import Settings
from handover_miaw.simulator import Simulator, SimulatorConfig
from handover_miaw.store.records import HandoverState
from tests.waiting import wait_for

from .conftest import API_KEY, ORG_ID, Bot

LIFETIME_S = 6.0
WARNING_S = 4.0
# Unsigned JWT-shaped identity tokens of one verified user ("ann"): the simulator reads `sub` only.
IDENTITY = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.Zmlyc3Q"
FRESH_IDENTITY = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2Vjb25k"
OTHER_USER = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib2IifQ.b3RoZXI"


@pytest.fixture
def sim() -> Simulator:
    return Simulator(SimulatorConfig(org_id=ORG_ID, ping_interval_s=0.2, token_lifetime_s=LIFETIME_S))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        insecure_dev=True,
        api_keys=(API_KEY,),
        heartbeat_timeout_s=2.0,
        token_warning_s=WARNING_S,
    )


async def _expiry(bot: Bot, hid: str) -> float:
    record = await bot.api.app[HANDOVERS].store.get_handover(hid)
    assert record is not None
    assert record.token_expires_at is not None
    return record.token_expires_at


async def _warned_authenticated_handover(bot: Bot) -> tuple[str, str, float]:
    """An authenticated handover with an agent, once its token's expiry was announced; its id, conversation
    id and the token's expiry."""
    await bot.connector()
    handover = await bot.start(settings={"useIdentityToken": True, "identityToken": IDENTITY})
    hid, cid = handover["id"], handover["conversationId"]
    await bot.sim.accept(cid, agent="Maria")
    await wait_for(lambda: "token_expiring" in bot.receiver.statuses(hid), "the warning", seconds=LIFETIME_S)
    return hid, cid, await _expiry(bot, hid)


async def test_anonymous_user_is_warned_then_the_handover_ends(bot: Bot) -> None:
    await bot.connector()
    handover = await bot.start()
    hid, cid = handover["id"], handover["conversationId"]
    await bot.sim.accept(cid, agent="Maria")
    await wait_for(lambda: "token_expiring" in bot.receiver.statuses(hid), "the warning", seconds=LIFETIME_S)
    (warning,) = [d for d in bot.receiver.of_type("handover.status", hid) if d["data"]["status"] == "token_expiring"]
    assert 0 < warning["data"]["secondsLeft"] <= WARNING_S
    notices = [m.text or "" for m in bot.sim.conversation(cid).end_user_messages]
    assert any("session expires" in text for text in notices), notices
    ended = await bot.wait_state(hid, "ended", seconds=LIFETIME_S + 2)
    assert (ended["endStatus"], ended["endReason"]) == ("error", "token_expired")
    await wait_for(lambda: len(bot.receiver.of_type("handover.ended", hid)) == 1, "the end delivered")
    assert bot.receiver.of_type("handover.ended", hid)[0]["data"] == {"status": "error", "reason": "token_expired"}
    assert bot.receiver.statuses(hid).count("token_expiring") == 1


async def test_fresh_identity_token_carries_the_handover_past_the_expiry(bot: Bot) -> None:
    hid, cid, first_expiry = await _warned_authenticated_handover(bot)
    response = await bot.api.post(f"/v1/handovers/{hid}/identity", json={"identityToken": FRESH_IDENTITY})
    assert response.status == 200, await response.text()
    assert (await response.json())["state"] == "active"
    assert await _expiry(bot, hid) > first_expiry
    # Past the first token's expiry the old token is dead, so whatever works now runs on the new one.
    await wait_for(lambda: time.time() > first_expiry + 0.3, "the first expiry", seconds=LIFETIME_S)
    await bot.sim.send_text(cid, "still with you")
    await wait_for(lambda: len(bot.receiver.of_type("agent.message", hid)) == 1, "the reply", seconds=3)
    sent = await bot.api.post(f"/v1/handovers/{hid}/messages", json={"id": "m1", "text": "thanks"})
    assert sent.status == 202
    assert "thanks" in [m.text for m in bot.sim.conversation(cid).end_user_messages]
    assert (await bot.handover(hid))["state"] == "active"


async def test_identity_of_another_user_or_an_anonymous_handover_is_refused(bot: Bot) -> None:
    await bot.connector()
    authenticated = await bot.start("auth", settings={"useIdentityToken": True, "identityToken": IDENTITY})
    other = await bot.api.post(f"/v1/handovers/{authenticated['id']}/identity", json={"identityToken": OTHER_USER})
    assert other.status == 409
    assert (await other.json())["error"]["pointer"] == "/identityToken"
    anonymous = await bot.start("anon")
    refused = await bot.api.post(f"/v1/handovers/{anonymous['id']}/identity", json={"identityToken": IDENTITY})
    assert refused.status == 409
    for body in (await other.text(), await refused.text()):
        assert OTHER_USER not in body
        assert IDENTITY not in body


async def test_a_fresh_identity_token_is_not_stored_on_a_handover_that_ended_meanwhile(bot: Bot) -> None:
    # The agent ends the conversation while the renewal's MIAW calls run (here: just before them, written by
    # another process): the ending write erased the tokens, and the renewal must not put a live one back.
    await bot.connector()
    handover = await bot.start(settings={"useIdentityToken": True, "identityToken": IDENTITY})
    hid = handover["id"]
    store = bot.api.app[HANDOVERS].store
    await store.update_handover(
        hid,
        {"state": HandoverState.ENDED, "end_status": "completed", "end_reason": "agent_ended", "access_token": None},
    )
    response = await bot.api.post(f"/v1/handovers/{hid}/identity", json={"identityToken": FRESH_IDENTITY})
    assert response.status == 409
    assert "has ended" in (await response.json())["error"]["message"]
    record = await store.get_handover(hid)
    assert record is not None
    assert (record.state, record.access_token) == (HandoverState.ENDED, None)


async def test_a_token_renewed_through_another_process_carries_the_served_handover_past_the_expiry(
    bot: Bot,
) -> None:
    # Another runtime process answered the bot's POST /identity: it stored the new token, while this process
    # serves the stream with the old one. Its watchdog must not end the handover at the old token's expiry,
    # and its stream must go on with the new token.
    hid, cid, first_expiry = await _warned_authenticated_handover(bot)
    async with MiawClient(bot.sim_url, ORG_ID, "Bot_Handover_Custom") as elsewhere:
        renewed = await elsewhere.authenticated_access_token(FRESH_IDENTITY)
    assert renewed.expires_at is not None
    assert renewed.expires_at > first_expiry
    store = bot.api.app[HANDOVERS].store
    await store.update_handover(hid, {"access_token": renewed.token, "token_expires_at": renewed.expires_at})
    await wait_for(lambda: time.time() > first_expiry + 1.0, "past the first expiry", seconds=LIFETIME_S + 1)
    await bot.sim.send_text(cid, "still with you")
    await wait_for(lambda: len(bot.receiver.of_type("agent.message", hid)) == 1, "the reply", seconds=4)
    assert (await bot.handover(hid))["state"] == "active"
    assert bot.receiver.of_type("handover.ended", hid) == []
