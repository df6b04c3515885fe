"""Delivery hosts are looked up on threads of their own: names whose DNS hangs (a lookup can block for
40 s) filled the loop's shared pool, and the MIAW session's lookups and the store's threaded work queued
behind them."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver

from handover_miaw.delivery.guard import GuardedResolver, delivery_session
from handover_miaw.delivery.targets import TargetPolicy
from tests.waiting import wait_for


async def test_hung_delivery_lookups_hold_back_no_other_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real = socket.getaddrinfo
    entered: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".hung.test"):
            entered.append(host)
            release.wait()
            raise socket.gaierror(socket.EAI_AGAIN, "temporary failure")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    resolver = GuardedResolver(TargetPolicy(open=True))
    hung = [asyncio.ensure_future(resolver.resolve(f"r{n}.hung.test", 443)) for n in range(32)]
    try:
        # Every thread the lookups can take is taken (the loop's shared pool has min(32, CPUs + 4)).
        await wait_for(lambda: len(entered) >= min(8, (os.cpu_count() or 1) + 4), "the hung lookups")
        async with asyncio.timeout(5):
            # What the MIAW session's resolver does: the loop's own getaddrinfo, on the loop's shared pool.
            assert await asyncio.get_running_loop().getaddrinfo("localhost", 443)
            assert await asyncio.to_thread(lambda: "the store's threaded work") == "the store's threaded work"
    finally:
        release.set()
        for outcome in await asyncio.gather(*hung, return_exceptions=True):
            assert isinstance(outcome, OSError)
        await resolver.close()


async def test_closing_the_delivery_session_closes_its_resolver() -> None:
    # aiohttp's connector closes only a resolver it made itself: the guarded one (and the lookup threads it
    # owns) was never closed.
    closed: list[bool] = []

    class Inner(AbstractResolver):
        async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> Any:
            raise OSError("not used here")

        async def close(self) -> None:
            closed.append(True)

    session = delivery_session(TargetPolicy(open=True), Inner())
    await session.close()
    assert closed == [True]
