"""`handover-miaw demo --web`: one process, one URL; the README's screenshot is taken here."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest
from playwright.async_api import expect

from handover_miaw.api.routes_ui import CONTENT_SECURITY_POLICY
from handover_miaw.resources import project_root
from tests.processes import free_port
from tests.ui.conftest import open_view

if TYPE_CHECKING:
    from playwright.async_api import Page

    from handover_miaw.ui.demo_web import WebDemo

SCREENSHOT = Path("docs") / "ui-editor.png"
JSON = {"Content-Type": "application/json"}


@pytest.mark.timeout(60)
async def test_demo_web_prints_its_url_and_serves_the_ui_until_interrupted() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "handover_miaw",
        "demo",
        "--web",
        "--port",
        str(port),
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(20):
            line = (await process.stdout.readline()).decode()
        url = f"http://127.0.0.1:{port}/ui/"
        assert url in line
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as page:
                assert page.status == 200
            async with http.get(f"http://127.0.0.1:{port}/ui/config.json") as config:
                assert await config.json() == {"simulator": "/sim", "connector": "demo", "apiKeyRequired": False}
            async with http.get(f"http://127.0.0.1:{port}/sim/_sim/conversations") as sim:
                assert await sim.json() == {"conversations": []}
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.fixture
def browser_context_options() -> dict[str, object]:
    return {"viewport": {"width": 1280, "height": 900}}


async def test_the_readme_screenshot_is_of_the_current_editor(web_demo: WebDemo, page: Page, tmp_path: Path) -> None:
    """Takes the editor screenshot; with HM_UPDATE_SCREENSHOTS=1 it replaces the README's (docs/ui-editor.png).

    The demo's ports differ every run, so rewriting the committed PNG on every test run would leave every
    checkout modified; the refresh is asked for when the UI changes.
    """
    await open_view(page, web_demo.url, "editor")
    await page.get_by_label("Send Transcript as a first message").check()
    await page.get_by_label("Conversation Routing Attributes").fill('{"Brand__c": "acme", "language": "en_US"}')
    await expect(page.locator("#preview-conversation")).to_contain_text("Brand__c", timeout=10_000)
    await expect(page.locator("#preview-messages pre")).to_have_count(1, timeout=10_000)
    target = project_root() / SCREENSHOT if os.environ.get("HM_UPDATE_SCREENSHOTS") == "1" else tmp_path / "ui.png"
    target.parent.mkdir(exist_ok=True)
    await page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000


async def test_the_simulator_controls_take_json_only_so_another_site_needs_a_preflight(web_demo: WebDemo) -> None:
    controls = f"{web_demo.url.removesuffix('/ui/')}/sim/_sim"
    faults = web_demo.simulator.faults
    fault = '{"endpoint": "send_message", "status": 503, "count": 3}'
    async with aiohttp.ClientSession() as http:
        # What a page on any site may send without asking: text/plain, and a body-less POST (it carries Origin).
        plain = {"Content-Type": "text/plain"}
        async with http.post(f"{controls}/faults/http", data=fault, headers=plain) as refused:
            assert refused.status == 415
            assert (await refused.json())["code"] == "UNSUPPORTED_MEDIA_TYPE"
        assert faults.http == {}
        page = {"Origin": "http://elsewhere.example"}
        async with http.post(f"{controls}/faults/expire-tokens", headers=page) as refused:
            assert refused.status == 415
        assert (await http.post(f"{controls}/faults/http", data=fault, headers=JSON)).status == 200
        assert "send_message" in faults.http
        # A script sends no Origin: an empty body may go untyped, as the repository's own callers send it.
        assert (await http.post(f"{controls}/faults/expire-tokens")).status == 200


async def test_the_page_carries_its_policy_at_every_path_that_serves_it(web_demo: WebDemo) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("", "static/index.html", "static/%69ndex.html"):
            async with http.get(f"{web_demo.url}{path}") as response:
                assert response.status == 200
                assert "<title>handover-miaw</title>" in await response.text()
                assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
