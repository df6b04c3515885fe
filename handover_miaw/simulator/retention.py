"""Forgetting what a long run no longer needs: ended conversations, old call records, dead token ids.

A soak left running grew the simulator's memory without bound because it kept every conversation, every
call record and every token. Everything older than ``SimulatorConfig.retention_s`` that can no longer change is
dropped by :func:`forget_old`, which a background task of the app runs periodically.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from .httputil import SIMULATOR_KEY
from .simulator import Simulator
from .state import Conversation

__all__ = ["Forgotten", "forget_old", "retention_context", "sweep_interval_s"]


@dataclass(frozen=True)
class Forgotten:
    """What one sweep dropped."""

    conversations: int
    calls: int
    tokens: int
    subjects: int


def _ended(conversation: Conversation) -> bool:
    return conversation.closed or conversation.session_status == "Ended"


def _last_activity_ms(conversation: Conversation) -> int:
    last = conversation.entries[-1].transcripted_timestamp if conversation.entries else conversation.created_ms
    return max(last, conversation.closed_ms or 0)


def forget_old(sim: Simulator) -> Forgotten:
    """Drop conversations ended (closed, or their session ended) with nothing new for ``retention_s``, with
    their uploaded files; call records older than that; expired token ids; replay logs of subjects with no
    conversation and no open stream."""
    now_s = sim.store.clock()
    horizon_ms = int((now_s - sim.config.retention_s) * 1000)
    old = [c for c in sim.store.conversations.values() if _ended(c) and _last_activity_ms(c) < horizon_ms]
    for conversation in old:
        del sim.store.conversations[conversation.id]
        for message in conversation.end_user_messages:
            if message.file_id is not None:
                sim.files.pop(message.file_id, None)
    # Records are appended in time order, so the old ones are a prefix.
    horizon_s = now_s - sim.config.retention_s
    stale = next((i for i, call in enumerate(sim.calls) if call.at >= horizon_s), len(sim.calls))
    del sim.calls[:stale]
    tokens = sim.tokens.forget_expired()
    subjects = sim.hub.forget_subjects({c.subject for c in sim.store.conversations.values()})
    return Forgotten(len(old), stale, tokens, subjects)


def sweep_interval_s(retention_s: float) -> float:
    """How often to sweep: a quarter of the retention, at most once a minute, at least every 50 ms."""
    return min(60.0, max(retention_s / 4, 0.05))


async def retention_context(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: sweeps while the app runs; the task is cancelled and awaited on the way out."""
    sim = app[SIMULATOR_KEY]

    async def sweep() -> None:
        while True:
            await asyncio.sleep(sweep_interval_s(sim.config.retention_s))
            forget_old(sim)

    task = asyncio.get_running_loop().create_task(sweep(), name="miaw-sim-retention")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
