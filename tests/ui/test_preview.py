"""What Salesforce will receive: the editor's preview equals what the simulator then gets."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import aiohttp
from playwright.async_api import expect

from handover_miaw.handovers.mapping import transcript_messages
from tests.ui.conftest import open_view
from tests.waiting import wait_for

if TYPE_CHECKING:
    from playwright.async_api import Page

    from handover_miaw.ui.demo_web import WebDemo

TIMEOUT = 10_000


async def test_the_preview_equals_what_the_simulator_receives(web_demo: WebDemo, page: Page) -> None:
    long_turn = " ".join(f"word{i}" for i in range(700))  # about 5,600 characters: split
    transcript = [
        {"source": "user", "text": "My order arrived broken."},
        {"source": "bot", "text": long_turn},
        {"source": "user", "text": "I want to talk to a person."},
    ]
    await open_view(page, web_demo.url, "editor")
    await page.get_by_label("Send Transcript as a first message").check()
    await page.get_by_label("Conversation Routing Attributes").fill('{"Brand__c": "acme", "language": "de"}')
    sample = "\n".join(f"{turn['source']}: {turn['text']}" for turn in transcript)
    await page.get_by_label("Sample transcript", exact=False).fill(sample)
    messages = page.locator("#preview-messages pre")
    await expect(messages).to_have_count(len(transcript_messages(transcript)), timeout=TIMEOUT)
    await expect(page.locator("#preview-conversation")).to_contain_text("Brand__c", timeout=TIMEOUT)
    previewed_conversation = json.loads(await page.locator("#preview-conversation").inner_text())
    previewed = await messages.all_inner_texts()
    assert all(len(text) <= 3000 for text in previewed)
    settings = json.loads(await page.evaluate("() => sessionStorage.getItem('hm.nodeSettings')"))

    runtime = web_demo.url.removesuffix("/ui/")
    async with aiohttp.ClientSession() as http:
        body = {
            "connector": "demo",
            "sessionId": "preview-1",
            "userId": "ann",
            "settings": settings,
            "transcript": transcript,
        }
        async with http.post(f"{runtime}/v1/handovers", json=body) as response:
            assert response.status == 201, await response.text()
            conversation_id = (await response.json())["conversationId"]
    conversation = web_demo.simulator.store.conversations[conversation_id]
    await wait_for(
        lambda: len(conversation.end_user_messages) >= len(previewed), "the previewed transcript sent", seconds=10
    )
    assert [m.text for m in conversation.end_user_messages] == previewed
    assert previewed_conversation == {
        "routingAttributes": conversation.routing_attributes,
        "language": conversation.language,
    }
    assert conversation.routing_attributes == {"Brand__c": "acme"}
    assert conversation.language == "de"
