"""The chaos suite's moving parts: a flaky signed-webhook receiver, a switch that SIGKILLs the runtime
subprocess at the worst moment, a user that retries with the same message id, and the final accounting."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from handover_miaw.delivery.envelope import SIGNATURE_HEADER, verify
from tests.processes import RuntimeProcess
from tests.waiting import wait_for

SECRET = "whsec_chaos_0123456789abcdef"


@dataclass
class FlakyReceiver:
    """A webhook receiver that refuses a share of the calls (503) and verifies every signature."""

    failure_rate: float
    rng: random.Random
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    refused: int = 0
    bad_signatures: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        """Refuse at random, else verify and record."""
        body = await request.read()
        self.calls += 1
        if self.rng.random() < self.failure_rate:
            self.refused += 1
            return web.Response(status=503)
        try:
            verify(SECRET, body, request.headers.get(SIGNATURE_HEADER, ""), time.time())
        except ValueError:
            self.bad_signatures += 1
            return web.Response(status=401)
        self.deliveries.append(orjson.loads(body))
        return web.Response(status=204)

    def unique(self) -> list[dict[str, Any]]:
        """Deliveries de-duplicated by delivery id, as a receiver would, in the order first received."""
        seen: set[str] = set()
        unique = []
        for delivery in self.deliveries:
            if delivery["id"] not in seen:
                seen.add(delivery["id"])
                unique.append(delivery)
        return unique


@dataclass
class User:
    """The bot platform's user side: a message is retried with the same id until the runtime takes it."""

    http: aiohttp.ClientSession
    base_url: str
    retries: int = 0
    refused: list[tuple[str, str, int]] = field(default_factory=list)

    async def send(self, handover_id: str, client_id: str, text: str, seconds: float = 45.0) -> bool:
        """Send once per client id; True when the runtime accepted it (202, or 200 for a repeat)."""
        url = f"{self.base_url}/v1/handovers/{handover_id}/messages"
        async with asyncio.timeout(seconds):
            while True:
                try:
                    async with self.http.post(url, json={"id": client_id, "text": text}) as response:
                        if response.status in (200, 202):
                            return True
                        if response.status < 500:
                            self.refused.append((handover_id, client_id, response.status))
                            return False
                except aiohttp.ClientError:
                    pass  # the runtime is being killed or restarted: the same id goes again
                self.retries += 1
                await asyncio.sleep(0.2)  # retry backoff, not synchronisation


class KillSwitch:
    """A simulator listener that SIGKILLs the runtime the moment MIAW has stored a user message.

    That is the worst instant for the runtime: MIAW has the message but the runtime has neither its
    answer nor a "sent" mark, so only re-sending with the same MIAW message id keeps it single.
    """

    def __init__(self, runtime: RuntimeProcess) -> None:
        self.runtime = runtime
        self.after: int | None = None
        self.seen = 0
        self.fired = asyncio.Event()

    def arm(self, after_messages: int) -> None:
        """Kill when `after_messages` more user messages have arrived."""
        self.after = self.seen + after_messages
        self.fired.clear()

    def session_started(self, conversation: Any) -> None:
        """Not used."""

    def session_ended(self, conversation: Any) -> None:
        """Not used."""

    def end_user_message(self, conversation: Any, message: Any) -> None:
        """Count, and kill when armed and due."""
        self.seen += 1
        if self.after is not None and self.seen >= self.after:
            self.after = None
            self.runtime.kill_now()
            self.fired.set()


@dataclass(frozen=True)
class Tally:
    """The figures the chaos line prints."""

    handovers: int
    agent_messages: int
    user_messages: int
    lost: int
    duplicated: int
    out_of_order: int
    stuck: int

    def line(self) -> str:
        """`chaos: handovers=… agent_messages=… user_messages=… lost=… duplicated=… out_of_order=… stuck=…`."""
        return (
            f"chaos: handovers={self.handovers} agent_messages={self.agent_messages} "
            f"user_messages={self.user_messages} lost={self.lost} duplicated={self.duplicated} "
            f"out_of_order={self.out_of_order} stuck={self.stuck}"
        )


def count_agent_side(
    expected: Mapping[str, Sequence[str]], deliveries: Sequence[dict[str, Any]]
) -> tuple[int, int, int, int]:
    """(received, lost, duplicated, out_of_order) of agent messages per handover.

    `deliveries` are already unique by delivery id; two different delivery ids carrying the same MIAW
    message id are a duplicate; a message arriving before one the agent sent earlier is out of order.
    """
    received = lost = duplicated = out_of_order = 0
    for handover_id, texts in expected.items():
        messages = [d for d in deliveries if d["type"] == "agent.message" and d["handoverId"] == handover_id]
        message_ids = [d["data"]["messageId"] for d in messages]
        duplicated += len(message_ids) - len(set(message_ids))
        got = list(dict.fromkeys(d["data"]["text"] for d in messages))
        received += len(got)
        lost += sum(1 for text in texts if text not in got)
        positions = [texts.index(text) for text in got if text in texts]
        out_of_order += sum(1 for a, b in itertools.pairwise(positions) if b < a)
    return received, lost, duplicated, out_of_order


def count_user_side(
    expected: Mapping[str, Sequence[str]], received: Mapping[str, Sequence[str | None]]
) -> tuple[int, int, int]:
    """(received, lost, duplicated) of user messages per conversation, as the simulator received them."""
    got = lost = duplicated = 0
    for conversation_id, texts in expected.items():
        arrived = list(received.get(conversation_id, []))
        for text in texts:
            copies = arrived.count(text)
            got += min(copies, 1)
            lost += copies == 0
            duplicated += max(copies - 1, 0)
    return got, lost, duplicated


async def probe_every_agent(
    sim: Any, receiver: FlakyReceiver, handovers: Sequence[Mapping[str, Any]], agent_expected: dict[str, list[str]]
) -> set[str]:
    """A probe message from every handover's agent; the ids of the handovers whose probe reached the bot within
    45 s. Only a handover whose stream is alive gets it delivered: one that does not is lost and stuck."""
    for handover in handovers:
        probe = f"probe to {handover['id']}"
        agent_expected[handover["id"]].append(probe)
        await sim.send_text(handover["conversationId"], probe)

    def arrived() -> set[str]:
        texts = {d["data"]["text"] for d in receiver.unique() if d["type"] == "agent.message"}
        return {h["id"] for h in handovers if f"probe to {h['id']}" in texts}

    with contextlib.suppress(AssertionError):  # a probe that never arrives is reported, not raised
        await wait_for(lambda: len(arrived()) >= len(handovers), "every agent's probe", seconds=45)
    return arrived()
