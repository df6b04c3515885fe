"""How one envelope becomes an HTTP request for each delivery format. Pure: no I/O.

- `webhook`: POST the envelope to the connector's URL, signed (see envelope.py).
- `cognigy`: agent messages through the endpoint's notify call (reaches the user without running the
  flow); status and end through its inject call (runs the flow with `data.handover`). Body
  `{userId, sessionId, URLToken, text, data}`, header `X-API-Key`.
- `sse`: nothing is pushed; the bot platform reads GET /v1/handovers/{id}/events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from handover_miaw.delivery.envelope import SIGNATURE_HEADER, sign

__all__ = ["COGNIGY_INJECT_PATH", "COGNIGY_NOTIFY_PATH", "OutboundRequest", "build_request"]

COGNIGY_NOTIFY_PATH = "/new/v2.0/endpoint/notify"
COGNIGY_INJECT_PATH = "/new/v2.0/endpoint/inject"


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """A POST to make."""

    url: str
    body: bytes
    headers: dict[str, str]


def _cognigy(target: Mapping[str, Any], env: Mapping[str, Any]) -> OutboundRequest:
    data = env["data"]
    if env["type"] == "agent.message":
        path = COGNIGY_NOTIFY_PATH
        text = data.get("text") or ""
        payload: dict[str, Any] = {"handover": {"eventType": env["type"], "deliveryId": env["id"], **data}}
    else:
        path = COGNIGY_INJECT_PATH
        text = ""
        status = "ended" if env["type"] == "handover.ended" else data.get("status")
        payload = {"handover": {"status": status, "eventType": env["type"], "deliveryId": env["id"], "data": data}}
    body = {
        "userId": env["userId"],
        "sessionId": env["sessionId"],
        "URLToken": target["urlToken"],
        "text": text,
        "data": payload,
    }
    headers = {"Content-Type": "application/json", "X-API-Key": str(target["apiKey"])}
    return OutboundRequest(str(target["url"]).rstrip("/") + path, orjson.dumps(body), headers)


def build_request(target: Mapping[str, Any], env: Mapping[str, Any], now: int) -> OutboundRequest | None:
    """The request that delivers `env` to `target`; None for the pull format (sse). ValueError for a format
    this version does not know: the delivery is then retried and dead-lettered, never taken as delivered."""
    fmt = target.get("format")
    if fmt == "webhook":
        body = orjson.dumps(env)
        headers = {
            "Content-Type": "application/json",
            "X-Handover-Delivery": str(env["id"]),
            SIGNATURE_HEADER: sign(str(target["secret"]), body, now),
        }
        return OutboundRequest(str(target["url"]), body, headers)
    if fmt == "cognigy":
        return _cognigy(target, env)
    if fmt == "sse":
        return None
    raise ValueError(f"unknown delivery format {str(fmt)[:40]!r}")
