"""The page on a phone-sized screen: no view scrolls sideways; the handovers table scrolls in its own box."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from playwright.async_api import expect

from tests.ui.conftest import open_view

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from handover_miaw.ui.demo_web import WebDemo
    from tests.browser import ConsoleWatch

TIMEOUT = 10_000
VIEWS = ("editor", "chat", "desk", "ops", "package")


async def test_no_view_scrolls_sideways_at_375_pixels(
    web_demo: WebDemo, browser: Browser, console_errors: ConsoleWatch
) -> None:
    runtime = web_demo.url.removesuffix("/ui/")
    async with aiohttp.ClientSession() as http:
        # A handover gives the operations table a row and the desk a card, the widest content they show.
        start = {"connector": "demo", "sessionId": "a-rather-long-session-id-0123456789", "userId": "ann"}
        assert (await http.post(f"{runtime}/v1/handovers", json=start)).status == 201
    context = await browser.new_context(viewport={"width": 375, "height": 800})
    context.on("page", console_errors.attach)
    try:
        page = await context.new_page()
        for view in VIEWS:
            await open_view(page, web_demo.url, view)
            if view == "editor":
                await page.wait_for_selector("#validity[data-state]", timeout=TIMEOUT)
            if view == "desk":
                await page.locator("#desk-list > li").first.wait_for(timeout=TIMEOUT)
            if view == "ops":
                await expect(page.locator("#ops-handovers tbody tr")).to_have_count(1, timeout=TIMEOUT)
                # The table is wider than the screen; its own box scrolls, the page does not.
                box = page.locator("#ops-handovers").locator("xpath=..")
                assert await box.evaluate(
                    "e => e.scrollWidth > e.clientWidth && getComputedStyle(e).overflowX === 'auto'"
                )
            widths = await page.evaluate(
                "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert widths[0] <= widths[1], f"#{view} scrolls sideways: {widths}"
    finally:
        await context.close()
