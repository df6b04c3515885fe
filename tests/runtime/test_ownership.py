"""The ownership round next to handovers being started in the same process."""

from __future__ import annotations

from handover_miaw.simulator import Simulator

from .conftest import Bot, Factory, Receiver


async def test_a_start_in_flight_is_not_taken_for_an_interrupted_one(
    start_runtime: Factory, sim: Simulator, receiver: Receiver, sim_url: str
) -> None:
    # Rounds every 0.1 s while MIAW takes 0.5 s to issue the token: several rounds see the new handover
    # live and pending in the store before this process serves its stream.
    bot = Bot(await start_runtime(lease_ttl_s=0.3), sim, receiver, sim_url)
    await bot.connector()
    sim.add_latency("access_token", 0.5)
    handover = await bot.start()
    assert handover["state"] == "queued"
    await sim.accept(handover["conversationId"], agent="Maria")
    assert (await bot.wait_state(handover["id"], "active"))["state"] == "active"
    assert receiver.of_type("handover.ended", handover["id"]) == []
