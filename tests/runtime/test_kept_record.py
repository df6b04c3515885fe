"""A served handover steps agent events from the record it keeps in memory; a write by anyone else (another
process ending it, renewing its token) is still seen before the next event is applied."""

from __future__ import annotations

from handover_miaw.api.app_keys import HANDOVERS
from handover_miaw.store.records import HandoverState
from tests.waiting import wait_for

from .conftest import Bot


async def _active(bot: Bot) -> tuple[str, str]:
    await bot.connector()
    handover = await bot.start()
    await bot.sim.accept(handover["conversationId"], agent="Maria")
    await bot.wait_state(handover["id"], "active")
    await bot.sim.send_text(handover["conversationId"], "first")
    await wait_for(lambda: len(bot.receiver.of_type("agent.message", handover["id"])) == 1, "the first message")
    return handover["id"], handover["conversationId"]


async def test_an_end_written_elsewhere_stops_the_next_agent_message(bot: Bot) -> None:
    hid, cid = await _active(bot)
    handovers = bot.api.app[HANDOVERS]
    # What another process serving the user's DELETE writes; this process's kept record still says active.
    await handovers.store.update_handover(
        hid, {"state": HandoverState.ENDED, "end_status": "cancelled", "end_reason": "user_ended"}
    )
    await bot.sim.send_text(cid, "after the end")
    await wait_for(lambda: handovers._engine.served() == [], "the stream no longer served")
    messages = [d for d in await handovers.store.list_deliveries() if d.type == "agent.message"]
    assert [d.payload["data"]["text"] for d in messages] == ["first"]
    ended = await handovers.store.get_handover(hid)
    assert ended is not None
    assert (ended.state, ended.end_reason) == (HandoverState.ENDED, "user_ended")


async def test_a_token_renewed_elsewhere_is_read_before_the_next_event(bot: Bot) -> None:
    hid, cid = await _active(bot)
    handovers = bot.api.app[HANDOVERS]
    await handovers.store.update_handover(hid, {"access_token": "renewed-elsewhere"})
    await bot.sim.send_text(cid, "second")
    await wait_for(lambda: len(bot.receiver.of_type("agent.message", hid)) == 2, "the second message")
    [live] = handovers._engine.served()
    assert live.record.access_token == "renewed-elsewhere"
    assert live.record.state is HandoverState.ACTIVE
