"""DNS rebinding against a runtime in development mode, in a real browser: Chromium resolves an attacker's
name to the runtime (as the attacker's DNS would once the page is loaded), so the page and the runtime share
an origin and nothing cross-origin stops its requests. The runtime refuses them by their `Host`; the same
requests from a page on `localhost` are answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
from yarl import URL

from tests.browser import CHROMIUM_ARGS, ConsoleWatch
from tests.ui.conftest import StartUi, expect_http_errors

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

REBOUND = "rebound.example"
CONNECTOR = (
    '{"config": {"baseUrl": "http://127.0.0.1:9", "organizationId": "00D000000000001", '
    '"esDeveloperName": "Bot_Handover"}, "delivery": {"format": "sse"}}'
)
JSON = "{'Content-Type': 'application/json'}"
CREATE = f"fetch('/v1/connectors/acme', {{method: 'PUT', headers: {JSON}, body: '{CONNECTOR}'}})"
LIST = "fetch('/v1/connectors')"


@pytest.fixture
async def runtime_url(start_ui: StartUi) -> URL:
    return URL(await start_ui())


@pytest.fixture
async def browser(chromium_executable: str, runtime_url: URL) -> AsyncIterator[Browser]:
    """The harness's Chromium with the attacker's name resolving to the runtime's loopback address."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_executable,
            headless=True,
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1"],
        )
        try:
            yield launched
        finally:
            await launched.close()


async def _open(page: Page, url: URL) -> None:
    """A page of that origin (the browser's favicon request answered, not left to the runtime's 404)."""
    await page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    await page.goto(str(url.with_path("/healthz")))


async def _status(page: Page, request: str) -> int:
    status: int = await page.evaluate(f"{request}.then(r => r.status)")
    return status


async def test_a_rebound_page_cannot_use_the_api(page: Page, runtime_url: URL, console_errors: ConsoleWatch) -> None:
    await _open(page, runtime_url.with_host(REBOUND))
    assert await _status(page, LIST) == 403
    assert await _status(page, CREATE) == 403
    body = await page.evaluate(f"{LIST}.then(r => r.json())")
    assert body["error"]["pointer"] == "/Host"
    expect_http_errors(console_errors, 403)
    await _open(page, runtime_url.with_host("localhost"))
    connectors = await page.evaluate(f"{LIST}.then(r => r.json())")
    assert connectors["connectors"] == []  # nothing was created


async def test_a_page_on_localhost_can(page: Page, runtime_url: URL) -> None:
    await _open(page, runtime_url.with_host("localhost"))
    assert await _status(page, LIST) == 200
    assert await _status(page, CREATE) == 201
