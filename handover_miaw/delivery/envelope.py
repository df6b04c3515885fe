"""Delivery envelopes and webhook signatures. Pure: no I/O.

Envelope: {id, type, handoverId, connector, sessionId, userId, occurredAt, data}; `id` is derived from the
cause (MIAW entry id + what it produced), so the same cause always gives the same id and a receiver can
de-duplicate across retries, restarts and duplicate MIAW events.

Signature (header `X-Handover-Signature: t=<unix seconds>,v1=<hex>`): HMAC-SHA256 with the connector's
secret over `<t>.<raw body>`. A receiver recomputes it, compares in constant time, and refuses a `t`
outside its replay window (default 300 s). `t` is the time of the attempt, so a retried delivery carries
a fresh signature; the envelope `id` stays the same, which is what a receiver de-duplicates on.

Verification recipe for a receiver (standard library only; tests/delivery/test_envelope.py runs it):

```python
import hashlib, hmac, time

def verify_delivery(secret: str, raw_body: bytes, header: str, window_s: int = 300) -> bool:
    # Use the raw request bytes, before any JSON parsing: re-serialising changes them.
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if "t" not in fields or "v1" not in fields or not (fields["t"].isascii() and fields["t"].isdigit()):
        return False
    if abs(time.time() - int(fields["t"])) > window_s:
        return False  # too old (or from the future): a replay
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])
```

Then de-duplicate on the envelope's `id` (deliveries are at least once) and answer 2xx; a 408, 425, 429 or 5xx,
a timeout or a refused connection is retried with backoff, in order per handover, and any other answer
dead-letters the delivery (redirects are not followed)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from handover_miaw.timestamps import iso_utc

__all__ = [
    "SIGNATURE_HEADER",
    "SignatureError",
    "delivery_id",
    "envelope",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "X-Handover-Signature"
DEFAULT_TOLERANCE_S = 300
_NAMESPACE = uuid.UUID("6f1c9a52-1d2e-4f7e-9d6a-2b7f0f3c8e11").bytes


class SignatureError(ValueError):
    """A webhook signature that does not verify."""


def delivery_id(handover_id: str, key: str) -> str:
    """A stable delivery id for one cause of one handover: the hex of a name-based (version 5) UUID."""
    # uuid.uuid5's bytes, without building a UUID object: one per agent event was 2% of fan-in's CPU.
    name = _NAMESPACE + f"{handover_id}\x00{key}".encode()
    digest = bytearray(hashlib.sha1(name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return "dl_" + digest.hex()


def envelope(
    *,
    id: str,
    type: str,
    handover_id: str,
    connector: str,
    session_id: str,
    user_id: str,
    occurred_at: float,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The delivery body as the bot platform receives it."""
    return {
        "id": id,
        "type": type,
        "handoverId": handover_id,
        "connector": connector,
        "sessionId": session_id,
        "userId": user_id,
        "occurredAt": iso_utc(occurred_at),
        "data": data,
    }


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for a body sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify(secret: str, body: bytes, header: str, now: float, tolerance_s: int = DEFAULT_TOLERANCE_S) -> None:
    """Raise SignatureError unless the header signs this body within the replay window."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError) as exc:
        raise SignatureError("malformed signature header") from exc
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError("signature timestamp outside the replay window")
    if not hmac.compare_digest(given, _digest(secret, timestamp, body)):
        raise SignatureError("signature does not match")
