"""A browser client on its own origin talks to the simulator over https on another: headless Chromium, the
simulator's self-signed certificate trusted by its key as the README shows, the MIAW host name mapped to the
loopback address, CORS on every call. Token, stream, conversation, message, agent reply, receipts, close."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from handover_miaw.simulator import Simulator, create_app
from handover_miaw.simulator.tls import SelfSigned, make_self_signed, server_context
from tests.browser import CHROMIUM_ARGS
from tests.waiting import wait_for

from .simhelpers import DEPLOYMENT, ORG, WAIT

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

    from tests.browser import ConsoleWatch

HOST = "acme.my.salesforce-scrt.com"
PAGE = Path(__file__).with_name("browser_client.html")


@pytest.fixture
def certificate(tmp_path: Path) -> SelfSigned:
    return make_self_signed(HOST, tmp_path)


@pytest.fixture
async def sim_server(aiohttp_server: Any, sim: Simulator, certificate: SelfSigned) -> TestServer:
    context: ssl.SSLContext = server_context(certificate.cert, certificate.key)
    server: TestServer = await aiohttp_server(create_app(sim), ssl=context)
    return server


@pytest.fixture
async def page_url(aiohttp_server: Any) -> str:
    async def index(_: web.Request) -> web.Response:
        return web.Response(body=PAGE.read_bytes(), content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    server: TestServer = await aiohttp_server(app)
    return str(server.make_url("/"))


@pytest.fixture
async def browser(chromium_executable: str, sim_server: TestServer, certificate: SelfSigned) -> AsyncIterator[Browser]:
    """The harness's Chromium plus the README's two flags: the MIAW host mapped onto the simulator's port, and
    its certificate trusted by public key (not `ignore_https_errors`, which would trust anything)."""
    from playwright.async_api import async_playwright

    flags = [
        f"--host-resolver-rules=MAP {HOST} 127.0.0.1:{sim_server.port}",
        f"--ignore-certificate-errors-spki-list={certificate.spki_sha256}",
    ]
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_executable, headless=True, args=[*CHROMIUM_ARGS, *flags]
        )
        try:
            yield launched
        finally:
            await launched.close()


async def test_a_web_client_on_its_own_origin(page: Page, page_url: str, sim: Simulator) -> None:
    from playwright.async_api import expect

    await page.goto(f"{page_url}?sim=https://{HOST}&org={ORG}&deployment={DEPLOYMENT}")
    await page.get_by_role("button", name="Start chat").click()
    await expect(page.get_by_role("status")).to_have_text("Connected")
    await wait_for(lambda: len(sim.store.conversations) == 1, "the conversation", seconds=WAIT)
    (cid,) = sim.store.conversations
    await sim.route(cid)
    await sim.accept(cid, "Maria")
    conversation = page.get_by_role("list", name="Conversation")
    await expect(conversation.get_by_role("listitem").filter(has_text="Maria joined")).to_be_visible()

    await page.get_by_label("Message").fill("I need a refund")
    await page.get_by_role("button", name="Send").click()
    mine = conversation.get_by_role("listitem").filter(has_text="You: I need a refund")
    await expect(mine).to_have_text("You: I need a refund Sent")
    assert [m.text for m in sim.conversation(cid).end_user_messages] == ["I need a refund"]

    reply = await sim.send_text(cid, "Hi, I can help.")
    await expect(conversation.get_by_role("listitem").filter(has_text="Maria: Hi, I can help.")).to_be_visible()
    await wait_for(lambda: bool(sim.conversation(cid).acks), "the page's read receipt", seconds=WAIT)
    assert [(a.entry_type, a.conversation_entry_id) for a in sim.conversation(cid).acks] == [("Read", reply)]

    await sim.acknowledge(cid, read=False)
    await expect(mine).to_have_text("You: I need a refund Delivered")
    await sim.acknowledge(cid, read=True)
    await expect(mine).to_have_text("You: I need a refund Read")

    await page.get_by_role("button", name="End chat").click()
    await expect(page.get_by_role("status")).to_have_text("Conversation closed")
    assert sim.conversation(cid).closed
    # Every call crossed origins: a preflight is never logged, the real calls all succeeded.
    assert {c.endpoint for c in sim.calls} >= {"access_token", "sse", "create_conversation", "send_message"}
    assert all(c.status < 400 for c in sim.calls)


async def test_a_native_event_source_reaches_the_router_but_cannot_authenticate(
    page: Page, page_url: str, sim: Simulator, console_errors: ConsoleWatch
) -> None:
    """EventSource crosses the self-signed TLS and CORS (the simulator sees the request), and the router
    refuses it 401: it cannot send the bearer token (miaw-api.md §4.1), which is why MIAW's web clients read
    the stream through fetch or a polyfill, as the page above does."""
    await page.goto(page_url)
    state = await page.evaluate(
        """(url) => new Promise((resolve) => {
            const source = new EventSource(url);
            source.onopen = () => { source.close(); resolve("open"); };
            source.onerror = () => { const state = source.readyState; source.close(); resolve(state); };
        })""",
        f"https://{HOST}/eventrouter/v1/sse",
    )
    assert state == 2  # CLOSED: a non-200 answer fails the connection for good
    assert [(c.endpoint, c.status) for c in sim.calls] == [("sse", 401)]
    assert console_errors.errors == [
        "console.error: Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    ]
    # Expected, and checked just above: the fixture would fail the test for it.
    console_errors.errors.clear()
