"""Fixtures for the page tests: a runtime serving the UI on a loopback port, and the whole web demo."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from handover_miaw.api import create_app
from handover_miaw.manifest import Manifest
from handover_miaw.settings import Settings
from handover_miaw.ui.demo_web import WebDemo, start_web_demo
from tests.waiting import wait_for

if TYPE_CHECKING:
    from aiohttp.test_utils import TestServer
    from playwright.async_api import Page

    from tests.browser import ConsoleWatch

StartUi = Callable[..., Awaitable[str]]


@pytest.fixture
def start_ui(tmp_path: Path, aiohttp_server: Any) -> StartUi:
    """Start a runtime with the UI (development mode unless told otherwise); returns the page's URL."""

    async def start(manifest: Manifest | None = None, **overrides: Any) -> str:
        settings = Settings(**{"data_dir": tmp_path / "data", "insecure_dev": True, "log_level": "ERROR", **overrides})
        server: TestServer = await aiohttp_server(create_app(settings, manifest))
        return str(server.make_url("/ui/"))

    return start


@pytest.fixture
async def web_demo(tmp_path: Path) -> AsyncIterator[WebDemo]:
    """Simulator, runtime and UI as `handover-miaw demo --web` runs them, on ephemeral loopback ports."""
    demo = await start_web_demo(tmp_path / "data")
    try:
        yield demo
    finally:
        await demo.stop()


async def open_view(page: Page, url: str, view: str) -> None:
    """Open one view of the page and wait until it has loaded."""
    await page.goto(f"{url}#{view}")
    await page.wait_for_selector(f"#view-{view}:not([hidden])", timeout=10_000)


def expect_http_errors(console: ConsoleWatch, status: int) -> None:
    """Chromium logs every refused request as a console error; a test that provokes one on purpose takes that
    status off the list (and only it), so any other error still fails the test. The refusal must have been seen."""
    console.accept_http_status(status)
    assert any(f"status of {status} " in e for e in console.provoked), (
        f"expected Chromium to report the HTTP {status}: {console.errors}"
    )


async def pause_clock(page: Page) -> None:
    """Put the page on Playwright's fake clock, paused: no page timer fires unless the test moves the clock
    (`clock.install()` alone keeps page time moving with the real clock)."""
    start = time.time()
    await page.clock.install(time=start)
    await page.clock.pause_at(start + 1)


async def run_clock_until(page: Page, period_ms: int, what: str, done: Callable[[], bool]) -> None:
    """Move the page's paused clock a period at a time until `done()`: a refresh may still be reading its
    answer when the clock first moves, and its timer then starts from the later time."""

    async def moved() -> bool:
        await page.clock.run_for(period_ms)
        return done()

    await wait_for(moved, what)
