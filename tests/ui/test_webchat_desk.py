"""The demo webchat and the agent desk in a real browser: a whole handover, a reload, faults survived."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playwright.async_api import expect

from tests.ui.conftest import expect_http_errors, open_view
from tests.waiting import wait_for

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Locator, Page

    from handover_miaw.simulator import Conversation
    from handover_miaw.ui.demo_web import WebDemo
    from tests.browser import ConsoleWatch

TIMEOUT = 10_000


async def _say(chat: Page, text: str) -> None:
    await chat.get_by_label("Your message").fill(text)
    await chat.get_by_role("button", name="Send", exact=True).click()


async def _start(
    web_demo: WebDemo, browser_context: BrowserContext, *, transcript: bool = False
) -> tuple[Page, Page, Locator, Conversation]:
    chat = await browser_context.new_page()
    if transcript:
        await open_view(chat, web_demo.url, "editor")
        await chat.get_by_label("Send Transcript as a first message").check()
        await chat.wait_for_selector("#validity[data-state=valid]", timeout=TIMEOUT)
    await open_view(chat, web_demo.url, "chat")
    await _say(chat, "hello")
    await expect(chat.locator("#chat-log li.bot")).to_contain_text("demo bot", timeout=TIMEOUT)
    await _say(chat, "I want to talk to a person")
    sim = web_demo.simulator
    await wait_for(lambda: bool(sim.store.conversations), "the conversation at the simulator", seconds=10)
    conversation = next(iter(sim.store.conversations.values()))
    desk = await browser_context.new_page()
    await open_view(desk, web_demo.url, "desk")
    card = desk.locator(f"li[data-conversation='{conversation.id}']")
    await card.wait_for(timeout=TIMEOUT)
    return chat, desk, card, conversation


async def test_a_whole_handover_from_webchat_to_agent_desk_and_back(
    web_demo: WebDemo, browser_context: BrowserContext
) -> None:
    chat, desk, card, conversation = await _start(web_demo, browser_context, transcript=True)
    # The chat so far went over as the transcript, with the editor's settings (Send Transcript on).
    await wait_for(lambda: bool(conversation.end_user_messages), "the transcript", seconds=10)
    assert conversation.end_user_messages[0].text == (
        "User: hello\nBot: Hello! I am the demo bot. Ask me anything, or say 'talk to a person'.\n"
        "User: I want to talk to a person"
    )
    log = chat.locator("#chat-log")
    await card.get_by_role("button", name="Route to queue").click()
    await expect(log).to_contain_text("Waiting for an agent (position 1, about 60 s)", timeout=TIMEOUT)
    await desk.get_by_label("Agent name").fill("Maria")
    await card.get_by_role("button", name="Accept").click()
    await expect(log).to_contain_text("Maria joined the conversation.", timeout=TIMEOUT)
    await card.get_by_role("button", name="Start typing").click()
    await expect(chat.locator("#chat-typing")).to_be_visible(timeout=TIMEOUT)
    await card.get_by_label("Reply").fill("Hi, I am Maria. How can I help?")
    await card.get_by_role("button", name="Send reply").click()
    await expect(chat.locator("#chat-log li.agent")).to_have_text(
        "Maria: Hi, I am Maria. How can I help?", timeout=TIMEOUT
    )
    await expect(chat.locator("#chat-typing")).to_be_hidden(timeout=TIMEOUT)
    await chat.get_by_label("Your message").press_sequentially("Thanks, my order broke")
    await expect(card.locator(".desk-status")).to_contain_text("the user is typing", timeout=TIMEOUT)
    await chat.get_by_role("button", name="Send", exact=True).click()
    await expect(card.locator(".desk-messages")).to_contain_text("Thanks, my order broke", timeout=TIMEOUT)
    await card.get_by_role("button", name="Mark delivered").click()
    await expect(chat.locator("#chat-status")).to_have_text("Your last message was delivered.", timeout=TIMEOUT)
    await card.get_by_role("button", name="Mark read").click()
    await expect(chat.locator("#chat-status")).to_have_text("Your last message was read.", timeout=TIMEOUT)
    await card.get_by_role("button", name="Send a file").click()
    await expect(log).to_contain_text("[file: receipt.pdf]", timeout=TIMEOUT)

    # A reload shows the chat again and resumes the event stream where it stopped: nothing twice, nothing lost.
    await chat.reload()
    await chat.wait_for_selector("#view-chat:not([hidden])", timeout=TIMEOUT)
    await expect(chat.locator("#chat-log li.agent")).to_have_count(2, timeout=TIMEOUT)
    await expect(chat.locator("#chat-status")).to_have_text("Your last message was read.")  # kept too
    await card.get_by_label("Reply").fill("Anything else?")
    await card.get_by_role("button", name="Send reply").click()
    await expect(chat.locator("#chat-log li.agent")).to_have_count(3, timeout=TIMEOUT)
    await expect(chat.locator("#chat-log li.agent").last).to_have_text("Maria: Anything else?")
    assert await chat.evaluate("() => JSON.parse(sessionStorage.getItem('hm.chat')).lastEventId") != "0"

    await card.get_by_role("button", name="End", exact=True).click()
    await expect(log).to_contain_text("The conversation has ended (completed: agent_ended).", timeout=TIMEOUT)
    await expect(chat.get_by_role("button", name="End conversation")).to_be_disabled()
    assert conversation.end_user_messages[-1].text == "Thanks, my order broke"


async def test_the_chat_survives_dropped_streams_and_the_user_can_end_it(
    web_demo: WebDemo, browser_context: BrowserContext
) -> None:
    chat, desk, card, _conversation = await _start(web_demo, browser_context)
    await card.get_by_role("button", name="Accept").click()
    await expect(chat.locator("#chat-log")).to_contain_text("joined the conversation", timeout=TIMEOUT)
    await desk.get_by_role("button", name="Drop streams").click()
    await expect(desk.locator("#desk-fault-status")).to_have_text(
        "Fault: every open event stream dropped", timeout=TIMEOUT
    )
    await card.get_by_label("Reply").fill("Still here after the drop")
    await card.get_by_role("button", name="Send reply").click()
    await expect(chat.locator("#chat-log li.agent")).to_contain_text("Still here after the drop", timeout=TIMEOUT)
    await chat.get_by_role("button", name="End conversation").click()
    await expect(chat.locator("#chat-log")).to_contain_text("(cancelled: user_ended)", timeout=TIMEOUT)
    await expect(card.locator(".desk-status")).to_contain_text("closed", timeout=TIMEOUT)


async def test_the_desk_says_what_it_needs_on_a_runtime_without_the_simulator(start_ui: object, page: Page) -> None:
    url = await start_ui()  # type: ignore[operator]
    await open_view(page, url, "desk")
    await expect(page.locator("#desk-off")).to_be_visible()


async def test_settings_the_runtime_refuses_get_its_own_message_in_the_chat(
    web_demo: WebDemo, page: Page, console_errors: ConsoleWatch
) -> None:
    await open_view(page, web_demo.url, "editor")
    await page.get_by_label("Conversation Routing Attributes").fill('{"not a field": "x"}')
    await page.wait_for_selector("#validity[data-state=invalid]", timeout=TIMEOUT)
    await open_view(page, web_demo.url, "chat")
    await page.get_by_role("button", name="Talk to a person").click()
    problem = page.locator("#chat-problem")
    await expect(problem).to_contain_text("/settings/routingAttributes/not a field", timeout=TIMEOUT)
    expect_http_errors(console_errors, 422)
    assert not web_demo.simulator.store.conversations


async def test_desk_transfer_and_faults_reach_the_chat(web_demo: WebDemo, browser_context: BrowserContext) -> None:
    chat, desk, card, conversation = await _start(web_demo, browser_context)
    log = chat.locator("#chat-log")
    await card.get_by_role("button", name="Accept").click()
    await expect(log).to_contain_text("joined the conversation", timeout=TIMEOUT)
    await card.get_by_label("Transfer to").fill("Bob")
    await card.get_by_role("button", name="Transfer", exact=True).click()
    await expect(log).to_contain_text("You are being transferred to another agent.", timeout=TIMEOUT)
    # Three 503s on sends: the runtime retries them and the message still reaches the agent once.
    await desk.get_by_role("button", name="503 on sends").click()
    await expect(desk.locator("#desk-fault-status")).to_contain_text("the next 3 sends answer 503", timeout=TIMEOUT)
    await _say(chat, "sent through the 503s")
    await expect(card.locator(".desk-messages")).to_contain_text("sent through the 503s", timeout=TIMEOUT)
    assert [m.text for m in conversation.end_user_messages].count("sent through the 503s") == 1
    # Expired tokens end the handover with its reason.
    await desk.get_by_role("button", name="Expire tokens").click()
    await expect(log).to_contain_text("(error: token_expired)", timeout=TIMEOUT)
    await expect(chat.get_by_role("button", name="End conversation")).to_be_disabled()


async def test_the_user_sends_a_file_and_a_refused_type_gets_the_api_message(
    web_demo: WebDemo, browser_context: BrowserContext, console_errors: ConsoleWatch
) -> None:
    chat, _desk, card, conversation = await _start(web_demo, browser_context)
    await card.get_by_role("button", name="Accept").click()
    await expect(chat.locator("#chat-log")).to_contain_text("joined the conversation", timeout=TIMEOUT)
    upload = chat.get_by_label("Send a file to the agent")
    await upload.set_input_files(
        {"name": "photo.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\n" + bytes(64)}
    )
    await expect(card.locator(".desk-messages")).to_contain_text("photo.png", timeout=TIMEOUT)
    await expect(chat.locator("#chat-log li.user").last).to_have_text("You: [file: photo.png]")
    assert conversation.end_user_messages[-1].file_name == "photo.png"
    await upload.set_input_files(
        {"name": "tool.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ" + bytes(16)}
    )
    await expect(chat.locator("#chat-problem")).to_have_text(
        "files of type 'application/x-msdownload' are not accepted", timeout=TIMEOUT
    )
    expect_http_errors(console_errors, 415)


async def test_the_user_picks_one_of_the_agents_choices_and_the_desk_gets_it(
    web_demo: WebDemo, browser_context: BrowserContext
) -> None:
    chat, _desk, card, conversation = await _start(web_demo, browser_context)
    await card.get_by_role("button", name="Accept").click()
    await expect(chat.locator("#chat-log")).to_contain_text("joined the conversation", timeout=TIMEOUT)
    await card.get_by_role("button", name="Offer choices").click()
    choices = chat.get_by_role("group", name="Choices")
    await expect(choices).to_be_visible(timeout=TIMEOUT)
    await choices.get_by_role("button", name="Replacement").click()
    await expect(card.locator(".desk-messages")).to_contain_text("Replacement", timeout=TIMEOUT)
    assert conversation.end_user_messages[-1].text == "Replacement"
    await expect(choices).to_have_count(0)  # one pick: the options are gone
    await chat.reload()  # and stay gone after a reload
    await chat.wait_for_selector("#view-chat:not([hidden])", timeout=TIMEOUT)
    await expect(chat.locator("#chat-log li.user").last).to_have_text("You: Replacement", timeout=TIMEOUT)
    await expect(chat.get_by_role("group", name="Choices")).to_have_count(0)


async def test_expired_tokens_the_runtime_tries_a_continuation_token_then_ends_as_the_timeline_shows(
    web_demo: WebDemo, browser_context: BrowserContext
) -> None:
    chat, desk, card, _conversation = await _start(web_demo, browser_context)
    await card.get_by_role("button", name="Accept").click()
    await expect(chat.locator("#chat-log")).to_contain_text("joined the conversation", timeout=TIMEOUT)
    handover_id = await chat.evaluate("() => JSON.parse(sessionStorage.getItem('hm.chat')).handoverId")
    await desk.get_by_role("button", name="Expire tokens").click()
    await expect(chat.locator("#chat-log")).to_contain_text("(error: token_expired)", timeout=TIMEOUT)
    await open_view(desk, web_demo.url, "ops")
    await desk.get_by_role("button", name=f"Timeline of {handover_id}").click()
    timeline = desk.locator("#ops-timeline")
    await expect(timeline).to_contain_text("ended: error (token_expired)", timeout=TIMEOUT)
    # The stream's 401, then the continuation token MIAW refused too (the token is dead, not just old), then
    # the end: in that order.
    lines = (await timeline.inner_text()).splitlines()
    order = ["MIAW sse: 401", "MIAW continuation_token: 401", "ended: error (token_expired)"]
    found = [next((i for i, line in enumerate(lines) if step in line), -1) for step in order]
    assert -1 not in found, lines
    assert found == sorted(found), lines
