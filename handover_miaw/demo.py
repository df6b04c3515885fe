"""`handover-miaw demo`: one whole handover, played end to end on this machine.

Three parts run in one process, talking over real loopback HTTP: the MIAW simulator (standing in for
Salesforce, with this script acting as the agent), the runtime (SQLite in a temporary directory) and a
small bot-platform receiver for the signed webhook deliveries. The conversation is printed as it happens.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import orjson
from aiohttp import web

from handover_miaw.api import create_app
from handover_miaw.delivery.envelope import SIGNATURE_HEADER, verify
from handover_miaw.logs import configure_logging
from handover_miaw.settings import Settings
from handover_miaw.simulator import Simulator, SimulatorConfig
from handover_miaw.simulator import create_app as create_simulator_app

__all__ = ["run_demo"]

# A fresh secret per run: the demo signs and verifies its webhooks like a real deployment.
_SECRET = secrets.token_urlsafe(24)
_ORG_ID = "00D000000000001"
_TRANSCRIPT = [
    {"source": "user", "text": "Hi, my order 1042 arrived broken.", "timestamp": "2026-11-25T10:00:00Z"},
    {
        "source": "bot",
        "text": "Sorry to hear that! Do you want a refund or a replacement?",
        "timestamp": "2026-11-25T10:00:02Z",
    },
    {"source": "user", "text": "A refund please, and I want to talk to a person.", "timestamp": "2026-11-25T10:00:09Z"},
]


@dataclass
class _Receiver:
    """The bot platform's webhook endpoint: verifies each signature, prints each delivery."""

    out: Callable[[str], None]
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        verify(_SECRET, body, request.headers.get(SIGNATURE_HEADER, ""), time.time())
        delivery = orjson.loads(body)
        self.deliveries.append(delivery)
        self.out(_describe(delivery))
        self.arrived.set()
        if delivery["type"] == "handover.ended":
            self.ended.set()
        return web.Response(status=204)

    def count(self, kind: str, status: str | None = None) -> int:
        return sum(
            1 for d in self.deliveries if d["type"] == kind and (status is None or d["data"].get("status") == status)
        )

    async def wait_for(self, kind: str, status: str | None = None, count: int = 1) -> None:
        async with asyncio.timeout(15):
            while self.count(kind, status) < count:
                self.arrived.clear()
                await self.arrived.wait()


def _describe(delivery: dict[str, Any]) -> str:
    data = delivery["data"]
    if delivery["type"] == "agent.message":
        return f"  agent {data['agent']['name']}: {data['text']}"
    if delivery["type"] == "handover.ended":
        return f"  ── handover ended: {data['status']} ({data['reason']})"
    status = data["status"]
    agent = (data.get("agent") or {}).get("name") or "the agent"
    if status == "queue":
        parts = [f"position {data['position']}"] if "position" in data else []
        parts += [f"about {data['estimatedWaitSeconds']} s"] if "estimatedWaitSeconds" in data else []
        return f"  ── queued, waiting for an agent{' (' + ', '.join(parts) + ')' if parts else ''}"
    details = {
        "active": f"{agent} joined",
        "typing_started": f"{agent} is typing…",
        "typing_stopped": f"{agent} stopped typing",
        "agent_left": f"{agent} left",
        "transferred": f"transferred by {agent}",
    }
    return f"  ── {details.get(status, status)}"


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server  # aiohttp keeps the bound socket here; port 0 needs it to learn the port
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    return runner, f"http://127.0.0.1:{port}"


async def _play(
    api: aiohttp.ClientSession, runtime: str, sim: Simulator, rx: _Receiver, out: Callable[[str], None]
) -> dict[str, Any]:
    async def call(method: str, path: str, body: Any = None) -> Any:
        async with api.request(method, runtime + path, json=body) as response:
            if response.status >= 400:
                raise RuntimeError(f"{method} {path} answered {response.status}: {await response.text()}")
            return await response.json() if response.status != 204 else None

    def user(text: str) -> Awaitable[Any]:
        out(f"  user: {text}")
        sent.append(text)
        return call("POST", f"/v1/handovers/{hid}/messages", {"id": f"u{time.monotonic_ns()}", "text": text})

    sent: list[str] = []
    out("▶ the bot hands the conversation over (transcript sent as the first message)")
    handover = await call(
        "POST",
        "/v1/handovers",
        {
            "connector": "demo",
            "sessionId": "demo-session",
            "userId": "ann",
            "settings": {"sendTranscript": True, "routingAttributes": {"Order__c": "1042", "language": "en_US"}},
            "transcript": _TRANSCRIPT,
        },
    )
    hid, cid = handover["id"], handover["conversationId"]
    for line in (sim.conversation(cid).end_user_messages[0].text or "").splitlines():
        out(f"  transcript → agent: {line}")
    await sim.route(cid, queue_position=2, estimated_wait_s=90)
    await rx.wait_for("handover.status", "queue", 2)
    await sim.queue_position(cid, 1)
    await rx.wait_for("handover.status", "queue", 3)
    await sim.accept(cid, agent="Maria")
    await rx.wait_for("handover.status", "active")
    await sim.typing(cid, True)
    await rx.wait_for("handover.status", "typing_started")
    await sim.send_text(cid, "Hi Ann, I'm Maria. I see order 1042 — I'm sorry it arrived broken.")
    await rx.wait_for("agent.message")
    await user("Thanks! Can I get my money back?")
    await call("POST", f"/v1/handovers/{hid}/typing", {"typing": True})
    await sim.typing(cid, True)
    await sim.send_text(cid, "Done: the refund of 49.90 EUR is on its way, 3-5 business days.")
    await rx.wait_for("agent.message", count=2)
    await user("Perfect, thank you!")
    await sim.send_text(cid, "You're welcome. Have a nice day!")
    await rx.wait_for("agent.message", count=3)
    await sim.end_session(cid)
    async with asyncio.timeout(15):
        await rx.ended.wait()
    final: dict[str, Any] = await call("GET", f"/v1/handovers/{hid}")
    received = [m.text for m in sim.conversation(cid).end_user_messages]
    if received[1:] != sent:
        raise RuntimeError(f"Salesforce received {received[1:]!r}, the user sent {sent!r}")
    final["userMessages"] = len(sent)
    final["transcriptMessages"] = len(received) - len(sent)
    return final


async def run_demo(out: TextIO) -> int:
    """Play the demo; return the exit code (0 when the whole handover went through)."""

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    started = time.perf_counter()
    sim = Simulator(SimulatorConfig(org_id=_ORG_ID, ping_interval_s=5.0))
    receiver = _Receiver(say)
    hook_app = web.Application()
    hook_app.router.add_post("/hook", receiver.handle)
    runners: list[web.AppRunner] = []
    with tempfile.TemporaryDirectory(prefix="handover-miaw-demo-") as data_dir:
        try:
            sim_runner, sim_url = await _serve(create_simulator_app(sim))
            runners.append(sim_runner)
            hook_runner, hook_url = await _serve(hook_app)
            runners.append(hook_runner)
            settings = Settings(data_dir=Path(data_dir), insecure_dev=True, log_level="ERROR")
            runtime_runner, runtime_url = await _serve(create_app(settings))
            runners.insert(0, runtime_runner)
            say(f"simulator {sim_url} · runtime {runtime_url} (SQLite in {data_dir}) · bot webhook {hook_url}/hook")
            async with aiohttp.ClientSession() as api:
                connector = {
                    "config": {
                        "baseUrl": sim_url,
                        "organizationId": _ORG_ID,
                        "esDeveloperName": "Bot_Handover_Custom",
                        "forwardEvents": True,
                    },
                    "delivery": {"format": "webhook", "url": f"{hook_url}/hook", "secret": _SECRET},
                }
                async with api.put(f"{runtime_url}/v1/connectors/demo", json=connector) as response:
                    response.raise_for_status()
                final = await _play(api, runtime_url, sim, receiver, say)
        except (TimeoutError, RuntimeError, aiohttp.ClientError) as exc:
            say(f"demo: FAILED: {type(exc).__name__}: {exc}")
            return 1
        finally:
            for runner in runners:
                await runner.cleanup()
    elapsed = time.perf_counter() - started
    say(
        f"demo: ok handover={final['id']} state={final['state']} reason={final['endReason']} "
        f"transcript_messages={final['transcriptMessages']} agent_messages={receiver.count('agent.message')} "
        f"user_messages={final['userMessages']} "
        f"deliveries={len(receiver.deliveries)} in {elapsed:.2f}s"
    )
    return 0


def main(out: TextIO) -> int:
    """Entry point for the CLI."""
    # Development mode is the point of the demo: its warning (and routine info) would only clutter the screen.
    configure_logging("ERROR")
    return asyncio.run(run_demo(out))
