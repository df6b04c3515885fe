"""The per-handover record of MIAW calls: attribution through the context, and its bounds."""

from __future__ import annotations

import asyncio

import pytest

from handover_miaw.handovers import calls as calls_module
from handover_miaw.handovers.calls import FORGET_AFTER_END_S, PER_HANDOVER, Call, CallLog, for_handover


def test_a_call_is_recorded_for_the_handover_whose_work_makes_it_and_told_to_the_next_observer() -> None:
    told: list[tuple[str, str, float]] = []
    log = CallLog(clock=lambda: 100.0, then=lambda *call: told.append(call))
    observe = log.observe
    observe("access_token", "200", 0.01)  # outside any handover's work: metrics only
    with for_handover("ho_a"):
        observe("create_conversation", "201", 0.02)
    observe("send_message", "202", 0.03)
    assert log.calls("ho_a") == [Call("create_conversation", "201", 0.02, 100.0)]
    assert [c[0] for c in told] == ["access_token", "create_conversation", "send_message"]


async def test_a_task_created_inside_the_handovers_work_keeps_its_attribution() -> None:
    log = CallLog()
    observe = log.observe

    async def stream() -> None:
        observe("list_entries", "200", 0.0)

    with for_handover("ho_b"):
        task = asyncio.get_running_loop().create_task(stream())
    await task
    assert [c.endpoint for c in log.calls("ho_b")] == ["list_entries"]


def test_only_the_newest_calls_of_a_handover_are_kept() -> None:
    log = CallLog()
    for index in range(PER_HANDOVER + 5):
        log.record("ho_c", Call(f"call{index}", "200", 0.0, 0.0))
    kept = log.calls("ho_c")
    assert len(kept) == PER_HANDOVER
    assert kept[0].endpoint == "call5"


def test_the_least_recently_called_handover_is_forgotten_past_the_global_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls_module, "MAX_HANDOVERS", 2)
    log = CallLog()
    call = Call("send_message", "202", 0.0, 0.0)
    log.record("ho_1", call)
    log.record("ho_2", call)
    log.record("ho_1", call)  # ho_2 is now the least recently called
    log.record("ho_3", call)
    assert log.calls("ho_2") == []
    assert log.calls("ho_1") == [call, call]
    assert log.calls("ho_3") == [call]


def test_an_ended_handovers_calls_are_forgotten_a_while_after_the_end() -> None:
    now = [1000.0]
    log = CallLog(clock=lambda: now[0])
    log.record("ho_d", Call("close_conversation", "204", 0.0, now[0]))
    log.ended("ho_d")
    now[0] += FORGET_AFTER_END_S - 1
    assert len(log.calls("ho_d")) == 1
    now[0] += 2
    assert log.calls("ho_d") == []
