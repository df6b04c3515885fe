"""The agent desk polls the simulator only while someone can see it, and never stacks one refresh on another.

The desk's timers run on Playwright's fake clock (`page.clock`), paused: time on the page moves only when a
test moves it, so "no poll while hidden" is checked over many polling periods without sleeping, and a refresh
that appears without the clock moving was made at once, not by a timer. Headless Chromium never hides a page
(another tab brought to the front, or a minimised window, leaves `visibilityState` "visible"), so a test hides
the page by overriding `document.visibilityState` and announcing it with the `visibilitychange` event the
browser would send.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiohttp
from playwright.async_api import expect

from tests.ui.conftest import open_view, pause_clock, run_clock_until
from tests.waiting import wait_for

if TYPE_CHECKING:
    from playwright.async_api import Page, Request, Route

    from handover_miaw.ui.demo_web import WebDemo

TIMEOUT = 10_000
POLL_MS = 700  # desk.js's pause between two refreshes
MANY_POLLS_MS = 10_000  # over a dozen polling periods

HIDE = """() => {
  Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
  Object.defineProperty(document, "hidden", { value: true, configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""
# Removing the page's own properties lets Document.prototype's real getters answer again.
SHOW = """() => {
  delete document.visibilityState;
  delete document.hidden;
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SENTINEL = "sentinel-request"


class DeskPolls:
    """The desk's refreshes as the page sends them: every GET of the simulator's conversation list."""

    def __init__(self, page: Page) -> None:
        self.count = 0
        self.sentinels = 0
        page.on("request", self._sent)

    def _sent(self, request: Request) -> None:
        if request.method == "GET" and request.url.endswith("/_sim/conversations"):
            self.count += 1
        if request.url.endswith(f"?{SENTINEL}"):
            self.sentinels += 1

    async def settle(self, page: Page) -> None:
        """Make sure every request the page sent so far has been counted: the page sends one of its own last,
        and requests are reported in the order they are sent."""
        sentinels = self.sentinels
        assert await page.evaluate(f"() => fetch('config.json?{SENTINEL}').then((r) => r.ok)")
        await wait_for(lambda: self.sentinels > sentinels, "the sentinel request to be reported")


async def _handover(web_demo: WebDemo, session: str) -> None:
    """Start a handover at the runtime (a new conversation at the simulator, a new card on the desk)."""
    sim = web_demo.simulator
    conversations = len(sim.store.conversations)
    runtime = web_demo.url.removesuffix("/ui/")
    body = {"connector": "demo", "sessionId": session, "userId": "desk-visibility"}
    async with aiohttp.ClientSession() as http, http.post(f"{runtime}/v1/handovers", json=body) as response:
        assert response.ok, await response.text()
    await wait_for(lambda: len(sim.store.conversations) > conversations, f"the conversation of {session}", seconds=10)


async def _open_desk(web_demo: WebDemo, page: Page) -> DeskPolls:
    """The desk on a paused fake clock, showing the one conversation started before it opened."""
    await _handover(web_demo, "first")
    await pause_clock(page)
    polls = DeskPolls(page)
    await open_view(page, web_demo.url, "desk")
    await expect(page.locator("#desk-list > li")).to_have_count(1, timeout=TIMEOUT)
    return polls


async def test_a_hidden_desk_does_not_poll_and_refreshes_at_once_when_shown_again(
    web_demo: WebDemo, page: Page
) -> None:
    polls = await _open_desk(web_demo, page)
    cards = page.locator("#desk-list > li")
    await page.evaluate(HIDE)
    await polls.settle(page)
    seen = polls.count
    await _handover(web_demo, "second")
    await page.clock.run_for(MANY_POLLS_MS)
    await polls.settle(page)
    assert polls.count == seen, "the desk polled the simulator while the tab was hidden"
    await expect(cards).to_have_count(1)

    await page.evaluate(SHOW)
    # The clock stands still: the new conversation can only come from a refresh made at once on being shown.
    await expect(cards).to_have_count(2, timeout=TIMEOUT)
    assert polls.count == seen + 1
    await run_clock_until(page, POLL_MS, "the desk to poll again once shown", lambda: polls.count > seen + 1)


async def test_a_slow_refresh_is_not_stacked_by_the_next_polls(web_demo: WebDemo, page: Page) -> None:
    polls = await _open_desk(web_demo, page)
    release = asyncio.Event()
    held: list[Route] = []

    async def hold(route: Route) -> None:
        held.append(route)
        await release.wait()
        await route.continue_()

    await page.route("**/_sim/conversations", hold)
    try:
        await run_clock_until(page, POLL_MS, "the next poll, held by the test", lambda: len(held) > 0)
        # A dozen polling periods pass while the simulator has not answered: still that one request.
        await page.clock.run_for(MANY_POLLS_MS)
        await polls.settle(page)
        assert len(held) == 1, f"{len(held)} refreshes in flight at once"
    finally:
        release.set()
    # Once it is answered, the next poll follows one period later.
    await run_clock_until(page, POLL_MS, "the poll after the slow one", lambda: len(held) > 1)


async def test_leaving_the_desk_view_stops_its_polling_and_coming_back_refreshes(web_demo: WebDemo, page: Page) -> None:
    polls = await _open_desk(web_demo, page)
    cards = page.locator("#desk-list > li")
    await open_view(page, web_demo.url, "chat")
    await polls.settle(page)
    seen = polls.count
    await _handover(web_demo, "second")
    await page.clock.run_for(MANY_POLLS_MS)
    await polls.settle(page)
    assert polls.count == seen, "the desk polled the simulator while another view was shown"

    await open_view(page, web_demo.url, "desk")
    await expect(cards).to_have_count(2, timeout=TIMEOUT)  # the clock stands still: refreshed on return
    await run_clock_until(page, POLL_MS, "the desk to poll again on return", lambda: polls.count > seen + 1)
