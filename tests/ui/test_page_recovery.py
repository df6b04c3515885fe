"""The page after a request failed: it says so where the user looks, and works again once the runtime answers,
without a reload."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from playwright.async_api import expect

from tests.ui.conftest import expect_http_errors, open_view, pause_clock
from tests.waiting import wait_for

if TYPE_CHECKING:
    from playwright.async_api import Page, Route

    from handover_miaw.ui.demo_web import WebDemo
    from tests.browser import ConsoleWatch

TIMEOUT = 10_000
BUSY = {"error": {"code": "unavailable", "message": "the runtime is busy"}}


class FailFirst:
    """Answers the first `times` requests of a route with a 503, then lets the rest through."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.seen = 0

    async def __call__(self, route: Route) -> None:
        self.seen += 1
        if self.seen <= self.times:
            await route.fulfill(status=503, json=BUSY)
        else:
            await route.continue_()


async def test_a_view_that_failed_to_load_is_loaded_again_on_next_use(
    web_demo: WebDemo, page: Page, console_errors: ConsoleWatch
) -> None:
    # The chat asks for the editor (its node settings) when the user wants a person, without showing it.
    manifest = FailFirst(1)
    await page.route("**/v1/manifest", manifest)
    await open_view(page, web_demo.url, "chat")
    talk = page.get_by_role("button", name="Talk to a person")
    await talk.click()
    await expect(page.locator("#chat-problem")).to_have_text("the runtime is busy", timeout=TIMEOUT)
    expect_http_errors(console_errors, 503)
    await expect(talk).to_be_enabled()
    await talk.click()
    await expect(page.locator("#chat-status")).to_have_text("Waiting for an agent", timeout=TIMEOUT)
    await expect(page.locator("#chat-problem")).to_be_hidden()
    assert manifest.seen == 2


async def test_a_page_whose_settings_did_not_load_says_so_and_tries_again(
    web_demo: WebDemo, page: Page, console_errors: ConsoleWatch
) -> None:
    config = FailFirst(2)
    await page.route("**/ui/config.json", config)
    await page.goto(f"{web_demo.url}#chat")
    problem = page.locator("#load-problem")
    await expect(problem).to_contain_text("could not load its settings (the runtime is busy)", timeout=TIMEOUT)
    expect_http_errors(console_errors, 503)
    await expect(page.locator("#view-chat")).to_be_visible(timeout=TIMEOUT)
    await expect(problem).to_be_hidden()
    assert config.seen == 3


async def test_a_timeline_that_failed_to_load_says_why_in_the_operations_view(
    web_demo: WebDemo, page: Page, console_errors: ConsoleWatch
) -> None:
    runtime = web_demo.url.removesuffix("/ui/")
    async with aiohttp.ClientSession() as http:
        body = {"connector": "demo", "sessionId": "timeline-1", "userId": "ann"}
        handover = await (await http.post(f"{runtime}/v1/handovers", json=body)).json()
    # The clock stands still: no refresh of the view shows the problem in the click's stead.
    await pause_clock(page)
    await open_view(page, web_demo.url, "ops")
    calls = FailFirst(1)
    await page.route("**/v1/handovers/*/calls", calls)
    open_timeline = page.get_by_role("button", name=f"Timeline of {handover['id']}")
    await open_timeline.click()
    problem = page.locator("#ops-problem")
    await expect(problem).to_have_text("the runtime is busy", timeout=TIMEOUT)
    expect_http_errors(console_errors, 503)
    await open_timeline.click()
    await expect(page.locator("#ops-timeline")).to_contain_text("created (demo, session timeline-1)", timeout=TIMEOUT)
    await expect(problem).to_be_hidden()


async def test_the_desk_clears_its_problem_once_the_simulator_answers_again(
    web_demo: WebDemo, page: Page, console_errors: ConsoleWatch
) -> None:
    await open_view(page, web_demo.url, "desk")
    await page.route("**/sim/_sim/conversations", lambda route: route.fulfill(status=503, json=BUSY))
    problem = page.locator("#desk-problem")
    await expect(problem).to_have_text("the runtime is busy", timeout=TIMEOUT)
    expect_http_errors(console_errors, 503)
    await page.unroute("**/sim/_sim/conversations")
    await expect(problem).to_be_hidden(timeout=TIMEOUT)


async def test_a_failed_desk_button_keeps_its_problem_over_the_next_refreshes(
    web_demo: WebDemo, page: Page, console_errors: ConsoleWatch
) -> None:
    await open_view(page, web_demo.url, "desk")
    await page.route("**/sim/_sim/faults/drop-streams", lambda route: route.fulfill(status=503, json=BUSY))
    polls: list[str] = []
    page.on("requestfinished", lambda r: polls.append(r.url) if r.url.endswith("/_sim/conversations") else None)
    await page.get_by_role("button", name="Drop streams").click()
    problem = page.locator("#desk-problem")
    await expect(problem).to_have_text("the runtime is busy", timeout=TIMEOUT)
    expect_http_errors(console_errors, 503)
    seen = len(polls)
    # The desk asks for the next refresh only once the last one is shown: two done means one shown after the error.
    await wait_for(lambda: len(polls) >= seen + 2, "two refreshes after the failed button")
    await expect(problem).to_have_text("the runtime is busy")
