"""The package check page in a real browser: a built archive renders its forms, a tampered one lists problems."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.async_api import expect

from handover_miaw.packaging import build_package
from handover_miaw.resources import project_root
from tests.ui.conftest import StartUi, open_view
from tests.ui.test_tools_api import _tampered

if TYPE_CHECKING:
    from playwright.async_api import Page

TIMEOUT = 10_000


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package(project_root(), tmp_path_factory.mktemp("dist")).path


@pytest.fixture
def bad_archives(archive: Path, tmp_path: Path) -> tuple[Path, Path]:
    tampered = tmp_path / "tampered.tar.gz"
    tampered.write_bytes(_tampered(archive.read_bytes()))
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"\x1f\x8b not really gzip")
    return tampered, broken


async def test_a_built_package_renders_the_forms_of_its_manifest(start_ui: StartUi, page: Page, archive: Path) -> None:
    url = await start_ui()
    await open_view(page, url, "package")
    await page.get_by_label("Built package (.tar.gz)").set_input_files(archive)
    await expect(page.locator("#package-status")).to_have_text(
        f"{archive.name} (handover-miaw 0.1.0): valid package", timeout=TIMEOUT
    )
    forms = page.locator("#package-forms")
    await expect(forms.get_by_label("Identity Token for Authenticated Users")).to_be_visible()
    await expect(forms.get_by_label("Base URL", exact=True)).to_be_visible()
    assert await page.locator("#package-problems li").count() == 0


async def test_a_tampered_or_broken_archive_gets_its_problems_listed(
    start_ui: StartUi, page: Page, bad_archives: tuple[Path, Path]
) -> None:
    tampered, broken = bad_archives
    url = await start_ui()
    await open_view(page, url, "package")
    await page.get_by_label("Built package (.tar.gz)").set_input_files(tampered)
    problems = page.locator("#package-problems li")
    await expect(problems).to_contain_text(
        ["extension.json: checksum mismatch: the file was changed after the build"], timeout=TIMEOUT
    )
    await expect(page.locator("#package-status")).to_contain_text("problem(s)")
    # The manifest inside still loads: its (tampered) forms are what the platform would show.
    await expect(page.locator("#package-forms")).to_be_visible()

    await page.get_by_label("Built package (.tar.gz)").set_input_files(broken)
    await expect(problems.first).to_contain_text("/: not a gzip-compressed tar archive", timeout=TIMEOUT)
    await expect(page.locator("#package-forms")).to_be_hidden()
