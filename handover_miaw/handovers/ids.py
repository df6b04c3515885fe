"""Identifiers the runtime makes. Pure.

MIAW wants lowercase version-4 UUIDs for conversation and message ids (its server checks the version
and variant nibbles). Ids that must survive a restart unchanged (the transcript's message ids) are derived
from a hash and then stamped as version 4, so a re-send after a crash reuses the same id.
"""

from __future__ import annotations

import hashlib
import uuid

__all__ = ["derived_message_id", "new_handover_id", "new_miaw_id"]


def new_handover_id() -> str:
    """A new handover id: `ho_` and 32 hex digits."""
    return "ho_" + uuid.uuid4().hex


def new_miaw_id() -> str:
    """A fresh lowercase v4 UUID for MIAW."""
    return str(uuid.uuid4())


def derived_message_id(*parts: str) -> str:
    """A lowercase v4-shaped UUID that is always the same for the same parts: what
    `str(uuid.UUID(bytes=digest[:16], version=4))` gives, stamped and spelled directly (the UUID object
    cost several times the hash on every message relayed)."""
    digest = bytearray(hashlib.sha256("\x00".join(parts).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x40  # version 4
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
