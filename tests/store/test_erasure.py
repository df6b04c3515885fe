"""An ended handover's tokens, erased as the service erases them (`erased_tokens` in the ending write), are
gone from the raw store of every engine: no column, hash field or value holds them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import redis

from handover_miaw.handovers.credentials import erased_tokens
from handover_miaw.store import Store
from handover_miaw.store.records import HandoverState
from tests.store.conftest import REDIS_URL
from tests.store.factories import handover

TOKEN = "access-token-to-erase-0123456789"
IDENTITY = "identity-token-to-erase-0123456789"


async def test_the_ending_write_erases_the_tokens(
    store: Store, engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    record = handover(
        state=HandoverState.ACTIVE,
        access_token=TOKEN,
        settings={"useIdentityToken": True, "identityToken": IDENTITY, "sendTranscript": True},
    )
    await store.create_handover(record)
    ended = {"state": "ended", "end_status": "completed", "end_reason": "agent_ended", **erased_tokens(record)}
    assert await store.record_event(record.id, "entry-end", ended, [])
    stored = await store.get_handover(record.id)
    assert stored is not None
    assert stored.access_token is None
    assert stored.settings == {"useIdentityToken": True, "sendTranscript": True}
    if engine == "sqlite":
        with sqlite3.connect(tmp_path / "store.db") as raw:
            rows = raw.execute("SELECT * FROM handovers").fetchall()
        values = [str(value) for row in rows for value in row]
    else:
        namespace = request.getfixturevalue("redis_namespace")
        with redis.Redis.from_url(REDIS_URL, decode_responses=True) as client:
            values = list(client.hgetall(f"{namespace}:h:{record.id}").values())
    assert values
    assert not [value for value in values if TOKEN in value or IDENTITY in value]
    assert erased_tokens(stored) == {}
