"""Secrets at rest: the data dir and the SQLite files are the owner's only; an ended handover's access and
identity tokens are erased from the store (read raw: SQLite, and Redis under a runtime process);
the Cognigy urlToken is write-only; a whole Cognigy handover at DEBUG leaves no secret in any log line."""

from __future__ import annotations

import io
import sqlite3
import stat
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import redis.asyncio

from handover_miaw.api.app_keys import HANDOVERS
from handover_miaw.settings import Settings
from handover_miaw.simulator import Simulator
from tests.processes import RuntimeProcess, free_port
from tests.waiting import wait_for

from .conftest import API_KEY, ORG_ID, SECRET, Bot, Factory, Receiver

REDIS = "redis://127.0.0.1:6379/0"
IDENTITY = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4iLCJleHAiOjQxMDI0NDQ4MDB9.aWRlbnRpdHktc2lnbmF0dXJl"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _whole_handover(bot: Bot) -> tuple[str, str]:
    """A handover of an authenticated user with traffic both ways, ended by the agent; (id, access token)."""
    handover = await bot.start(settings={"useIdentityToken": True, "identityToken": IDENTITY})
    hid, cid = handover["id"], handover["conversationId"]
    record = await bot.api.server.app[HANDOVERS].store.get_handover(hid)
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


async def test_serve_creates_them_so_too(tmp_path: Path, sim_url: str, receiver: Receiver) -> None:
    connectors = tmp_path / "connectors.json"
    config = {"baseUrl": sim_url, "organizationId": ORG_ID, "esDeveloperName": "Bot_Handover_Custom"}
    delivery = {"format": "webhook", "url": f"{receiver.url}/hook", "secret": SECRET}
    connectors.write_bytes(orjson.dumps({"connectors": {"acme": {"config": config, "delivery": delivery}}}))
    data = tmp_path / "nested" / "data"
    runtime = RuntimeProcess(free_port(), data, connectors, tmp_path / "runtime.log", {})
    try:
        async with aiohttp.ClientSession() as http:
            await runtime.start(http)
        assert _mode(data) == 0o700
        for file in (data / "handover-miaw.db", data / "handover-miaw.db-wal", data / "handover-miaw.db-shm"):
            assert _mode(file) == 0o600, file
    finally:
        await runtime.stop()


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
    store = bot.api.server.app[HANDOVERS].store
    await wait_for(lambda: _effects_done(store, hid), "the end's MIAW calls")
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


async def test_no_secret_in_any_log_line_with_the_cognigy_format(log_output: io.StringIO, bot: Bot) -> None:
    await bot.connector(fmt="cognigy")
    hid, token = await _whole_handover(bot)
    await wait_for(lambda: any(body.get("text") == "hello" for _, _, body in bot.receiver.requests), "notify")
    await wait_for(
        lambda: any(b["data"]["handover"].get("status") == "ended" for _, _, b in bot.receiver.requests), "end"
    )
    text = log_output.getvalue()
    assert len(text.splitlines()) > 10, "the test must see real log lines"
    assert "handover.ended" in text
    for secret in (token, IDENTITY, API_KEY, "url-token-1", "cognigy-api-key-1"):
        assert secret not in text, secret
    assert hid in text


async def test_an_ended_handover_s_tokens_are_erased_from_redis(
    tmp_path: Path, sim: Simulator, sim_url: str, receiver: Receiver
) -> None:
    # A runtime process of its own on the real Redis, in a namespace of the test's own.
    namespace = f"hm-test-{uuid.uuid4().hex}"
    connectors = tmp_path / "connectors.json"
    config = {"baseUrl": sim_url, "organizationId": ORG_ID, "esDeveloperName": "Bot_Handover_Custom"}
    delivery = {"format": "webhook", "url": f"{receiver.url}/hook", "secret": SECRET}
    connectors.write_bytes(orjson.dumps({"connectors": {"acme": {"config": config, "delivery": delivery}}}))
    env = {"HANDOVER_MIAW_STORE": f"{REDIS}?namespace={namespace}", "HANDOVER_MIAW_LOG_LEVEL": "WARNING"}
    runtime = RuntimeProcess(free_port(), tmp_path / "data", connectors, tmp_path / "runtime.log", env)
    raw = redis.asyncio.Redis.from_url(REDIS, decode_responses=True)
    try:
        async with aiohttp.ClientSession() as http:
            await runtime.start(http)
            body = {"connector": "acme", "sessionId": "s1", "userId": "u1"}
            body["settings"] = {"useIdentityToken": True, "identityToken": IDENTITY}
            async with http.post(f"{runtime.url}/v1/handovers", json=body) as response:
                assert response.status == 201, await response.text()
                handover = await response.json()
            key = f"{namespace}:h:{handover['id']}"
            token = orjson.loads(await raw.hget(key, "access_token") or "null")
            assert token
            await sim.accept(handover["conversationId"], agent="Maria")
            await sim.end_session(handover["conversationId"])

            async def erased() -> bool:
                return await raw.hget(key, "access_token") == "null"

            await wait_for(erased, "the ended handover's token erased", seconds=10)
            stored = await raw.hgetall(key)
            assert orjson.loads(stored["state"]) == "ended"
            assert "identityToken" not in orjson.loads(stored["settings"])
            assert not [value for value in stored.values() if token in value or IDENTITY in value]
    finally:
        await runtime.stop()
        keys = [k async for k in raw.scan_iter(match=f"{namespace}:*", count=500)]
        if keys:
            await raw.delete(*keys)
        await raw.aclose()
