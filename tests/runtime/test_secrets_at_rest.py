"""Secrets at rest: the data dir and the SQLite files are the owner's only; an ended handover's access and
identity tokens are erased from the store (read raw here; tests/store/test_erasure.py reads both engines);
the Cognigy urlToken is write-only; a whole Cognigy handover at DEBUG leaves no secret in any log line
(aiosqlite's parameter dump included)."""

from __future__ import annotations

import io
import logging
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog

from handover_miaw.api.keys import STORE
from handover_miaw.logs import configure_logging
from handover_miaw.settings import Settings

from .conftest import API_KEY, Bot, Factory, wait_for, wait_until

IDENTITY = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4iLCJleHAiOjQxMDI0NDQ4MDB9.aWRlbnRpdHktc2lnbmF0dXJl"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _whole_handover(bot: Bot) -> tuple[str, str]:
    """A handover of an authenticated user with traffic both ways, ended by the agent; (id, access token)."""
    handover = await bot.start(settings={"useIdentityToken": True, "identityToken": IDENTITY})
    hid, cid = handover["id"], handover["conversationId"]
    record = await bot.api.server.app[STORE].get_handover(hid)
    assert record is not None
    assert record.access_token
    await bot.sim.accept(cid, agent="Maria")
    await bot.sim.send_text(cid, "hello", agent="Maria")
    assert (await bot.api.post(f"/v1/handovers/{hid}/messages", json={"id": "m1", "text": "hi"})).status == 202
    await bot.sim.end_session(cid)
    await bot.wait_state(hid, "ended")
    return hid, record.access_token


async def test_the_data_dir_and_the_sqlite_files_are_the_owner_s_only(bot: Bot, settings: Settings) -> None:
    await bot.connector()
    await _whole_handover(bot)
    data = settings.data_dir
    assert _mode(data) == 0o700
    files = [data / "handover-miaw.db", data / "handover-miaw.db-wal", data / "handover-miaw.db-shm"]
    for file in files:
        assert _mode(file) == 0o600, file


async def test_an_older_install_s_files_are_tightened(start_runtime: Factory, settings: Settings) -> None:
    settings.data_dir.mkdir()
    database = settings.data_dir / "handover-miaw.db"
    sqlite3.connect(database).close()
    database.chmod(0o644)
    await start_runtime()
    assert _mode(database) == 0o600


async def test_an_ended_handover_s_tokens_are_erased_from_sqlite(bot: Bot, settings: Settings) -> None:
    await bot.connector()
    hid, token = await _whole_handover(bot)
    store = bot.api.server.app[STORE]
    await wait_until(lambda: _effects_done(store, hid), what="the end's MIAW calls")
    with sqlite3.connect(settings.data_dir / "handover-miaw.db") as raw:
        access, stored_settings = raw.execute(
            "SELECT access_token, settings FROM handovers WHERE id = ?", (hid,)
        ).fetchone()
    assert access is None
    assert "identityToken" not in orjson.loads(stored_settings)
    assert orjson.loads(stored_settings)["useIdentityToken"] is True
    assert token not in stored_settings


async def _effects_done(store: Any, hid: str) -> bool:
    record = await store.get_handover(hid)
    return record is not None and not record.pending_effects and record.access_token is None


async def test_the_cognigy_url_token_is_write_only(bot: Bot) -> None:
    await bot.connector(fmt="cognigy")
    for response in (await bot.api.get("/v1/connectors"), await bot.api.get("/v1/connectors/acme")):
        text = await response.text()
        assert "url-token-1" not in text
        assert "cognigy-api-key-1" not in text
    delivery = (await (await bot.api.get("/v1/connectors/acme")).json())["delivery"]
    assert delivery["urlTokenSet"] is True
    assert delivery["apiKeySet"] is True


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("DEBUG", json=True, stream=stream)
    yield stream
    logging.getLogger().handlers.clear()
    structlog.reset_defaults()


async def test_no_secret_in_any_log_line_with_the_cognigy_format(log_output: io.StringIO, bot: Bot) -> None:
    await bot.connector(fmt="cognigy")
    hid, token = await _whole_handover(bot)
    await wait_for(lambda: any(body.get("text") == "hello" for _, _, body in bot.receiver.requests), what="notify")
    await wait_for(
        lambda: any(b["data"]["handover"].get("status") == "ended" for _, _, b in bot.receiver.requests), what="end"
    )
    text = log_output.getvalue()
    assert len(text.splitlines()) > 10, "the test must see real log lines"
    assert "handover.ended" in text
    for secret in (token, IDENTITY, API_KEY, "url-token-1", "cognigy-api-key-1"):
        assert secret not in text, secret
    assert hid in text
