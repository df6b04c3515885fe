"""The node editor's verdict in a real browser: an imported file checked as written, a number the browser cannot
parse, a condition on empty text, and a check the runtime could not answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playwright.async_api import expect

from handover_miaw.manifest import Manifest, load_manifest
from tests.ui.conftest import StartUi, expect_http_errors, open_view

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

    from tests.browser import ConsoleWatch

TIMEOUT = 10_000


async def _problem(page: Page, label: str) -> Locator:
    control = page.get_by_label(label, exact=True)
    problem_id = (await control.get_attribute("aria-describedby") or "").split()[-1]
    return page.locator(f"#{problem_id}")


async def test_an_imported_file_is_checked_as_written_not_as_the_form_coerced_it(
    start_ui: StartUi, page: Page, manifest: Manifest, tmp_path: Path
) -> None:
    url = await start_ui()
    await open_view(page, url, "editor")
    await page.wait_for_selector("#validity[data-state=valid]", timeout=TIMEOUT)
    imported = {"useIdentityToken": "false", "notAField": 1}
    source = tmp_path / "typed.json"
    source.write_text(json.dumps(imported))
    await page.get_by_label("Import node settings").set_input_files(source)
    await page.wait_for_selector("#validity[data-state=invalid]", timeout=TIMEOUT)
    # Exactly what `handover-miaw validate --kind node` reports for the file (the same compiled schema).
    expected = {p.pointer: p.message for p in manifest.node_validator.problems(imported)}
    assert set(expected) == {"/useIdentityToken", "/notAField"}
    problem = await _problem(page, "Identity Token for Authenticated Users")
    await expect(problem).to_have_text(expected["/useIdentityToken"])
    await expect(page.locator("#node-form [data-general]")).to_have_text(f"/notAField: {expected['/notAField']}")
    await expect(page.locator("#validity")).to_have_text("Node settings: 2 problem(s)")


async def test_a_number_the_browser_cannot_parse_is_a_problem_at_its_field(
    start_ui: StartUi, page: Page, manifest_doc: dict[str, Any], write_manifest: Any
) -> None:
    node = next(n for n in manifest_doc["nodes"] if n["type"] == "handoverToAgent")
    node["fields"].append({"key": "maxWait", "type": "number", "label": "Max Wait Seconds", "params": {"min": 1}})
    node["sections"][0]["fields"].append("maxWait")
    url = await start_ui(manifest=load_manifest(write_manifest(manifest_doc)))
    await open_view(page, url, "editor")
    await page.wait_for_selector("#validity[data-state=valid]", timeout=TIMEOUT)
    number = page.get_by_label("Max Wait Seconds", exact=True)
    for typed in ("1e", "-"):
        await number.fill("")
        await page.wait_for_selector("#validity[data-state=valid]", timeout=TIMEOUT)
        await number.press_sequentially(typed)
        await expect(await _problem(page, "Max Wait Seconds")).to_have_text("not a number", timeout=TIMEOUT)
        await expect(page.locator("#validity")).to_have_text("Node settings: 1 problem(s)", timeout=TIMEOUT)
        assert await number.get_attribute("aria-invalid") == "true"
    await number.fill("7")
    await page.wait_for_selector("#validity[data-state=valid]", timeout=TIMEOUT)
    await expect(await _problem(page, "Max Wait Seconds")).to_be_hidden()


async def test_the_copilot_routing_attribute_is_shown_only_once_a_template_is_set(
    start_ui: StartUi, page: Page
) -> None:
    url = await start_ui()
    await open_view(page, url, "editor")
    attribute = page.get_by_label("AI Copilot Routing Attribute", exact=True)
    await attribute.wait_for(state="hidden", timeout=TIMEOUT)
    template = page.get_by_label("AI Copilot URL Template", exact=True)
    await template.fill("https://copilot.example.com/{urlToken}")
    await attribute.wait_for(state="visible", timeout=TIMEOUT)
    await template.fill("")
    await attribute.wait_for(state="hidden", timeout=TIMEOUT)


async def test_a_check_the_runtime_refuses_leaves_no_valid_verdict(
    start_ui: StartUi, page: Page, console_errors: ConsoleWatch
) -> None:
    url = await start_ui()
    await open_view(page, url, "editor")
    await page.wait_for_selector("#validity[data-state=valid]", timeout=TIMEOUT)
    await page.get_by_label("Enable User Connects Message", exact=True).check()
    await page.get_by_label("User Connects Message", exact=True).fill("x" * (1100 * 1024))
    validity = page.locator("#validity")
    await expect(validity).to_have_attribute("data-state", "unchecked", timeout=TIMEOUT)
    await expect(validity).to_contain_text("not checked (the request body is over")
    expect_http_errors(console_errors, 413)
    await page.get_by_label("User Connects Message", exact=True).fill("Welcome back")
    await page.wait_for_selector("#validity[data-state=valid]", timeout=TIMEOUT)
