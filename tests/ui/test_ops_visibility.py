"""The operations view polls the runtime only while someone can see it, and never stacks one refresh on another.

The view's timers run on Playwright's fake clock (`page.clock`), paused before the page opens (installed alone, it
follows the real clock): time on the page moves only when a test moves it, so "no poll while hidden" is checked
over many polling periods without sleeping, and a refresh that appears without the clock moving was made at once,
not by a timer. Headless Chromium never hides a page (another tab
brought to the front, or a minimised window, leaves `visibilityState` "visible"), so a test hides the page by
overriding `document.visibilityState` and announcing it with the `visibilitychange` event the browser would send.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
from playwright.async_api import expect

from tests.ui.conftest import open_view, pause_clock, run_clock_until
from tests.waiting import wait_for

if TYPE_CHECKING:
    from playwright.async_api import Page, Request, Route

    from handover_miaw.ui.demo_web import WebDemo

TIMEOUT = 10_000
POLL_MS = 2_000  # ops.js's pause between two refreshes
MANY_POLLS_MS = 10_000  # five polling periods

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


def _is_poll(url: str) -> bool:
    """A refresh's look at the handover list (GET /v1/handovers, with or without the state filter); one
    handover's own routes (its timeline) are not polls."""
    return urlsplit(url).path == "/v1/handovers"


class OpsPolls:
    """The view's refreshes as the page sends them: every GET of the runtime's handover list."""

    def __init__(self, page: Page) -> None:
        self.count = 0
        self.sentinels = 0
        page.on("request", self._sent)

    def _sent(self, request: Request) -> None:
        if request.method == "GET" and _is_poll(request.url):
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
    """Start a handover at the runtime (a new row in the view's handover list)."""
    runtime = web_demo.url.removesuffix("/ui/")
    body = {"connector": "demo", "sessionId": session, "userId": "ops-visibility"}
    async with aiohttp.ClientSession() as http, http.post(f"{runtime}/v1/handovers", json=body) as response:
        assert response.ok, await response.text()


async def _open_ops(web_demo: WebDemo, page: Page) -> OpsPolls:
    """The operations view on a paused fake clock, showing the one handover started before it opened."""
    await _handover(web_demo, "first")
    await pause_clock(page)
    polls = OpsPolls(page)
    await open_view(page, web_demo.url, "ops")
    await expect(page.locator("#ops-handovers tbody tr")).to_have_count(1, timeout=TIMEOUT)
    return polls


async def test_a_hidden_ops_view_does_not_poll_and_refreshes_at_once_when_shown_again(
    web_demo: WebDemo, page: Page
) -> None:
    polls = await _open_ops(web_demo, page)
    rows = page.locator("#ops-handovers tbody tr")
    await page.evaluate(HIDE)
    await polls.settle(page)
    seen = polls.count
    await _handover(web_demo, "second")
    await page.clock.run_for(MANY_POLLS_MS)
    await polls.settle(page)
    assert polls.count == seen, "the operations view polled the runtime while the tab was hidden"
    await expect(rows).to_have_count(1)

    await page.evaluate(SHOW)
    # The clock stands still: the new handover can only come from a refresh made at once on being shown.
    await expect(rows).to_have_count(2, timeout=TIMEOUT)
    assert polls.count == seen + 1
    await run_clock_until(page, POLL_MS, "the operations view to poll again once shown", lambda: polls.count > seen + 1)


async def test_a_slow_refresh_is_not_stacked_by_the_next_polls(web_demo: WebDemo, page: Page) -> None:
    polls = await _open_ops(web_demo, page)
    release = asyncio.Event()
    held: list[Route] = []

    async def hold(route: Route) -> None:
        held.append(route)
        await release.wait()
        await route.continue_()

    await page.route(_is_poll, hold)
    try:
        await run_clock_until(page, POLL_MS, "the next poll, held by the test", lambda: len(held) > 0)
        # Five polling periods pass while the runtime has not answered: still that one request.
        await page.clock.run_for(MANY_POLLS_MS)
        await polls.settle(page)
        assert len(held) == 1, f"{len(held)} refreshes in flight at once"
    finally:
        release.set()
    # Once it is answered, polling goes on.
    await run_clock_until(page, POLL_MS, "the poll after the slow one", lambda: len(held) > 1)


async def test_leaving_the_ops_view_stops_its_polling_and_coming_back_refreshes(web_demo: WebDemo, page: Page) -> None:
    polls = await _open_ops(web_demo, page)
    rows = page.locator("#ops-handovers tbody tr")
    await open_view(page, web_demo.url, "chat")
    await polls.settle(page)
    seen = polls.count
    await _handover(web_demo, "second")
    # Away for five and a half polling periods: a timer kept beating while away would be half a period from its
    # next beat on return.
    await page.clock.run_for(MANY_POLLS_MS + POLL_MS // 2)
    await polls.settle(page)
    assert polls.count == seen, "the operations view polled the runtime while another view was shown"

    await open_view(page, web_demo.url, "ops")
    await expect(rows).to_have_count(2, timeout=TIMEOUT)  # the clock stands still: refreshed on return
    await polls.settle(page)
    assert polls.count == seen + 1
    # Polling starts again from that refresh: nothing for a whole period after it (no timer left over from
    # before), then the next poll.
    await page.clock.run_for(POLL_MS - 1)
    await polls.settle(page)
    assert polls.count == seen + 1, "the operations view polled again less than a period after the return"
    await run_clock_until(page, POLL_MS, "the operations view to poll again on return", lambda: polls.count > seen + 1)


async def test_a_refresh_asked_for_during_a_slow_one_runs_once_right_after_it(web_demo: WebDemo, page: Page) -> None:
    polls = await _open_ops(web_demo, page)
    release = asyncio.Event()
    held: list[Route] = []

    async def hold(route: Route) -> None:
        held.append(route)
        await release.wait()
        await route.continue_()

    await page.route(_is_poll, hold)
    try:
        await page.get_by_role("button", name="Refresh").click()
        await wait_for(lambda: len(held) == 1, "the refresh asked for, held by the test")
        # Asked for again, twice, while the runtime has not answered: still that one request.
        await page.get_by_role("button", name="Refresh").click()
        await page.get_by_label("State").select_option("queued")
        await polls.settle(page)
        assert len(held) == 1, f"{len(held)} refreshes in flight at once"
    finally:
        release.set()
    # The clock stands still: the one that follows comes right after the slow one, with the filter last chosen.
    await wait_for(lambda: len(held) == 2, "the refresh asked for during the slow one")
    await polls.settle(page)
    assert len(held) == 2, f"{len(held) - 1} refreshes followed the slow one"
    assert held[1].request.url.endswith("/v1/handovers?state=queued")
