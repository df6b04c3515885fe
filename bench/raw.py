"""The raw client: the same MIAW calls the runtime makes, posted straight to the simulator with aiohttp."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from bench.common import ORG_ID

API = "/iamessage/api/v2"
ES_NAME = "Bot_Handover_Custom"
JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def token_body() -> dict[str, Any]:
    return {
        "orgId": ORG_ID,
        "esDeveloperName": ES_NAME,
        "capabilitiesVersion": "1",
        "platform": "Web",
        "context": {"appName": "handover-miaw", "clientVersion": "0.1.0"},
    }


def message_body(text: str, message_id: str | None = None) -> bytes:
    """The body MiawClient.send_message posts for a text in an open session."""
    message = {
        "id": message_id or str(uuid.uuid4()),
        "messageType": "StaticContentMessage",
        "staticContent": {"formatType": "Text", "text": text},
    }
    return orjson.dumps({"message": message, "esDeveloperName": ES_NAME})


@dataclass
class RawConversation:
    token: str
    conversation_id: str
    stream: aiohttp.ClientResponse | None = None

    def headers(self) -> dict[str, str]:
        return {**JSON, "Authorization": f"Bearer {self.token}"}


async def post(http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> bytes:
    async with http.post(url, data=body, headers=headers, allow_redirects=False) as response:
        payload = await response.read()
        if response.status >= 300:
            raise RuntimeError(f"{url}: {response.status} {payload[:200]!r}")
        return payload


async def start(
    http: aiohttp.ClientSession, base: str, *, open_stream: bool = True, transcript: str | None = None
) -> tuple[RawConversation, dict[str, float]]:
    """token → stream → conversation → transcript, timing each call; the stream is left open."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    raw = await post(http, f"{base}{API}/authorization/unauthenticated/access-token", orjson.dumps(token_body()), JSON)
    timings["token"] = time.perf_counter() - t0
    conv = RawConversation(orjson.loads(raw)["accessToken"], str(uuid.uuid4()))
    if open_stream:
        t0 = time.perf_counter()
        headers = {
            "Authorization": f"Bearer {conv.token}",
            "Accept": "text/event-stream",
            "X-Org-Id": ORG_ID,
            "Last-Event-ID": "0",
        }
        conv.stream = await http.get(f"{base}/eventrouter/v1/sse", headers=headers, allow_redirects=False)
        if conv.stream.status != 200:
            raise RuntimeError(f"sse: {conv.stream.status}")
        timings["stream"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    body = orjson.dumps({"conversationId": conv.conversation_id, "esDeveloperName": ES_NAME})
    await post(http, f"{base}{API}/conversation", body, conv.headers())
    timings["conversation"] = time.perf_counter() - t0
    if transcript is not None:
        t0 = time.perf_counter()
        await post(http, f"{base}{API}/conversation/{conv.conversation_id}/message", message_body(transcript),
                   conv.headers())  # fmt: skip
        timings["transcript"] = time.perf_counter() - t0
    return conv, timings
