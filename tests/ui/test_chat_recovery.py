"""The webchat when things go wrong or stop: a handover the runtime no longer knows, a refused key, typing
that must stop with the message sent, and a new chat over a live handover."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import aiohttp
from playwright.async_api import expect

from tests.ui.conftest import StartUi, expect_http_errors, open_view
from tests.waiting import wait_for

if TYPE_CHECKING:
    from playwright.async_api import Page

    from handover_miaw.simulator import Conversation
    from handover_miaw.ui.demo_web import WebDemo
    from tests.browser import ConsoleWatch

TIMEOUT = 10_000
KEY = "chat-test-key-0123456789abcdef0123456789"
UNKNOWN = f"ho_{'0' * 32}"
GONE = "the runtime no longer knows it"


async def _remember(page: Page, handover_id: str, key: str | None = None) -> None:
    """Leave the tab as a chat of `handover_id` left it (and, given one, an API key), then reload it."""
    chat = {"sessionId": "web-x", "log": [], "handoverId": handover_id, "lastEventId": "5", "ended": False}
    await page.evaluate("c => sessionStorage.setItem('hm.chat', c)", json.dumps(chat))
    if key is not None:
        await page.evaluate("k => sessionStorage.setItem('hm.apiKey', k)", key)
    await page.reload()


async def _talk_to_a_person(page: Page, web_demo: WebDemo) -> tuple[str, Conversation]:
    await page.get_by_label("Your message").fill("I want to talk to a person")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#chat-status")).to_have_text("Waiting for an agent", timeout=TIMEOUT)
    handover_id = json.loads(await page.evaluate("sessionStorage.getItem('hm.chat')"))["handoverId"]
    sim = web_demo.simulator
    await wait_for(lambda: bool(sim.store.conversations), "the conversation at the simulator", seconds=10)
    return handover_id, next(iter(sim.store.conversations.values()))


async def test_a_handover_the_runtime_no_longer_knows_ends_the_chat(
    web_demo: WebDemo, page: Page, console_errors: ConsoleWatch
) -> None:
    await open_view(page, web_demo.url, "chat")
    await _remember(page, UNKNOWN)
    await expect(page.locator("#chat-log")).to_contain_text(GONE, timeout=TIMEOUT)
    expect_http_errors(console_errors, 404)
    await expect(page.locator("#chat-status")).to_have_text("Ended")
    await expect(page.get_by_role("button", name="End conversation")).to_be_disabled()
    # A reload shows the ended chat as it was, its status too (it showed none).
    await page.reload()
    await expect(page.locator("#chat-log")).to_contain_text(GONE, timeout=TIMEOUT)
    await expect(page.locator("#chat-status")).to_have_text("Ended")
    await page.get_by_role("button", name="Talk to a person").click()
    await expect(page.locator("#chat-status")).to_have_text("Waiting for an agent", timeout=TIMEOUT)
    await wait_for(lambda: bool(web_demo.simulator.store.conversations), "a new conversation", seconds=10)


async def test_a_refused_key_on_the_event_stream_asks_for_a_key(
    start_ui: StartUi, page: Page, console_errors: ConsoleWatch
) -> None:
    url = await start_ui(insecure_dev=False, api_keys=(KEY,))
    await page.goto(f"{url}#chat")
    await _remember(page, UNKNOWN, key="wrong-key-0123456789abcdef0123456789")
    key = page.get_by_label("API key")
    await expect(key).to_be_visible(timeout=TIMEOUT)
    expect_http_errors(console_errors, 401)
    # With the right key the stream is asked again, and this handover is unknown to the runtime.
    await key.fill(KEY)
    await page.get_by_role("button", name="Use this key").click()
    await expect(page.locator("#chat-log")).to_contain_text(GONE, timeout=TIMEOUT)
    expect_http_errors(console_errors, 404)


async def test_sending_a_message_tells_the_agent_the_user_stopped_typing(web_demo: WebDemo, page: Page) -> None:
    await open_view(page, web_demo.url, "chat")
    _, conversation = await _talk_to_a_person(page, web_demo)
    await web_demo.simulator.route(conversation.id)
    await web_demo.simulator.accept(conversation.id, "Maria")
    await expect(page.locator("#chat-status")).to_have_text("Talking to Maria", timeout=TIMEOUT)
    message = page.get_by_label("Your message")
    await message.press_sequentially("w")
    await wait_for(lambda: conversation.end_user_typing, "the agent told the user is typing")
    # Sent well inside the 2 s of quiet after which the page would say it stopped anyway.
    await message.press_sequentially("here is my refund")
    await message.press("Enter")
    await wait_for(lambda: any(m.text == "where is my refund" for m in conversation.end_user_messages), "the message")
    await wait_for(lambda: not conversation.end_user_typing, "the agent told the user stopped typing")


async def test_a_new_chat_ends_the_live_handover_first(web_demo: WebDemo, page: Page) -> None:
    await open_view(page, web_demo.url, "chat")
    handover_id, _ = await _talk_to_a_person(page, web_demo)
    await page.get_by_role("button", name="New chat").click()
    runtime = web_demo.url.removesuffix("/ui/")
    async with aiohttp.ClientSession() as http:

        async def ended() -> bool:
            async with http.get(f"{runtime}/v1/handovers/{handover_id}") as response:
                return bool((await response.json())["state"] == "ended")

        await wait_for(ended, "the handover ended by New chat")
    await expect(page.locator("#chat-log li")).to_have_count(0)
    await expect(page.get_by_role("button", name="Talk to a person")).to_be_enabled()
