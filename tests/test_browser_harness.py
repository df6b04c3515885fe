"""The page-test harness itself: it drives Debian's Chromium and really catches console errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from aiohttp.test_utils import TestServer
    from playwright.async_api import Page

    from tests.browser import ConsoleWatch

PAGE = """<!doctype html><html><head><title>harness</title><link rel="icon" href="data:,"></head><body>
<button id="go" onclick="document.getElementById('out').textContent = 'clicked'">Go</button>
<p id="out"></p><button id="bad" onclick="console.error('boom')">Bad</button></body></html>"""


async def serve_page(aiohttp_server: object) -> TestServer:
    async def index(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    return await aiohttp_server(app)  # type: ignore[operator,no-any-return]


async def test_a_page_is_driven_by_clicks(aiohttp_server: object, page: Page) -> None:
    server = await serve_page(aiohttp_server)
    await page.goto(str(server.make_url("/")))
    await page.click("#go")
    await page.wait_for_function("document.getElementById('out').textContent === 'clicked'", timeout=5000)


async def test_a_console_error_is_caught(aiohttp_server: object, page: Page, console_errors: ConsoleWatch) -> None:
    server = await serve_page(aiohttp_server)
    await page.goto(str(server.make_url("/")))
    async with page.expect_console_message(timeout=5000):
        await page.click("#bad")
    assert console_errors.errors == ["console.error: boom"]
    # Caught on purpose: the fixture would fail this test for it.
    console_errors.errors.clear()
