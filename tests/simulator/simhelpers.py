"""Test helpers for the simulator suite: a tiny SSE parser and a thin MIAW REST wrapper.

Deliberately independent of handover_miaw.miaw (written in parallel): plain aiohttp client calls.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from handover_miaw.simulator import Simulator

API = "/iamessage/api/v2"
ORG = "00D000000000001"
DEPLOYMENT = "Bot_Handover_Custom"
WAIT = 3.0


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, now: float = 1_732_500_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Frame:
    """One SSE frame as received."""

    event: str | None
    id: str | None
    data: str

    @property
    def json(self) -> Any:
        return orjson.loads(self.data)

    @property
    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = self.json["conversationEntry"]
        return entry

    @property
    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = orjson.loads(self.entry["entryPayload"])
        return payload


class FrameParser:
    """Feeds lines, yields frames at blank lines (the SSE rules the simulator needs, nothing more)."""

    def __init__(self) -> None:
        self._fields: dict[str, list[str]] = {}

    def feed(self, line: str) -> Frame | None:
        line = line.rstrip("\r\n")
        if line == "":
            if not self._fields:
                return None
            fields, self._fields = self._fields, {}
            return Frame(
                event=fields.get("event", [None])[-1],
                id=fields.get("id", [None])[-1],
                data="\n".join(fields.get("data", [])),
            )
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        self._fields.setdefault(name, []).append(value.removeprefix(" "))
        return None


class Stream:
    """Reads an open SSE response in a background task; frames (and None at EOF) land on a queue."""

    def __init__(self, response: ClientResponse) -> None:
        self.response = response
        self.frames: asyncio.Queue[Frame | None] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._read(), name="test-sse-reader")

    async def _read(self) -> None:
        parser = FrameParser()
        try:
            async for raw in self.response.content:
                frame = parser.feed(raw.decode())
                if frame is not None:
                    self.frames.put_nowait(frame)
        finally:
            self.frames.put_nowait(None)

    async def next(self, within: float = WAIT) -> Frame | None:
        """The next frame including pings; None once the stream ended."""
        return await asyncio.wait_for(self.frames.get(), within)

    async def event(self, within: float = WAIT) -> Frame:
        """The next non-ping frame; fails if the stream ends or ``within`` seconds pass first."""
        async with asyncio.timeout(within):
            while True:
                frame = await self.frames.get()
                assert frame is not None, "stream ended"
                if frame.event != "ping":
                    return frame

    async def events(self, count: int, within: float = WAIT) -> list[Frame]:
        """The next ``count`` non-ping frames."""
        async with asyncio.timeout(within):
            return [await self.event() for _ in range(count)]

    async def until(self, event_type: str, within: float = WAIT) -> list[Frame]:
        """Every non-ping frame up to and including the first of ``event_type``."""
        async with asyncio.timeout(within):
            seen = [await self.event()]
            while seen[-1].event != event_type:
                seen.append(await self.event())
            return seen

    async def ended(self, within: float = WAIT) -> None:
        """Wait for the server to end the stream (pings and events before that are skipped)."""
        async with asyncio.timeout(within):
            while await self.frames.get() is not None:
                pass

    async def close(self) -> None:
        self.response.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


def new_id() -> str:
    return str(uuid.uuid4())


def jwt_claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    claims: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


def text_body(text: str, message_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "message": {
            "id": message_id or new_id(),
            "messageType": "StaticContentMessage",
            "staticContent": {"formatType": "Text", "text": text},
        },
        "esDeveloperName": DEPLOYMENT,
        **extra,
    }


class Api:
    """The end user's side of MIAW over real loopback HTTP."""

    def __init__(self, client: TestClient[Any, Any], sim: Simulator) -> None:
        self.client = client
        self.sim = sim

    async def token_response(self, **overrides: Any) -> dict[str, Any]:
        body = {"orgId": ORG, "esDeveloperName": DEPLOYMENT, "capabilitiesVersion": "1", "platform": "Web"}
        resp = await self.client.post(f"{API}/authorization/unauthenticated/access-token", json=body | overrides)
        assert resp.status == 200, await resp.text()
        data: dict[str, Any] = await resp.json()
        return data

    async def token(self) -> str:
        token: str = (await self.token_response())["accessToken"]
        return token

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def create(self, token: str, conversation_id: str | None = None, **extra: Any) -> str:
        conversation_id = conversation_id or new_id()
        body = {"conversationId": conversation_id, "esDeveloperName": DEPLOYMENT, **extra}
        resp = await self.client.post(f"{API}/conversation", json=body, headers=self.auth(token))
        assert resp.status == 201, await resp.text()
        return conversation_id

    async def send(self, token: str, conversation_id: str, body: dict[str, Any]) -> ClientResponse:
        return await self.client.post(
            f"{API}/conversation/{conversation_id}/message", json=body, headers=self.auth(token)
        )

    async def say(self, token: str, conversation_id: str, text: str, message_id: str | None = None) -> str:
        body = text_body(text, message_id)
        resp = await self.send(token, conversation_id, body)
        assert resp.status == 202, await resp.text()
        message_id_sent: str = body["message"]["id"]
        return message_id_sent

    async def entries(self, token: str, conversation_id: str, **query: str) -> ClientResponse:
        return await self.client.get(
            f"{API}/conversation/{conversation_id}/entries", params=query, headers=self.auth(token)
        )

    async def open_stream(self, token: str, last_event_id: str = "0", org: str = ORG) -> ClientResponse:
        headers = {**self.auth(token), "X-Org-Id": org, "Last-Event-Id": last_event_id, "Accept": "text/event-stream"}
        return await self.client.get("/eventrouter/v1/sse", headers=headers)

    @contextlib.asynccontextmanager
    async def stream(self, token: str, last_event_id: str = "0") -> AsyncIterator[Stream]:
        resp = await self.open_stream(token, last_event_id)
        assert resp.status == 200, await resp.text()
        stream = Stream(resp)
        try:
            yield stream
        finally:
            await stream.close()

    async def control(self, path: str, body: Any = None, method: str = "POST") -> ClientResponse:
        return await self.client.request(method, f"/_sim{path}", json=body)
