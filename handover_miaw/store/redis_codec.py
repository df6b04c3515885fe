"""How the Redis engine encodes records: handover fields are JSON (one JSON value per hash field); delivery
fields the scripts compute on (state, attempts, times) are plain strings.

Pure functions, no I/O: encoding checks the input before any script runs (a script that failed half-way
would not be rolled back), decoding reads what the scripts return.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from handover_miaw.store.records import (
    HANDOVER_FIELDS,
    IMMUTABLE_HANDOVER_FIELDS,
    ConnectorRecord,
    Delivery,
    DeliveryState,
    HandoverRecord,
    HandoverState,
)

__all__ = [
    "connector_from_value",
    "delivery_from_row",
    "encode_changes",
    "encode_fields",
    "handover_from_dict",
    "handover_from_row",
    "live_field",
    "pairs",
]

_HANDOVER_FIELDS = frozenset(HANDOVER_FIELDS)
# The columns the SQLite engine declares NOT NULL and stores as they are (JSON ones hold "null" fine).
_REQUIRED_FIELDS = frozenset(
    {"id", "connector", "session_id", "user_id", "state", "conversation_id", "created_at", "updated_at"}
)


def live_field(connector: str, session_id: str) -> str:
    """The `live` hash field of a session: the two JSON strings as the handover hash stores them."""
    return (orjson.dumps(connector) + orjson.dumps(session_id)).decode()


def encode_changes(changes: Mapping[str, Any], now: float) -> tuple[list[str], str, str]:
    """Checked changes, updated_at stamped unless given, as _encode_fields returns them."""
    unknown = sorted(set(changes) - _HANDOVER_FIELDS)
    if unknown:
        raise ValueError(f"unknown handover fields: {', '.join(unknown)}")
    immutable = sorted(set(changes) & IMMUTABLE_HANDOVER_FIELDS)
    if immutable:
        raise ValueError(f"handover fields cannot change: {', '.join(immutable)}")
    return encode_fields({"updated_at": now, **changes})


def encode_fields(values: Mapping[str, Any]) -> tuple[list[str], str, str]:
    """Field/JSON pairs, the state ('' when unchanged) and the created_at index score ('' when unchanged).

    ValueError for an unknown state, None for a required field, or a created_at that is not a number.
    """
    pairs: list[str] = []
    for name, value in values.items():
        if value is None and name in _REQUIRED_FIELDS:
            raise ValueError(f"handover field {name} cannot be None")
        pairs += [name, orjson.dumps(HandoverState(value).value if name == "state" else value).decode()]
    state = HandoverState(values["state"]).value if "state" in values else ""
    created_at = values.get("created_at", "")
    if created_at != "" and (isinstance(created_at, bool) or not isinstance(created_at, int | float)):
        raise ValueError("handover field created_at must be a number")
    return pairs, state, repr(created_at) if created_at != "" else ""


def pairs(row: Sequence[str]) -> dict[str, str]:
    """A hash as a script returns it (a flat field, value list)."""
    return dict(zip(row[::2], row[1::2], strict=True))


def handover_from_row(row: Sequence[str]) -> HandoverRecord:
    """A handover as a script returns its hash."""
    return handover_from_dict(pairs(row))


def handover_from_dict(values: Mapping[str, str]) -> HandoverRecord:
    """A handover from its hash's fields."""
    # A field added after a handover was written (queued_at) is absent from its hash: it reads as None.
    fields = {name: orjson.loads(values.get(name, "null")) for name in HANDOVER_FIELDS}
    fields["state"] = HandoverState(fields["state"])
    return HandoverRecord(**fields)


def connector_from_value(name: str, value: str) -> ConnectorRecord:
    """A connector from its stored JSON value."""
    stored = orjson.loads(value)
    return ConnectorRecord(name, stored["config"], stored["delivery"], stored["updated_at"])


def delivery_from_row(row: Sequence[str]) -> Delivery:
    """A delivery as a script returns its hash."""
    values = pairs(row)
    delivered_at = values.get("delivered_at")
    return Delivery(
        seq=int(values["seq"]),
        id=values["id"],
        handover_id=values["handover_id"],
        connector=values["connector"],
        type=values["type"],
        payload=orjson.loads(values["payload"]),
        state=DeliveryState(values["state"]),
        attempts=int(values["attempts"]),
        next_attempt_at=float(values["next_attempt_at"]),
        created_at=float(values["created_at"]),
        last_error=values.get("last_error"),
        delivered_at=None if delivered_at is None else float(delivered_at),
    )
