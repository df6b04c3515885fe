"""What the polling views' tests share: hiding and showing the page, and counting a view's polls.

Headless Chromium never hides a page (another tab brought to the front, or a minimised window, leaves
`visibilityState` "visible"), so a test hides the page by overriding `document.visibilityState` and announcing
it with the `visibilitychange` event the browser would send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tests.waiting import wait_for

if TYPE_CHECKING:
    from playwright.async_api import Page, Request

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


class Polls:
    """A view's refreshes as the page sends them: every GET whose URL `is_poll` accepts."""

    def __init__(self, page: Page, is_poll: Callable[[str], bool]) -> None:
        self.count = 0
        self.sentinels = 0
        self._is_poll = is_poll
        page.on("request", self._sent)

    def _sent(self, request: Request) -> None:
        if request.method == "GET" and self._is_poll(request.url):
            self.count += 1
        if request.url.endswith(f"?{SENTINEL}"):
            self.sentinels += 1

    async def settle(self, page: Page) -> None:
        """Make sure every request the page sent so far has been counted: the page sends one of its own last,
        and requests are reported in the order they are sent."""
        sentinels = self.sentinels
        assert await page.evaluate(f"() => fetch('config.json?{SENTINEL}').then((r) => r.ok)")
        await wait_for(lambda: self.sentinels > sentinels, "the sentinel request to be reported")
