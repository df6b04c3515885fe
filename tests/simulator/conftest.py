"""Fixtures: a simulator with short intervals, its app on loopback, and the end-user API helper."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from handover_miaw.simulator import Simulator, SimulatorConfig, create_app

from .simhelpers import Api, FakeClock


@pytest.fixture
def config() -> SimulatorConfig:
    return SimulatorConfig(ping_interval_s=0.05, max_file_bytes=1024)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(config: SimulatorConfig) -> Simulator:
    return Simulator(config)


@pytest.fixture
async def client(aiohttp_client: Any, sim: Simulator) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(sim))
    return client


@pytest.fixture
def api(client: TestClient[Any, Any], sim: Simulator) -> Api:
    return Api(client, sim)
