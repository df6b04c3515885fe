"""A served handover steps agent events from the record it keeps in memory; a write by anyone else (another
process ending it, renewing its token) is still seen before the next event is applied."""

from __future__ import annotations

from typing import Any

from handover_miaw.api.app_keys import HANDOVERS
from handover_miaw.store.records import HandoverRecord, HandoverState
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


async def test_an_end_written_between_the_read_again_and_the_write_is_not_overwritten(bot: Bot) -> None:
    # The kept record is stale (a token renewed elsewhere), so the next agent event reads the record again;
    # another process ends the handover right after that read. The write decided on the read copy must not
    # land: it would queue the message after `handover.ended` and leave this process's copy looking live.
    hid, cid = await _active(bot)
    handovers = bot.api.app[HANDOVERS]
    store = handovers.store
    await store.update_handover(hid, {"access_token": "renewed-elsewhere"})
    read = store.get_handover
    ended_once: list[bool] = []

    async def read_then_end_elsewhere(handover_id: str) -> HandoverRecord | None:
        record = await read(handover_id)
        if handover_id == hid and not ended_once:
            ended_once.append(True)
            await store.update_handover(
                hid, {"state": HandoverState.ENDED, "end_status": "cancelled", "end_reason": "user_ended"}
            )
        return record

    store.get_handover = read_then_end_elsewhere  # type: ignore[method-assign]
    await bot.sim.send_text(cid, "after the end")
    await wait_for(lambda: handovers._engine.served() == [], "the stream no longer served")
    messages = [d for d in await store.list_deliveries() if d.type == "agent.message"]
    assert [d.payload["data"]["text"] for d in messages] == ["first"]
    ended = await read(hid)
    assert ended is not None
    assert (ended.state, ended.end_reason) == (HandoverState.ENDED, "user_ended")


async def test_a_continuation_token_is_not_stored_on_a_handover_ended_elsewhere(bot: Bot) -> None:
    # Another process ended the handover (its tokens erased); before this process notices, its stream is
    # refused with a 401 and renews its token. The renewed bearer token must not be written back at rest.
    hid, _cid = await _active(bot)
    store = bot.api.app[HANDOVERS].store
    await store.update_handover(
        hid,
        {"state": HandoverState.ENDED, "end_status": "completed", "end_reason": "agent_ended", "access_token": None},
    )
    bot.sim.fail_next("sse", 401)
    bot.sim.drop_streams()
    await wait_for(lambda: any(c.endpoint == "continuation_token" for c in bot.sim.calls), "the stream's token renewal")
    await wait_for(lambda: bot.api.app[HANDOVERS]._engine.served() == [], "the stream no longer served")
    record = await store.get_handover(hid)
    assert record is not None
    assert (record.state, record.access_token) == (HandoverState.ENDED, None)


async def test_an_end_written_before_a_follow_up_lands_is_kept(bot: Bot) -> None:
    # A transfer: the agent leaves, the engine reads the routing status and feeds it back, and that follow-up
    # would queue the handover again. Another process ends the handover just before the follow-up's write:
    # the write decided on the older copy must not land, and the ended record ignores the follow-up.
    hid, cid = await _active(bot)
    store = bot.api.app[HANDOVERS].store
    record_event = store.record_event
    ended_before: list[str] = []

    async def end_before_the_follow_up(handover_id: str, entry_id: str | None, *args: Any, **kwargs: Any) -> bool:
        if handover_id == hid and entry_id is None and not ended_before:
            ended_before.append(handover_id)
            await store.update_handover(
                hid, {"state": HandoverState.ENDED, "end_status": "cancelled", "end_reason": "user_ended"}
            )
        return await record_event(handover_id, entry_id, *args, **kwargs)

    store.record_event = end_before_the_follow_up  # type: ignore[method-assign]
    await bot.sim.transfer(cid, "Ana")
    await wait_for(lambda: bot.api.app[HANDOVERS]._engine.served() == [], "the stream no longer served")
    assert ended_before == [hid], "the follow-up's write must have been tried"
    record = await bot.api.app[HANDOVERS].store.get_handover(hid)
    assert record is not None
    assert (record.state, record.end_reason) == (HandoverState.ENDED, "user_ended")
