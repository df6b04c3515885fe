"""Fixtures shared by every test: the project's files and a manifest that tests may break on purpose."""

from __future__ import annotations

import copy
import io
import json
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestServer

from handover_miaw.logs import configure_logging
from handover_miaw.manifest import Manifest, load_manifest
from handover_miaw.resources import project_root
from handover_miaw.simulator import Simulator, SimulatorConfig
from handover_miaw.simulator import create_app as create_sim_app

# Page tests (headless Chromium) share one harness.
pytest_plugins = ["tests.browser"]

ORG_ID = "00D000000000001"


@pytest.fixture(scope="session")
def root() -> Path:
    """The project folder (extension.json, schemas/, icon.png)."""
    return project_root()


@pytest.fixture(scope="session")
def manifest() -> Manifest:
    """The project's own manifest, loaded through the real pipeline."""
    return load_manifest()


@pytest.fixture
def manifest_doc(root: Path) -> dict[str, Any]:
    """A fresh, mutable copy of extension.json."""
    return copy.deepcopy(json.loads((root / "extension.json").read_text()))


@pytest.fixture
def write_manifest(tmp_path: Path, root: Path) -> Callable[[dict[str, Any]], Path]:
    """Write a manifest document next to a copy of the icon; return its path."""

    def write(document: dict[str, Any]) -> Path:
        shutil.copy(root / "icon.png", tmp_path / "icon.png")
        path = tmp_path / "extension.json"
        path.write_text(json.dumps(document, indent=2))
        return path

    return write


@pytest.fixture
def connector_config() -> dict[str, Any]:
    """A valid connector configuration aimed at a loopback simulator."""
    return {
        "baseUrl": "http://127.0.0.1:8089",
        "organizationId": ORG_ID,
        "esDeveloperName": "Bot_Handover_Custom",
        "capabilitiesVersion": "1",
        "forwardEvents": False,
    }


@pytest.fixture
def sim() -> Simulator:
    """The MIAW simulator (pinging every 0.2 s) that runtime, API and doctor tests talk to."""
    return Simulator(SimulatorConfig(org_id=ORG_ID, ping_interval_s=0.2))


@pytest.fixture
async def sim_url(sim: Simulator, aiohttp_server: Any) -> str:
    """`sim` served over loopback HTTP; its base URL."""
    server: TestServer = await aiohttp_server(create_sim_app(sim))
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Every log line of the test, rendered as JSON at DEBUG; logging is reset afterwards."""
    stream = io.StringIO()
    configure_logging("DEBUG", json=True, stream=stream)
    yield stream
    logging.getLogger().handlers.clear()
    structlog.reset_defaults()
