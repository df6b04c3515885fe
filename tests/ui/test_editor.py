"""The node editor in a real browser: rendered from the manifest, validated live by the runtime."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playwright.async_api import expect

from handover_miaw.manifest import Manifest, load_manifest
from handover_miaw.manifest.fields import Field, apply_defaults, condition_holds
from tests.ui.conftest import StartUi, open_view

if TYPE_CHECKING:
    from playwright._impl._async_base import AsyncEventContextManager
    from playwright.async_api import Download, Locator, Page

TIMEOUT = 10_000


def _node(document: Any) -> dict[str, Any]:
    return next(n for n in document["nodes"] if n["type"] == "handoverToAgent")


async def _downloaded_json(info: AsyncEventContextManager[Download]) -> Any:
    path = await (await info.value).path()
    return json.loads(await asyncio.to_thread(path.read_text))


async def _problem(page: Page, label: str) -> Locator:
    control = page.get_by_label(label, exact=True)
    problem_id = (await control.get_attribute("aria-describedby") or "").split()[-1]
    return page.locator(f"#{problem_id}")


async def _problem_of(page: Page, label: str) -> str:
    control = page.get_by_label(label, exact=True)
    problem_id = (await control.get_attribute("aria-describedby") or "").split()[-1]
    return await page.locator(f"#{problem_id}").inner_text()


async def _check_field(page: Page, field: Field, shown: bool) -> None:
    control = page.get_by_label(field.label, exact=True)
    assert await control.count() == 1, field.label
    if field.params.get("placeholder"):
        assert await control.get_attribute("placeholder") == field.params["placeholder"]
    assert (await control.get_attribute("aria-required") == "true") == field.required, field.label
    if field.description:
        described = (await control.get_attribute("aria-describedby") or "").split()[0]
        assert await page.locator(f"#{described}").inner_text() == field.description
    assert await control.is_visible() == shown, field.label
    if field.type == "toggle":
        assert await control.is_checked() == bool(field.default)
    elif field.type == "text" and field.has_default:
        assert await control.input_value() == field.default


async def test_every_manifest_field_is_rendered_by_its_label_with_its_declaration(
    start_ui: StartUi, page: Page, manifest: Manifest
) -> None:
    url = await start_ui()
    await open_view(page, url, "editor")
    await page.wait_for_selector("#validity[data-state]", timeout=TIMEOUT)
    for fields in (manifest.connector_fields, manifest.node_fields):
        defaults = apply_defaults(fields, {})
        for field in fields:
            await _check_field(page, field, condition_holds(field.condition, defaults))
    # Sections and form order: the node's fields sit inside the section's fieldset, in the section's order.
    section = _node(manifest.document)["sections"][0]
    legend = page.locator("#node-form fieldset legend")
    assert await legend.inner_text() == section["label"]
    keys = await page.locator("#node-form fieldset .field").evaluate_all("els => els.map(e => e.dataset.key)")
    assert keys == section["fields"]


async def test_a_condition_shows_and_hides_its_field(start_ui: StartUi, page: Page) -> None:
    url = await start_ui()
    await open_view(page, url, "editor")
    token = page.get_by_label("Identity Token", exact=True)
    await token.wait_for(state="hidden", timeout=TIMEOUT)
    await page.get_by_label("Identity Token for Authenticated Users").check()
    await token.wait_for(state="visible", timeout=TIMEOUT)
    # Required only while shown: the runtime reports it missing at the field.
    await page.wait_for_selector("#validity[data-state=invalid]", timeout=TIMEOUT)
    assert "required property 'identityToken' is missing" in await _problem_of(page, "Identity Token")
    await page.get_by_label("Identity Token for Authenticated Users").uncheck()
    await token.wait_for(state="hidden", timeout=TIMEOUT)
    await page.wait_for_selector("#validity[data-state=valid]", timeout=TIMEOUT)


async def test_a_bad_value_shows_the_runtime_problem_at_its_field_and_a_fix_clears_it(
    start_ui: StartUi, page: Page
) -> None:
    url = await start_ui()
    await open_view(page, url, "editor")
    await page.wait_for_selector("#validity[data-state]", timeout=TIMEOUT)
    await page.get_by_label("Conversation Routing Attributes").fill('{"not a field name": "x"}')
    await page.wait_for_selector("#validity[data-state=invalid]", timeout=TIMEOUT)
    problem = await _problem_of(page, "Conversation Routing Attributes")
    assert "property name" in problem
    assert "not a field name" in problem
    await page.get_by_label("Organization ID", exact=True).fill("00X123")
    await expect(await _problem(page, "Organization ID")).to_contain_text('"00X123" is not a valid', timeout=TIMEOUT)
    await page.get_by_label("Conversation Routing Attributes").fill('{"Brand__c": "acme"}')
    await page.get_by_label("Organization ID", exact=True).fill("00D5e000000AbCd")
    await page.get_by_label("Base URL", exact=True).fill("https://acme.my.salesforce-scrt.com")
    await page.get_by_label("Embedded Service Developer Name", exact=True).fill("Bot_Handover_Custom")
    await page.wait_for_selector("#validity[data-state=valid]", timeout=TIMEOUT)
    await page.wait_for_selector("#connector-validity[data-state=valid]", timeout=TIMEOUT)
    assert await page.locator("[aria-invalid=true]").count() == 0
    # JSON that does not parse is caught at the field too, with the browser's own reason.
    await page.get_by_label("Conversation Routing Attributes").fill("{oops")
    await page.wait_for_selector("#validity[data-state=invalid]", timeout=TIMEOUT)
    assert "not valid JSON" in await _problem_of(page, "Conversation Routing Attributes")


async def test_a_field_added_to_the_manifest_appears_and_is_validated(
    start_ui: StartUi, page: Page, manifest_doc: dict[str, Any], write_manifest: Any
) -> None:
    node = _node(manifest_doc)
    node["fields"].append(
        {
            "key": "maxWaitMinutes",
            "type": "number",
            "label": "Maximum Wait in Minutes",
            "description": "Give up after this long.",
            "defaultValue": 5,
            "params": {"min": 1, "max": 60, "placeholder": "5"},
        }
    )
    node["fields"].append(
        {
            "key": "channel",
            "type": "select",
            "label": "Channel",
            "defaultValue": "web",
            "params": {"options": [{"label": "Web", "value": "web"}, {"label": "Mobile", "value": "mobile"}]},
        }
    )
    node["fields"].append(
        {"key": "extraContext", "type": "json", "label": "Extra Context", "params": {"placeholder": "[1, 2]"}}
    )
    node["sections"][0]["fields"] += ["maxWaitMinutes", "channel", "extraContext"]
    path: Path = write_manifest(manifest_doc)
    url = await start_ui(manifest=load_manifest(path))
    await open_view(page, url, "editor")
    minutes = page.get_by_label("Maximum Wait in Minutes", exact=True)
    assert await minutes.input_value() == "5"
    assert await page.get_by_label("Channel", exact=True).input_value() == "0"
    await minutes.fill("90")
    await page.wait_for_selector("#validity[data-state=invalid]", timeout=TIMEOUT)
    assert "90 is greater than the maximum of 60" in await _problem_of(page, "Maximum Wait in Minutes")
    await minutes.fill("30")
    await page.get_by_label("Channel", exact=True).select_option(label="Mobile")
    await page.get_by_label("Extra Context", exact=True).fill('{"tier": [1, 2]}')
    await page.wait_for_selector("#validity[data-state=valid]", timeout=TIMEOUT)
    async with page.expect_download(timeout=TIMEOUT) as download_info:
        await page.get_by_role("button", name="Export node settings").click()
    exported = await _downloaded_json(download_info)
    assert exported["maxWaitMinutes"] == 30
    assert exported["channel"] == "mobile"


async def test_import_fills_the_form_and_export_gives_the_same_settings(
    start_ui: StartUi, page: Page, tmp_path: Path
) -> None:
    url = await start_ui()
    await open_view(page, url, "editor")
    settings = {
        "sendTranscript": True,
        "routingAttributes": {"Brand__c": "acme", "language": "de"},
        "useIdentityToken": True,
        "identityToken": "eyJ.fake.token",
        "userConnectsMessage": False,
        "userDisconnectsMessage": True,
        "userDisconnectsText": "Bye",
        "endOnParticipantChange": True,
    }
    source = tmp_path / "in.json"
    source.write_text(json.dumps(settings))
    await page.get_by_label("Import node settings").set_input_files(source)
    await page.get_by_label("Identity Token", exact=True).wait_for(state="visible", timeout=TIMEOUT)
    assert await page.get_by_label("User Connects Message", exact=True).is_hidden()
    await page.wait_for_selector("#validity[data-state=valid]", timeout=TIMEOUT)
    async with page.expect_download(timeout=TIMEOUT) as download_info:
        await page.get_by_role("button", name="Export node settings").click()
    exported = await _downloaded_json(download_info)
    assert exported == settings
    # A file that is not settings gets its problem next to the import control, and the page stays usable.
    broken = tmp_path / "broken.json"
    broken.write_text("[1, 2")
    await page.get_by_label("Import node settings").set_input_files(broken)
    await expect(page.locator("#import-problem")).to_contain_text("broken.json", timeout=TIMEOUT)


async def test_keyboard_alone_completes_the_node_form(start_ui: StartUi, page: Page) -> None:
    url = await start_ui()
    await open_view(page, url, "editor")
    await page.wait_for_selector("#validity[data-state]", timeout=TIMEOUT)

    async def tab_to(label: str) -> None:
        for _ in range(60):
            await page.keyboard.press("Tab")
            focused = await page.evaluate(
                "() => { const e = document.activeElement; return e && e.labels && e.labels[0] ? "
                "e.labels[0].firstChild.textContent : (e ? e.textContent : '') }"
            )
            if focused == label:
                return
        raise AssertionError(f"Tab never reached {label!r}")

    await tab_to("Send Transcript as a first message")
    await page.keyboard.press("Space")
    await tab_to("Conversation Routing Attributes")
    await page.keyboard.type('{"Brand__c": "acme"}')
    await tab_to("Identity Token for Authenticated Users")
    await page.keyboard.press("Space")
    # The field the toggle reveals is there before the next key, not only after the debounced check: a
    # keyboard user tabbing on at once must not skip it.
    assert await page.locator("#node-form [data-key=identityToken]").evaluate("e => !e.hidden")
    await tab_to("Identity Token")
    await page.keyboard.type("eyJ.keyboard.token")
    await page.wait_for_selector("#validity[data-state=valid]", timeout=TIMEOUT)
    await tab_to("Export node settings")
    async with page.expect_download(timeout=TIMEOUT) as download_info:
        await page.keyboard.press("Enter")
    exported = await _downloaded_json(download_info)
    assert exported["sendTranscript"] is True
    assert exported["routingAttributes"] == {"Brand__c": "acme"}
    assert exported["identityToken"] == "eyJ.keyboard.token"
