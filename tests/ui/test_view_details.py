"""Details of the views that a keyboard, a screen reader or a phone depends on: the focus kept over a refresh,
status lines written only when they change, long words wrapped, the preview's sizes as the runtime counts."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
from playwright.async_api import expect

from tests.ui.conftest import open_view, pause_clock, run_clock_until
from tests.ui.visibility import Polls
from tests.waiting import wait_for

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

    from handover_miaw.ui.demo_web import WebDemo
    from tests.browser import ConsoleWatch

TIMEOUT = 10_000
OPS_POLL_MS = 2_000  # ops.js POLL_MS
LONG = 3_000  # characters without a space: wider than any screen


async def _start(web_demo: WebDemo, session: str) -> str:
    """Start a handover at the runtime; returns its id."""
    runtime = web_demo.url.removesuffix("/ui/")
    body = {"connector": "demo", "sessionId": session, "userId": "ann"}
    async with aiohttp.ClientSession() as http, http.post(f"{runtime}/v1/handovers", json=body) as response:
        assert response.ok, await response.text()
        return str((await response.json())["id"])


async def _state(web_demo: WebDemo, handover_id: str) -> str:
    runtime = web_demo.url.removesuffix("/ui/")
    async with aiohttp.ClientSession() as http, http.get(f"{runtime}/v1/handovers/{handover_id}") as response:
        return str((await response.json())["state"])


async def test_the_operations_view_keeps_the_keyboard_focus_over_its_refreshes(web_demo: WebDemo, page: Page) -> None:
    handover_id = await _start(web_demo, "focus-1")
    sim = web_demo.simulator
    await wait_for(lambda: bool(sim.store.conversations), "the conversation at the simulator", seconds=10)
    await pause_clock(page)
    polls = Polls(page, lambda url: urlsplit(url).path == "/v1/handovers")
    await open_view(page, web_demo.url, "ops")
    row = page.locator("#ops-handovers tbody tr")
    await expect(row).to_have_count(1, timeout=TIMEOUT)
    button = page.get_by_role("button", name=f"Timeline of {handover_id}")
    await button.focus()
    # The row changes (an agent takes the chat) and the view shows it, the focus staying where it was.
    conversation = next(iter(sim.store.conversations.values()))
    await sim.accept(conversation.id, "Maria")

    async def active() -> bool:
        return await _state(web_demo, handover_id) == "active"

    await wait_for(active, "the handover active at the runtime", seconds=10)
    seen = polls.count
    await run_clock_until(page, OPS_POLL_MS, "the next refresh", lambda: polls.count > seen)
    await expect(row.locator("td").nth(1)).to_have_text("active", timeout=TIMEOUT)
    await expect(row.locator("td").nth(4)).to_have_text("Maria")
    await expect(button).to_be_focused()


async def test_no_view_scrolls_sideways_at_375_pixels_with_long_words(
    web_demo: WebDemo, browser: Browser, console_errors: ConsoleWatch
) -> None:
    sim = web_demo.simulator
    context = await browser.new_context(viewport={"width": 375, "height": 800})
    context.on("page", console_errors.attach)
    try:
        page = await context.new_page()
        await open_view(page, web_demo.url, "chat")
        await page.get_by_role("button", name="Talk to a person").click()
        await expect(page.locator("#chat-status")).to_have_text("Waiting for an agent", timeout=TIMEOUT)
        await wait_for(lambda: bool(sim.store.conversations), "the conversation at the simulator", seconds=10)
        conversation = next(iter(sim.store.conversations.values()))
        await sim.accept(conversation.id, "A" * 300)
        await sim.send_text(conversation.id, "W" * LONG, "Maria")
        await page.get_by_label("Your message").fill("U" * LONG)
        await page.get_by_label("Your message").press("Enter")
        await expect(page.locator("#chat-log li.agent")).to_have_count(1, timeout=TIMEOUT)
        await wait_for(lambda: bool(conversation.end_user_messages), "the user's message at the desk")
        handover_id = await page.evaluate("() => JSON.parse(sessionStorage.getItem('hm.chat')).handoverId")
        checks = {
            "chat": "#chat-log li.agent",
            "desk": ".desk-messages li",
            "ops": "#ops-timeline li",
        }
        sideways = {}
        for view, shown in checks.items():
            await open_view(page, web_demo.url, view)
            if view == "ops":
                await page.get_by_role("button", name=f"Timeline of {handover_id}").click()
            await page.locator(shown).first.wait_for(timeout=TIMEOUT)
            widths = await page.evaluate(
                "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            if widths[0] > widths[1]:
                sideways[view] = widths
        assert not sideways, f"these views scroll sideways: {sideways}"
    finally:
        await context.close()


async def test_the_desk_writes_a_status_line_only_when_it_changes(web_demo: WebDemo, page: Page) -> None:
    await _start(web_demo, "quiet-1")
    polls = Polls(page, lambda url: urlsplit(url).path.endswith("/_sim/conversations"))
    await open_view(page, web_demo.url, "desk")
    status = page.locator("#desk-list > li .desk-status")
    await expect(status).to_contain_text("routing", timeout=TIMEOUT)
    # A role=status line is read out on every write: refreshes that change nothing must not write it.
    await status.evaluate(
        """(line) => {
          window.statusWrites = 0;
          new MutationObserver((records) => { window.statusWrites += records.length; })
            .observe(line, { childList: true, characterData: true, subtree: true });
        }"""
    )
    seen = polls.count
    # The desk asks for a refresh only once the last one is shown: three asked, two shown.
    await wait_for(lambda: polls.count >= seen + 3, "three refreshes of the desk")
    assert await page.evaluate("() => window.statusWrites") == 0


async def test_the_preview_counts_characters_as_the_runtime_splits_them(web_demo: WebDemo, page: Page) -> None:
    await open_view(page, web_demo.url, "editor")
    await page.get_by_label("Send Transcript as a first message").check()
    await page.wait_for_selector("#validity[data-state=valid]", timeout=TIMEOUT)
    # Each of these characters is two UTF-16 units and one code point, as the runtime counts it.
    await page.get_by_label("Sample transcript").fill("user: " + "\U0001f600 " * 1_600 + "\nbot: hello")
    items = page.locator("#preview-messages li")
    await expect(items.nth(1)).to_be_visible(timeout=TIMEOUT)  # split past 3000 characters
    for n in range(await items.count()):
        text = await items.nth(n).locator("pre").text_content()
        assert text is not None
        assert len(text) <= 3_000
        await expect(items.nth(n).locator(".hint")).to_have_text(f"{len(text)} characters")
