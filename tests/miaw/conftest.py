"""Fixtures: the simulator on real loopback HTTP, a MiawClient on it, and event recorders.

Layered so a test overrides only what it needs: `sim_config` -> `sim` -> `server` -> `client`.
Every interval is small so the suite stays fast; waits are on conditions, never on sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from handover_miaw.miaw import AccessToken, MiawClient, ReconnectPolicy, RetryPolicy, stream_session
from handover_miaw.simulator import Simulator, SimulatorConfig, create_app

from .helpers import FakeClock, Recorder

ORG_ID = "00D000000000001"
DEPLOYMENT = "Bot_Handover_Custom"
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.02, max_retry_after=0.05)
FAST_RECONNECT = ReconnectPolicy(initial_delay=0.01, factor=1.5, max_delay=0.05)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim_config() -> SimulatorConfig:
    return SimulatorConfig(ping_interval_s=0.05, max_file_bytes=1024)


@pytest.fixture
def sim(sim_config: SimulatorConfig, clock: FakeClock) -> Simulator:
    return Simulator(sim_config, clock=clock)


@pytest.fixture
async def base_url(aiohttp_server: Any, sim: Simulator) -> str:
    server = await aiohttp_server(create_app(sim))
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
async def client(base_url: str, clock: FakeClock) -> AsyncIterator[MiawClient]:
    session = stream_session()
    try:
        yield MiawClient(
            base_url,
            ORG_ID,
            DEPLOYMENT,
            session=session,
            request_timeout=2.0,
            retry_policy=FAST_RETRY,
            clock=clock,
            rand=lambda: 0.5,
        )
    finally:
        await session.close()


@pytest.fixture
async def token(client: MiawClient) -> AccessToken:
    return await client.unauthenticated_access_token()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
