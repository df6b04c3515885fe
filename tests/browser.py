"""Headless Chromium for page tests: Debian's `chromium` driven by Python playwright, failing on console errors.

Loaded as a pytest plugin by tests/conftest.py. No browser is downloaded: playwright is pointed at the binary the
`chromium` package installs (found with `shutil.which`); a machine without it skips the page tests with the
command that installs it, and CI (`.ci/run`) installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

# The flags a headless Chromium needs on this closed network as root: without the background-networking ones it
# keeps trying to reach Google's hosts and logs refused connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """The Debian `chromium` binary, or None when the package is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class ConsoleWatch:
    """Console errors and uncaught page errors seen by every page of one context."""

    errors: list[str] = field(default_factory=list)
    provoked: list[str] = field(default_factory=list)
    _accepted: set[int] = field(default_factory=set)

    def accept_http_status(self, status: int) -> None:
        """Take Chromium's "Failed to load resource" lines for `status` off the error list, now and for the rest of
        the test: a test that provokes a refusal on purpose may see several requests already in flight refused."""
        self._accepted.add(status)
        for entry in [e for e in self.errors if self._is_accepted(e)]:
            self.errors.remove(entry)
            self.provoked.append(entry)

    def _is_accepted(self, entry: str) -> bool:
        return "Failed to load resource" in entry and any(f"status of {s} " in entry for s in self._accepted)

    def attach(self, page: Page) -> None:
        """Record the page's console errors and uncaught exceptions."""
        page.on("console", lambda message: self._console(message.type, message.text))
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))

    def _console(self, kind: str, text: str) -> None:
        if kind != "error":
            return
        entry = f"console.error: {text}"
        (self.provoked if self._is_accepted(entry) else self.errors).append(entry)


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Path of Debian's Chromium; skips the test when the package is missing."""
    path = chromium_path()
    if path is None and os.environ.get("CI"):
        pytest.fail("CI must have Debian's chromium: .ci/run installs it")
    if path is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture
async def browser(chromium_executable: str) -> AsyncIterator[Browser]:
    """A headless Chromium of the test's own."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def console_errors() -> Iterator[ConsoleWatch]:
    """Collects console errors of the test's pages and fails the test if there was any."""
    watch = ConsoleWatch()
    yield watch
    assert not watch.errors, "the page logged errors:\n" + "\n".join(watch.errors)


@pytest.fixture
def browser_context_options() -> dict[str, Any]:
    """Options for `browser.new_context`; override in a test module (e.g. host mapping or certificates)."""
    return {}


@pytest.fixture
async def browser_context(
    browser: Browser, console_errors: ConsoleWatch, browser_context_options: dict[str, Any]
) -> AsyncIterator[BrowserContext]:
    """A fresh context (no cookies, no storage) whose pages report console errors to `console_errors`."""
    context = await browser.new_context(**browser_context_options)
    context.on("page", console_errors.attach)
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
async def page(browser_context: BrowserContext) -> Page:
    """A new page; any console error or uncaught exception on it fails the test."""
    return await browser_context.new_page()
