"""The views that poll (the agent desk, Operations) do so only while someone can see them, and never stack one
refresh on another.

Their timers run on Playwright's fake clock (`page.clock`), paused before the page opens: time on the page moves
only when a test moves it, so "no poll while hidden" is checked over many polling periods without sleeping, and
a refresh that appears without the clock moving was made at once, not by a timer. The page is hidden as
tests/ui/visibility.py says.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
import pytest
from playwright.async_api import expect

from tests.ui.conftest import open_view, pause_clock, run_clock_until
from tests.ui.visibility import HIDE, SHOW, Polls
from tests.waiting import wait_for

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page, Route

    from handover_miaw.ui.demo_web import WebDemo

TIMEOUT = 10_000
MANY_POLLS_MS = 10_000


@dataclass(frozen=True)
class View:
    """A view that polls: its hash, its pause between two refreshes (its .js file's POLL_MS), the request a
    refresh makes, and the items a new handover adds to it."""

    name: str
    poll_ms: int
    is_poll: Callable[[str], bool]
    items: str

    def locator(self, page: Page) -> Locator:
        return page.locator(self.items)


DESK = View("desk", 700, lambda url: urlsplit(url).path.endswith("/_sim/conversations"), "#desk-list > li")
# One handover's own routes (its timeline) are not polls; the list is, with or without the state filter.
OPS = View("ops", 2_000, lambda url: urlsplit(url).path == "/v1/handovers", "#ops-handovers tbody tr")
VIEWS = pytest.mark.parametrize("view", [DESK, OPS], ids=lambda v: v.name)


async def _handover(web_demo: WebDemo, session: str) -> None:
    """Start a handover at the runtime: a new row in Operations, a new conversation (card) on the desk."""
    sim = web_demo.simulator
    conversations = len(sim.store.conversations)
    runtime = web_demo.url.removesuffix("/ui/")
    body = {"connector": "demo", "sessionId": session, "userId": "polling-views"}
    async with aiohttp.ClientSession() as http, http.post(f"{runtime}/v1/handovers", json=body) as response:
        assert response.ok, await response.text()
    await wait_for(lambda: len(sim.store.conversations) > conversations, f"the conversation of {session}", seconds=10)


async def _open(web_demo: WebDemo, page: Page, view: View) -> Polls:
    """The view on a paused fake clock, showing the one handover started before it opened."""
    await _handover(web_demo, "first")
    await pause_clock(page)
    polls = Polls(page, view.is_poll)
    await open_view(page, web_demo.url, view.name)
    await expect(view.locator(page)).to_have_count(1, timeout=TIMEOUT)
    return polls


class Held:
    """The view's poll requests, held unanswered by the test until `release`."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._release = asyncio.Event()

    async def hold(self, route: Route) -> None:
        self.routes.append(route)
        await self._release.wait()
        await route.continue_()

    def release(self) -> None:
        self._release.set()


@VIEWS
async def test_a_hidden_view_does_not_poll_and_refreshes_at_once_when_shown_again(
    web_demo: WebDemo, page: Page, view: View
) -> None:
    polls = await _open(web_demo, page, view)
    await page.evaluate(HIDE)
    await polls.settle(page)
    seen = polls.count
    await _handover(web_demo, "second")
    await page.clock.run_for(MANY_POLLS_MS)
    await polls.settle(page)
    assert polls.count == seen, f"the {view.name} view polled while the tab was hidden"
    await expect(view.locator(page)).to_have_count(1)

    await page.evaluate(SHOW)
    # The clock stands still: the new handover can only come from a refresh made at once on being shown.
    await expect(view.locator(page)).to_have_count(2, timeout=TIMEOUT)
    assert polls.count == seen + 1
    await run_clock_until(page, view.poll_ms, "the view to poll again once shown", lambda: polls.count > seen + 1)


@VIEWS
async def test_a_slow_refresh_is_not_stacked_by_the_next_polls(web_demo: WebDemo, page: Page, view: View) -> None:
    polls = await _open(web_demo, page, view)
    held = Held()
    await page.route(view.is_poll, held.hold)
    try:
        await run_clock_until(page, view.poll_ms, "the next poll, held by the test", lambda: len(held.routes) > 0)
        # Many polling periods pass while the server has not answered: still that one request.
        await page.clock.run_for(MANY_POLLS_MS)
        await polls.settle(page)
        assert len(held.routes) == 1, f"{len(held.routes)} refreshes in flight at once"
    finally:
        held.release()
    await run_clock_until(page, view.poll_ms, "the poll after the slow one", lambda: len(held.routes) > 1)


@VIEWS
async def test_leaving_the_view_stops_its_polling_and_coming_back_refreshes(
    web_demo: WebDemo, page: Page, view: View
) -> None:
    polls = await _open(web_demo, page, view)
    await open_view(page, web_demo.url, "chat")
    await polls.settle(page)
    seen = polls.count
    await _handover(web_demo, "second")
    # Away for many periods and a half: a timer kept beating while away would be half a period from its next
    # beat on return.
    await page.clock.run_for(MANY_POLLS_MS + view.poll_ms // 2)
    await polls.settle(page)
    assert polls.count == seen, f"the {view.name} view polled while another view was shown"

    await open_view(page, web_demo.url, view.name)
    await expect(view.locator(page)).to_have_count(2, timeout=TIMEOUT)  # the clock stands still: refreshed
    await polls.settle(page)
    # Polling starts again from that refresh (main.js may refresh twice on a visit, one right after the other):
    # nothing for a whole period after it (no timer left over from before), then the next poll.
    returned = polls.count
    assert seen + 1 <= returned <= seen + 2
    await page.clock.run_for(view.poll_ms - 1)
    await polls.settle(page)
    assert polls.count == returned, "the view polled again less than a period after the return"
    await run_clock_until(page, view.poll_ms, "the view to poll again on return", lambda: polls.count > returned)


async def test_a_refresh_asked_for_during_a_slow_one_runs_once_right_after_it(web_demo: WebDemo, page: Page) -> None:
    polls = await _open(web_demo, page, OPS)
    held = Held()
    await page.route(OPS.is_poll, held.hold)
    try:
        await page.get_by_role("button", name="Refresh").click()
        await wait_for(lambda: len(held.routes) == 1, "the refresh asked for, held by the test")
        # Asked for again, twice, while the runtime has not answered: still that one request.
        await page.get_by_role("button", name="Refresh").click()
        await page.get_by_label("State").select_option("queued")
        await polls.settle(page)
        assert len(held.routes) == 1, f"{len(held.routes)} refreshes in flight at once"
    finally:
        held.release()
    # The clock stands still: the one that follows comes right after the slow one, with the filter last chosen.
    await wait_for(lambda: len(held.routes) == 2, "the refresh asked for during the slow one")
    await polls.settle(page)
    assert len(held.routes) == 2, f"{len(held.routes) - 1} refreshes followed the slow one"
    assert held.routes[1].request.url.endswith("/v1/handovers?state=queued")
