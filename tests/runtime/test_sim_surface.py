"""The runtime against what the simulator gained for browser clients: agent receipts forwarded, a close on
the Salesforce side, and event streams with or without the Last-Event-ID requirement."""

from __future__ import annotations

import pytest

from handover_miaw.simulator import Simulator, SimulatorConfig
from tests.waiting import wait_for

from .conftest import ORG_ID, Bot


@pytest.fixture(params=[False, True], ids=["last-event-id-optional", "last-event-id-required"])
def sim(request: pytest.FixtureRequest) -> Simulator:
    return Simulator(SimulatorConfig(org_id=ORG_ID, ping_interval_s=0.2, require_last_event_id=request.param))


async def _active(bot: Bot) -> tuple[str, str]:
    handover = await bot.start()
    await bot.sim.accept(handover["conversationId"], agent="Maria")
    await bot.wait_state(handover["id"], "active")
    return handover["id"], handover["conversationId"]


async def test_agent_receipts_reach_the_flow_with_forward_events(bot: Bot) -> None:
    await bot.connector(forwardEvents=True)
    hid, cid = await _active(bot)
    response = await bot.api.post(f"/v1/handovers/{hid}/messages", json={"id": "c1", "text": "Where is my refund?"})
    assert response.status == 202
    miaw_id = (await response.json())["miawMessageId"]
    await bot.sim.acknowledge(cid, read=False)
    await bot.sim.acknowledge(cid, read=True)
    await wait_for(lambda: "read" in bot.receiver.statuses(hid), "the read receipt")
    receipts = [
        d["data"] for d in bot.receiver.of_type("handover.status", hid) if d["data"]["status"] in ("delivered", "read")
    ]
    assert receipts == [{"status": "delivered", "messageId": miaw_id}, {"status": "read", "messageId": miaw_id}]


async def test_agent_receipts_stay_out_without_forward_events(bot: Bot) -> None:
    await bot.connector(forwardEvents=False)
    hid, cid = await _active(bot)
    response = await bot.api.post(f"/v1/handovers/{hid}/messages", json={"id": "c1", "text": "hello"})
    assert response.status == 202
    await bot.sim.acknowledge(cid, read=True)
    await bot.sim.send_text(cid, "marker")
    await wait_for(lambda: len(bot.receiver.of_type("agent.message", hid)) == 1, "the marker")
    assert "read" not in bot.receiver.statuses(hid)


async def test_a_salesforce_side_close_ends_the_handover(bot: Bot) -> None:
    await bot.connector()
    hid, cid = await _active(bot)
    await bot.sim.close(cid)
    ended = await bot.wait_state(hid, "ended")
    # MIAW reports a close on its side as the session's end (miaw-api.md §4.3): the handover ends as it does
    # when the agent ends the chat, without waiting for the user's next message to be refused.
    assert (ended["endStatus"], ended["endReason"]) == ("completed", "agent_ended")
    await wait_for(lambda: len(bot.receiver.of_type("handover.ended", hid)) == 1, "the end delivery")


async def test_a_salesforce_side_close_while_queued_ends_the_handover(bot: Bot) -> None:
    await bot.connector()
    handover = await bot.start()
    await bot.sim.close(handover["conversationId"])
    ended = await bot.wait_state(handover["id"], "ended")
    assert ended["endReason"] == "agent_ended"


async def test_streams_open_and_reopen_with_a_last_event_id(bot: Bot) -> None:
    await bot.connector()
    hid, cid = await _active(bot)
    bot.sim.drop_streams()
    await wait_for(lambda: sum(c.endpoint == "sse" for c in bot.sim.calls) >= 2, "the reconnect")
    await bot.sim.send_text(cid, "after the reconnect")
    await wait_for(lambda: len(bot.receiver.of_type("agent.message", hid)) == 1, "the agent message")
    assert {c.status for c in bot.sim.calls if c.endpoint == "sse"} == {200}
