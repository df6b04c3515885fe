"""The outbox never spins: whatever fails an attempt, and a store that cannot record an outcome, cost a
bounded number of attempts (the backoff schedule's), then delivery resumes once the fault clears and
nothing is lost. /readyz says not ready while the store refuses writes."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import time
from typing import Any

from handover_miaw.api.app_keys import HANDOVERS
from handover_miaw.delivery.formats import COGNIGY_NOTIFY_PATH
from handover_miaw.delivery.outcomes import DELIVERY_BACKOFF
from tests.waiting import wait_for

from .conftest import Bot

BAD_KEY = "apikey-crlf-1234\r\nX-Injected: yes"
GOOD_KEY = "cognigy-api-key-1"


def most_attempts(seconds: float) -> int:
    """The most attempts the backoff schedule allows in `seconds`: each wait is at least half its ceiling."""
    attempts, spent = 1, 0.0
    while spent + DELIVERY_BACKOFF.ceiling(attempts) / 2 <= seconds:
        spent += DELIVERY_BACKOFF.ceiling(attempts) / 2
        attempts += 1
    return attempts


def _lines(stream: io.StringIO, event: str) -> list[dict[str, Any]]:
    found = [json.loads(line) for line in stream.getvalue().splitlines() if f'"{event}"' in line]
    return [line for line in found if line.get("event") == event]


async def _pending(bot: Bot) -> list[dict[str, Any]]:
    response = await bot.api.get("/v1/deliveries", params={"state": "pending"})
    deliveries: list[dict[str, Any]] = (await response.json())["deliveries"]
    return deliveries


async def test_an_attempt_that_raises_is_retried_with_backoff(bot: Bot, log_output: io.StringIO) -> None:
    await bot.connector(fmt="cognigy")
    store = bot.api.server.app[HANDOVERS].store
    clean = await store.get_connector("acme")
    assert clean is not None
    # As a connector stored before PUT refused control characters: aiohttp raises ValueError on the header.
    await store.put_connector(dataclasses.replace(clean, delivery={**clean.delivery, "apiKey": BAD_KEY}))
    started = time.monotonic()
    handover = await bot.start()
    hid, cid = handover["id"], handover["conversationId"]
    await bot.sim.accept(cid, agent="Maria")
    await bot.sim.send_text(cid, "kept while failing", agent="Maria")

    async def failed_once() -> bool:
        return any(d["attempts"] >= 1 for d in await _pending(bot))

    await wait_for(failed_once, "a failed attempt")
    await asyncio.sleep(3.0)  # the observation window: attempts are counted over it, not waited for
    elapsed = time.monotonic() - started
    (head,) = [d for d in await _pending(bot) if d["attempts"]]
    assert 1 <= head["attempts"] <= most_attempts(elapsed), head
    assert head["lastError"].startswith("ValueError"), head["lastError"]
    assert BAD_KEY not in head["lastError"]
    assert bot.receiver.requests == []
    retries = _lines(log_output, "delivery.retry_scheduled")
    assert 1 <= len(retries) <= 2, "the failure lines of one delivery are rate-limited"
    assert retries[0]["error"].startswith("ValueError")

    await store.put_connector(clean)
    await wait_for(
        lambda: any(path == COGNIGY_NOTIFY_PATH for path, _, _ in bot.receiver.requests),
        "the agent message",
        seconds=40,
    )
    await wait_for(lambda: _none_pending(bot), "an empty outbox", seconds=40)
    texts = [body["text"] for path, _, body in bot.receiver.requests if path == COGNIGY_NOTIFY_PATH]
    assert texts == ["kept while failing"]
    assert {headers["X-API-Key"] for _, headers, _ in bot.receiver.requests} == {GOOD_KEY}
    assert bot.receiver.statuses(hid) == []  # cognigy format: nothing went to the webhook path


async def _none_pending(bot: Bot) -> bool:
    return await _pending(bot) == []


async def test_a_store_that_cannot_mark_delivered_backs_off(bot: Bot, monkeypatch: Any) -> None:
    await bot.connector()
    handover = await bot.start()
    hid, cid = handover["id"], handover["conversationId"]
    await bot.sim.accept(cid, agent="Maria")
    await bot.wait_state(hid, "active")
    await wait_for(lambda: _none_pending(bot), "the status deliveries", seconds=10)
    store = bot.api.server.app[HANDOVERS].store
    real_mark = store.mark_delivered
    calls: list[float] = []
    broken = True

    async def mark(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        if broken:
            raise OSError(28, "No space left on device")
        return await real_mark(*args, **kwargs)

    monkeypatch.setattr(store, "mark_delivered", mark)
    await bot.sim.send_text(cid, "while the disk is full", agent="Maria")
    await wait_for(lambda: bool(calls), "the first attempt", seconds=10)
    await asyncio.sleep(3.0)  # the observation window
    assert 1 <= len(calls) <= most_attempts(calls[-1] - calls[0]), len(calls)
    # The receiver acknowledged it once; only the outcome is written again, the message is not re-posted.
    assert [d["data"]["text"] for d in bot.receiver.of_type("agent.message", hid)] == ["while the disk is full"]

    broken = False
    await wait_for(lambda: _none_pending(bot), "the outcome stored", seconds=40)
    await bot.sim.send_text(cid, "after", agent="Maria")
    await wait_for(lambda: len(bot.receiver.of_type("agent.message", hid)) == 2, "normal delivery", seconds=10)
    texts = [d["data"]["text"] for d in bot.receiver.of_type("agent.message", hid)]
    assert texts == ["while the disk is full", "after"]


async def test_readyz_is_not_ready_while_the_store_refuses_writes(bot: Bot) -> None:
    assert (await bot.api.get("/readyz")).status == 200
    store = bot.api.server.app[HANDOVERS].store
    connection = store._connection()  # SQLite itself refuses the writes
    connection.execute("PRAGMA query_only = ON")
    try:
        response = await bot.api.get("/readyz")
        assert response.status == 503
        assert (await response.json())["error"]["code"] == "store_read_only"
    finally:
        connection.execute("PRAGMA query_only = OFF")
    assert (await bot.api.get("/readyz")).status == 200
