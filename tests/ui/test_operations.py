"""The operations view in a real browser: handovers by state, a timeline, a dead letter re-driven; API keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from aiohttp import web
from playwright.async_api import expect

from tests.ui.conftest import StartUi, expect_http_errors, open_view
from tests.waiting import wait_for

if TYPE_CHECKING:
    from aiohttp.test_utils import TestServer
    from playwright.async_api import Page

    from handover_miaw.ui.demo_web import WebDemo
    from tests.browser import ConsoleWatch

TIMEOUT = 10_000
KEY = "ops-test-key-0123456789abcdef0123456789"


async def test_a_dead_letter_is_redriven_from_the_operations_view(
    web_demo: WebDemo, page: Page, aiohttp_server: Any
) -> None:
    received: list[dict[str, Any]] = []
    refusing = True

    async def hook(request: web.Request) -> web.Response:
        if refusing:
            return web.Response(status=400)  # final: dead-lettered at once
        received.append(await request.json())
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    server: TestServer = await aiohttp_server(receiver)
    runtime = web_demo.url.removesuffix("/ui/")
    async with aiohttp.ClientSession() as http:
        demo = await (await http.get(f"{runtime}/v1/connectors/demo")).json()
        connector = {
            "config": demo["config"],
            "delivery": {"format": "webhook", "url": str(server.make_url("/hook")), "secret": "s" * 24},
        }
        assert (await http.put(f"{runtime}/v1/connectors/hooked", json=connector)).status == 201
        start = {"connector": "hooked", "sessionId": "ops-1", "userId": "ann"}
        handover = await (await http.post(f"{runtime}/v1/handovers", json=start)).json()
        # A second one, left in another state, for the filter.
        await http.post(f"{runtime}/v1/handovers", json={"connector": "demo", "sessionId": "ops-2", "userId": "bo"})
        await http.delete(f"{runtime}/v1/handovers/{handover['id']}")

    await open_view(page, web_demo.url, "ops")
    dead = page.get_by_role("button", name="Re-drive", exact=False)
    await expect(dead).to_have_count(2, timeout=TIMEOUT)  # the queue status and the end
    await expect(page.locator("#ops-metrics")).to_contain_text("Deliveries dead", timeout=TIMEOUT)
    await page.get_by_label("State").select_option("ended")
    rows = page.locator("#ops-handovers tbody tr")
    await expect(rows).to_have_count(1, timeout=TIMEOUT)
    await page.get_by_role("button", name=f"Timeline of {handover['id']}").click()
    timeline = page.locator("#ops-timeline")
    await expect(timeline).to_contain_text("handover.status: dead after 1 attempt(s)", timeout=TIMEOUT)
    await expect(timeline).to_contain_text("ended: cancelled (user_ended)")

    refusing = False
    await dead.first.click()
    await expect(dead).to_have_count(1, timeout=TIMEOUT)
    await dead.first.click()
    await expect(dead).to_have_count(0, timeout=TIMEOUT)
    await expect(timeline).not_to_contain_text(": dead", timeout=TIMEOUT)
    assert [d["type"] for d in received] == ["handover.status", "handover.ended"]
    # The figure counts webhook deliveries only (SSE ones never reach the counter), and is labelled so.
    delivered = page.locator("#ops-metrics dt:text-is('Webhook deliveries delivered') + dd")
    await expect(delivered).to_have_text("2", timeout=TIMEOUT)


async def test_with_api_keys_the_page_asks_for_a_key_and_keeps_it_for_the_tab_only(
    start_ui: StartUi, page: Page, console_errors: ConsoleWatch
) -> None:
    url = await start_ui(insecure_dev=False, api_keys=(KEY,))
    await page.goto(f"{url}#ops")
    key = page.get_by_label("API key")
    await expect(key).to_be_visible(timeout=TIMEOUT)
    await key.fill("wrong-key-0123456789abcdef0123456789")
    await page.get_by_role("button", name="Use this key").click()
    # The runtime's own message, at the key field.
    await expect(page.locator("#key-problem")).to_have_text("a valid API key is required", timeout=TIMEOUT)
    expect_http_errors(console_errors, 401)
    await key.fill(KEY)
    await page.get_by_role("button", name="Use this key").click()
    await expect(page.locator("#view-ops")).to_be_visible(timeout=TIMEOUT)
    await expect(page.locator("#ops-metrics")).to_contain_text("Live handovers", timeout=TIMEOUT)
    assert await page.evaluate("() => sessionStorage.getItem('hm.apiKey')") == KEY
    assert await page.evaluate("() => localStorage.length") == 0
    assert await page.context.cookies() == []


async def test_the_timeline_shows_the_miaw_calls_of_the_handover(web_demo: WebDemo, page: Page) -> None:
    runtime = web_demo.url.removesuffix("/ui/")
    async with aiohttp.ClientSession() as http:
        start = {"connector": "demo", "sessionId": "calls-1", "userId": "ann"}
        handover = await (await http.post(f"{runtime}/v1/handovers", json=start)).json()
        message = {"id": "m1", "text": "hello"}
        assert (await http.post(f"{runtime}/v1/handovers/{handover['id']}/messages", json=message)).status == 202
        response = await http.get(f"{runtime}/v1/handovers/{handover['id']}/calls")
        assert response.status == 200
        body = await response.text()
        unknown = await http.get(f"{runtime}/v1/handovers/ho_{'0' * 32}/calls")
        assert unknown.status == 404
    calls = orjson.loads(body)["calls"]
    endpoints = [c["endpoint"] for c in calls]
    assert endpoints[0] == "access_token"
    assert {"sse", "create_conversation", "send_message"} <= set(endpoints)  # the stream's calls too
    assert all(c["durationMs"] >= 0 and c["outcome"].isdigit() for c in calls)
    assert set(calls[0]) == {"endpoint", "outcome", "durationMs", "at"}  # nothing else: no token, no body
    assert "hello" not in body

    await open_view(page, web_demo.url, "ops")
    await page.get_by_role("button", name=f"Timeline of {handover['id']}").click()
    timeline = page.locator("#ops-timeline")
    await expect(timeline).to_contain_text("MIAW access_token: 200", timeout=TIMEOUT)
    await expect(timeline).to_contain_text("MIAW create_conversation: 201")
    await expect(timeline).to_contain_text("MIAW send_message: 202")


async def test_the_timeline_finds_a_handovers_deliveries_past_the_first_page(web_demo: WebDemo, page: Page) -> None:
    runtime = web_demo.url.removesuffix("/ui/")
    sim = web_demo.simulator
    async with aiohttp.ClientSession() as http:

        async def start(session: str) -> Any:
            body = {"connector": "demo", "sessionId": session, "userId": "ann"}
            return await (await http.post(f"{runtime}/v1/handovers", json=body)).json()

        async def over_a_page() -> bool:
            async with http.get(f"{runtime}/v1/deliveries?limit=1000") as response:
                return (await response.json())["next"] is not None

        # A first handover's agent fills the first page of /v1/deliveries (1000, the most a page holds).
        conversation = (await start("paging-1"))["conversationId"]
        await sim.route(conversation)
        await sim.accept(conversation, "Maria")
        for n in range(1000):
            await sim.send_text(conversation, f"bulk {n}")
        await wait_for(over_a_page, "over 1000 deliveries in the store", seconds=60)
        later = await start("paging-2")

    await open_view(page, web_demo.url, "ops")
    await page.get_by_role("button", name=f"Timeline of {later['id']}").click()
    await expect(page.locator("#ops-timeline")).to_contain_text("delivery #", timeout=TIMEOUT)
