"""The webchat when the user or the network does the unexpected: a double click, a message the runtime did not
take, a chat too long for one start, a full storage, a stream that tells an event twice, the keyboard's focus
on a control that goes away, and an agent who leaves or transfers the chat."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from playwright.async_api import expect

from tests.ui.conftest import StartUi, expect_http_errors, open_view
from tests.waiting import wait_for

if TYPE_CHECKING:
    from playwright.async_api import Page, Request, Route

    from handover_miaw.simulator import Conversation
    from handover_miaw.ui.demo_web import WebDemo
    from tests.browser import ConsoleWatch

TIMEOUT = 10_000
# A handover only the page knows: its event stream is answered by the test (see Stream).
FAKE = f"ho_{'f' * 32}"
# The runtime's limits on a start and a message (schemas/openapi.json: HandoverStart, TranscriptTurn, UserMessage)
# and its default request body limit (Settings.max_body_bytes).
TURNS = 500
TURN_CHARS = 20_000
MESSAGE_CHARS = 10_000
BODY_BYTES = 1024 * 1024


def _is_start(request: Request) -> bool:
    return request.method == "POST" and urlsplit(request.url).path == "/v1/handovers"


def _message_id(request: Request) -> str | None:
    """The id of a message the page sends to the agent, or None for any other request."""
    if request.method != "POST" or not request.url.endswith("/messages"):
        return None
    return str(request.post_data_json["id"])  # type: ignore[index]  # a JSON object: the page sends one


async def _say(page: Page, text: str) -> None:
    await page.get_by_label("Your message").fill(text)
    await page.get_by_role("button", name="Send", exact=True).click()


async def _conversation(web_demo: WebDemo) -> Conversation:
    sim = web_demo.simulator
    await wait_for(lambda: bool(sim.store.conversations), "the conversation at the simulator", seconds=10)
    return next(iter(sim.store.conversations.values()))


async def _talking_to_maria(page: Page, web_demo: WebDemo) -> Conversation:
    """A chat handed over to the simulator's agent Maria."""
    await open_view(page, web_demo.url, "chat")
    await page.get_by_role("button", name="Talk to a person").click()
    await expect(page.locator("#chat-status")).to_have_text("Waiting for an agent", timeout=TIMEOUT)
    conversation = await _conversation(web_demo)
    await web_demo.simulator.accept(conversation.id, "Maria")
    await expect(page.locator("#chat-status")).to_have_text("Talking to Maria", timeout=TIMEOUT)
    return conversation


def _event(seq: int, text: str) -> str:
    delivery = {"id": f"d{seq}", "type": "agent.message", "data": {"text": text, "agent": {"name": "Maria"}}}
    return f"id: {seq}\nevent: agent.message\ndata: {json.dumps(delivery)}\n\n"


class Stream:
    """Answers the page's event stream of FAKE with the given bodies, one per request, then with empty ones;
    records the Last-Event-ID each request carried."""

    def __init__(self, *bodies: str) -> None:
        self.bodies = list(bodies)
        self.asked: list[str | None] = []

    async def serve(self, route: Route) -> None:
        self.asked.append(await route.request.header_value("last-event-id"))
        body = self.bodies.pop(0) if self.bodies else ""
        await route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)


async def _open_fake_chat(page: Page, url: str, stream: Stream, log: list[dict[str, Any]] | None = None) -> None:
    """The chat view of a tab whose chat is handed over as FAKE (with `log` so far), its stream from `stream`."""
    await page.route(f"**/v1/handovers/{FAKE}/events", stream.serve)
    await open_view(page, url, "package")  # any view but the chat: the chat reads the tab's storage on its first visit
    chat = {"sessionId": "web-x", "log": log or [], "handoverId": FAKE, "lastEventId": "0", "ended": False}
    await page.evaluate("c => sessionStorage.setItem('hm.chat', c)", json.dumps(chat))
    await open_view(page, url, "chat")


# 1. One start, one stream.


async def test_a_double_click_on_talk_to_a_person_starts_one_handover_and_shows_each_message_once(
    web_demo: WebDemo, page: Page
) -> None:
    starts: list[Request] = []
    page.on("request", lambda request: starts.append(request) if _is_start(request) else None)
    await open_view(page, web_demo.url, "chat")
    await page.get_by_role("button", name="Talk to a person").dblclick()
    await expect(page.locator("#chat-status")).to_have_text("Waiting for an agent", timeout=TIMEOUT)
    conversation = await _conversation(web_demo)
    await web_demo.simulator.accept(conversation.id, "Maria")
    await web_demo.simulator.send_text(conversation.id, "hello once", "Maria")
    await web_demo.simulator.send_text(conversation.id, "and again once", "Maria")
    agent = page.locator("#chat-log li.agent")
    await expect(agent.last).to_have_text("Maria: and again once", timeout=TIMEOUT)
    await expect(agent).to_have_text(["Maria: hello once", "Maria: and again once"])
    assert len(starts) == 1, f"{len(starts)} starts for one double click"
    await page.reload()
    await expect(page.locator("#chat-log li.agent")).to_have_count(2, timeout=TIMEOUT)


async def test_asking_for_a_person_in_a_message_and_by_the_button_at_once_starts_one_handover(
    web_demo: WebDemo, page: Page
) -> None:
    starts: list[Request] = []
    page.on("request", lambda request: starts.append(request) if _is_start(request) else None)
    await open_view(page, web_demo.url, "chat")
    await page.get_by_label("Your message").fill("I want an agent")
    await page.get_by_label("Your message").press("Enter")
    await page.get_by_role("button", name="Talk to a person").click(force=True, no_wait_after=True)
    await expect(page.locator("#chat-status")).to_have_text("Waiting for an agent", timeout=TIMEOUT)
    await expect(page.get_by_role("button", name="Talk to a person")).to_be_disabled()
    await expect(page.locator("#chat-log li.system", has_text="Connecting you to an agent")).to_have_count(1)
    assert len(starts) == 1, f"{len(starts)} starts"


async def test_an_event_told_again_by_the_stream_is_shown_once(web_demo: WebDemo, page: Page) -> None:
    first = _event(1, "one") + _event(2, "two") + _event(2, "two") + _event(1, "one") + _event(3, "three")
    # The reconnection is told everything again (as a second stream of the same handover would tell it), and
    # one new event.
    again = first + _event(4, "four")
    stream = Stream(first, again)
    await _open_fake_chat(page, web_demo.url, stream)
    agent = page.locator("#chat-log li.agent")
    await expect(agent.last).to_have_text("Maria: four", timeout=TIMEOUT)
    await expect(agent).to_have_text(["Maria: one", "Maria: two", "Maria: three", "Maria: four"])
    assert stream.asked[:2] == ["0", "3"]
    assert await page.evaluate("() => JSON.parse(sessionStorage.getItem('hm.chat')).lastEventId") == "4"


# 2 is in test_page_recovery.py. 3. A message the runtime did not take.


async def test_a_message_the_runtime_refuses_shows_as_not_sent_and_retry_sends_it_once_under_its_id(
    web_demo: WebDemo, page: Page, console_errors: ConsoleWatch
) -> None:
    conversation = await _talking_to_maria(page, web_demo)
    ids: list[str] = []

    async def refuse(route: Route) -> None:
        ids.append(str(_message_id(route.request)))
        await route.fulfill(status=503, json={"error": {"code": "unavailable", "message": "the runtime is busy"}})

    await page.route("**/v1/handovers/*/messages", refuse)
    await _say(page, "my order is broken")
    item = page.locator("#chat-log li.user").last
    await expect(item).to_contain_text("not sent", timeout=TIMEOUT)
    await expect(page.locator("#chat-problem")).to_have_text("the runtime is busy")
    expect_http_errors(console_errors, 503)
    await page.unroute("**/v1/handovers/*/messages", refuse)

    sent: list[str | None] = []

    def record(request: Request) -> None:
        if (message_id := _message_id(request)) is not None:
            sent.append(message_id)

    page.on("request", record)
    await item.get_by_role("button", name="Retry").click()
    await expect(item).to_have_text("You: my order is broken", timeout=TIMEOUT)
    await expect(page.locator("#chat-problem")).to_be_hidden()
    await wait_for(lambda: any(m.text == "my order is broken" for m in conversation.end_user_messages), "the message")
    assert sent == ids[:1], "the retry went under another id"
    # Kept as sent: a reload shows no Retry.
    await page.reload()
    await expect(page.locator("#chat-log li.user").last).to_have_text("You: my order is broken", timeout=TIMEOUT)


async def test_the_message_box_takes_no_more_than_the_runtime_does(start_ui: StartUi, page: Page) -> None:
    await open_view(page, await start_ui(), "chat")
    message = page.get_by_label("Your message")
    assert await message.get_attribute("maxlength") == str(MESSAGE_CHARS)
    await message.fill("m" * (MESSAGE_CHARS + 5))
    assert len(await message.input_value()) == MESSAGE_CHARS


async def test_a_chosen_option_the_runtime_refuses_can_be_sent_again(
    web_demo: WebDemo, page: Page, console_errors: ConsoleWatch
) -> None:
    conversation = await _talking_to_maria(page, web_demo)
    await web_demo.simulator.send_choices(conversation.id, "How can I help?", ["Refund", "Replacement"], "Maria")
    choices = page.get_by_role("group", name="Choices")
    await expect(choices).to_be_visible(timeout=TIMEOUT)
    await page.route("**/v1/handovers/*/messages", lambda route: route.fulfill(status=503, body="busy"))
    await choices.get_by_role("button", name="Refund").click()
    item = page.locator("#chat-log li.user").last
    await expect(item).to_contain_text("You: Refund (not sent)", timeout=TIMEOUT)
    expect_http_errors(console_errors, 503)
    await expect(choices).to_have_count(0)
    await page.unroute("**/v1/handovers/*/messages")
    await item.get_by_role("button", name="Retry").click()
    await expect(item).to_have_text("You: Refund", timeout=TIMEOUT)
    await wait_for(lambda: [m.text for m in conversation.end_user_messages].count("Refund") == 1, "the option")


# 4. A chat too long for one start.


async def test_a_long_chat_goes_over_as_the_newest_turns_the_runtime_takes(web_demo: WebDemo, page: Page) -> None:
    at = "2025-01-01T00:00:00.000Z"
    log: list[dict[str, Any]] = [
        {"who": "user" if n % 2 == 0 else "bot", "text": f"turn {n}", "at": at} for n in range(600)
    ]
    log += [{"who": "user", "text": "x" * TURN_CHARS, "at": at} for _ in range(60)]  # over the body limit
    log += [
        {"who": "bot", "text": "y" * (TURN_CHARS + 5_000), "at": at},
        {"who": "user", "text": "\U0001f600" * (TURN_CHARS + 1), "at": at},  # code points, not UTF-16 units
    ]
    chat = {"sessionId": "web-long", "log": log, "handoverId": None, "lastEventId": "0", "ended": False}
    bodies: list[bytes] = []
    page.on("request", lambda request: bodies.append(request.post_data_buffer or b"") if _is_start(request) else None)
    await open_view(page, web_demo.url, "package")
    await page.evaluate("c => sessionStorage.setItem('hm.chat', c)", json.dumps(chat))
    await open_view(page, web_demo.url, "chat")
    await page.get_by_role("button", name="Talk to a person").click()
    await expect(page.locator("#chat-status")).to_have_text("Waiting for an agent", timeout=TIMEOUT)
    assert len(bodies) == 1
    assert len(bodies[0]) < BODY_BYTES
    transcript = json.loads(bodies[0])["transcript"]
    assert 0 < len(transcript) <= TURNS
    assert all(len(turn["text"]) <= TURN_CHARS for turn in transcript)
    assert transcript[-1]["text"] == "\U0001f600" * TURN_CHARS
    assert transcript[-2]["text"] == "y" * TURN_CHARS


async def test_the_bots_answer_quotes_a_long_message_cut_short(web_demo: WebDemo, page: Page) -> None:
    await open_view(page, web_demo.url, "chat")
    await _say(page, "z" * 5_000)
    reply = page.locator("#chat-log li.bot")
    await expect(reply).to_contain_text("cannot help with", timeout=TIMEOUT)
    assert len(await reply.inner_text()) < 300


# 5. The chat in the tab's storage.

# Counts what the page writes to its storage, and makes the storage hold at most LIMIT characters, as a full
# sessionStorage would.
STORAGE = """
window.chatWrites = 0;
const setItem = Storage.prototype.setItem;
Storage.prototype.setItem = function (key, value) {
  if (key.startsWith("hm.chat")) {
    window.chatWrites += key.length + String(value).length;
    let size = key.length + String(value).length;
    for (let i = 0; i < this.length; i += 1) {
      const other = this.key(i);
      if (other !== key) size += other.length + this.getItem(other).length;
    }
    if (size > LIMIT) throw new DOMException("The quota has been exceeded.", "QuotaExceededError");
  }
  return setItem.call(this, key, value);
};
"""


async def test_a_replay_of_many_events_writes_the_storage_in_proportion_to_them(web_demo: WebDemo, page: Page) -> None:
    count = 300
    stream = Stream("".join(_event(n, f"message {n}") for n in range(1, count + 1)))
    await page.add_init_script(STORAGE.replace("LIMIT", str(50_000_000)))
    await _open_fake_chat(page, web_demo.url, stream)
    await expect(page.locator("#chat-log li.agent")).to_have_count(count, timeout=TIMEOUT)
    written = await page.evaluate("() => window.chatWrites")
    # Each event's entry is about 150 characters: rewriting the whole log per event wrote millions.
    assert written < count * 1_000, f"{written} characters written for {count} events"
    await page.reload()
    await expect(page.locator("#chat-log li.agent")).to_have_count(count, timeout=TIMEOUT)
    await expect(page.locator("#chat-log li.agent").last).to_have_text(f"Maria: message {count}")


async def test_a_full_storage_loses_no_message_and_keeps_the_newest(web_demo: WebDemo, page: Page) -> None:
    count = 10
    stream = Stream("".join(_event(n, f"big {n} " + "b" * 8_000) for n in range(1, count + 1)) + _event(11, "last"))
    await page.add_init_script(STORAGE.replace("LIMIT", str(40_000)))
    await _open_fake_chat(page, web_demo.url, stream)
    agent = page.locator("#chat-log li.agent")
    await expect(agent).to_have_count(count + 1, timeout=TIMEOUT)
    await expect(agent.last).to_have_text("Maria: last")
    await expect(page.locator("#chat-problem")).to_be_hidden()
    # The oldest went from the storage for the newest; the stream resumes after the last event shown.
    await page.reload()
    await expect(page.locator("#chat-log li.agent").last).to_have_text("Maria: last", timeout=TIMEOUT)
    assert 0 < await page.locator("#chat-log li.agent").count() < count + 1
    assert await page.evaluate("() => JSON.parse(sessionStorage.getItem('hm.chat')).lastEventId") == "11"


# 11. The keyboard's focus.


async def test_the_keyboard_focus_goes_to_the_message_box_when_its_control_goes_away(
    web_demo: WebDemo, page: Page
) -> None:
    message = page.get_by_label("Your message")
    await open_view(page, web_demo.url, "chat")
    await page.get_by_role("button", name="Talk to a person").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#chat-status")).to_have_text("Waiting for an agent", timeout=TIMEOUT)
    await expect(message).to_be_focused()

    conversation = await _conversation(web_demo)
    await web_demo.simulator.accept(conversation.id, "Maria")
    await web_demo.simulator.send_choices(conversation.id, "How can I help?", ["Refund", "Replacement"], "Maria")
    refund = page.get_by_role("group", name="Choices").get_by_role("button", name="Refund")
    await refund.focus()
    await page.keyboard.press("Enter")
    await wait_for(lambda: [m.text for m in conversation.end_user_messages].count("Refund") == 1, "the option")
    await expect(message).to_be_focused()

    await page.get_by_role("button", name="End conversation").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#chat-status")).to_have_text("Ended", timeout=TIMEOUT)
    await expect(message).to_be_focused()


# 12. The agent leaves or hands the chat on.


async def test_a_transfer_and_an_agent_leaving_show_in_the_status_and_end_the_typing(
    web_demo: WebDemo, page: Page
) -> None:
    conversation = await _talking_to_maria(page, web_demo)
    sim = web_demo.simulator
    status = page.locator("#chat-status")
    typing = page.locator("#chat-typing")
    await sim.typing(conversation.id, True, "Maria")
    await expect(typing).to_be_visible(timeout=TIMEOUT)
    await sim.transfer(conversation.id, "Bob")
    await expect(status).to_have_text("Being transferred to another agent", timeout=TIMEOUT)
    await expect(typing).to_be_hidden()
    await sim.accept(conversation.id, "Bob")
    await expect(status).to_have_text("Talking to Bob", timeout=TIMEOUT)
    await sim.typing(conversation.id, True, "Bob")
    await expect(typing).to_be_visible(timeout=TIMEOUT)
    await sim.leave(conversation.id)
    await expect(status).to_contain_text("left the conversation", timeout=TIMEOUT)
    await expect(typing).to_be_hidden()


async def test_a_message_still_sending_when_a_new_chat_begins_stays_out_of_the_new_chat(
    web_demo: WebDemo, page: Page, console_errors: ConsoleWatch
) -> None:
    # Its answer came after "New chat" and stored it under its number, which a new chat's entry had taken: the
    # old message showed up in the new chat after a reload.
    import asyncio

    await _talking_to_maria(page, web_demo)
    release = asyncio.Event()
    held: list[Route] = []

    async def hold(route: Route) -> None:
        held.append(route)
        await release.wait()
        await route.continue_()

    await page.route("**/v1/handovers/*/messages", hold)
    await _say(page, "a message of the old chat")
    await wait_for(lambda: bool(held), "the message on its way")
    await page.get_by_role("button", name="New chat").click()
    await expect(page.locator("#chat-log li")).to_have_count(0, timeout=TIMEOUT)
    for text in ("hello", "one", "two", "three"):
        await _say(page, text)
    await expect(page.locator("#chat-log li.user")).to_have_count(4, timeout=TIMEOUT)
    release.set()  # answered 409 now: the new chat ended the handover first
    await wait_for(lambda: any("status of 409" in e for e in console_errors.errors), "the old message's answer")
    expect_http_errors(console_errors, 409)
    await page.reload()
    await expect(page.locator("#chat-log li.user")).to_have_count(4, timeout=TIMEOUT)
    await expect(page.locator("#chat-log")).not_to_contain_text("a message of the old chat")
