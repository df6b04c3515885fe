"""An `after` the API never issued is a 400 naming `/after` on every list and both engines (README, paging):
a handovers cursor whose time part Python's float() took but Redis did not (`1_0`, Arabic-Indic digits) was
a 500 on Redis, and any connectors cursor was taken as a position (`GET /v1/connectors?after=AA`: 200)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from .conftest import REDIS, Factory


def _after(cursor: str) -> str:
    return base64.urlsafe_b64encode(cursor.encode()).decode().rstrip("=")


async def _runtime(engine: str, redis_namespace: str, start_runtime: Factory) -> TestClient[Any, Any]:
    return await start_runtime(store=f"{REDIS}?namespace={redis_namespace}" if engine == "redis" else None)


@pytest.mark.parametrize("engine", ["sqlite", "redis"])
@pytest.mark.parametrize("cursor", ["1_0:0123456789abcdef:ho_1", "\u0661:0123456789abcdef:ho_1", "1_0:1", "\u0661:1"])
async def test_a_handovers_cursor_with_a_score_never_issued_is_400(
    redis_namespace: str, start_runtime: Factory, engine: str, cursor: str
) -> None:
    api = await _runtime(engine, redis_namespace, start_runtime)
    response = await api.get(f"/v1/handovers?after={_after(cursor)}")
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["pointer"] == "/after"


@pytest.mark.parametrize("engine", ["sqlite", "redis"])
@pytest.mark.parametrize("after", ["AA", _after("Acme"), _after("a b")])
async def test_a_connectors_cursor_that_names_no_connector_is_400(
    redis_namespace: str, start_runtime: Factory, engine: str, after: str
) -> None:
    api = await _runtime(engine, redis_namespace, start_runtime)
    response = await api.get(f"/v1/connectors?after={after}")
    assert response.status == 400, await response.text()
    assert (await response.json())["error"]["pointer"] == "/after"
