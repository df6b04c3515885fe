"""Generated bad (and good) input: schemathesis against /v1/openapi.json on a running runtime.

The runtime is a real `serve` subprocess on loopback with a connector pointing at the simulator (served
by this test), so generated handover starts reach MIAW too. Bounded by examples per operation and a time
budget, with a fixed seed so CI runs are reproducible. Checks: no 5xx, every status code, content type and
body as the document says. Development mode is needed for the loopback simulator URL, so the API key is
off here; test_security covers authentication.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer

from handover_miaw.simulator import Simulator, SimulatorConfig
from handover_miaw.simulator import create_app as create_sim_app
from tests.processes import RuntimeProcess, free_port

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.mark.timeout(150)
async def test_generated_requests_never_get_a_5xx_and_match_the_document(aiohttp_server: Any, tmp_path: Path) -> None:
    executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if executable is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    sim = Simulator(SimulatorConfig(ping_interval_s=1.0))
    sim_server: TestServer = await aiohttp_server(create_sim_app(sim))
    connectors = tmp_path / "connectors.json"
    config = {
        "baseUrl": str(sim_server.make_url("")).rstrip("/"),
        "organizationId": "00D000000000001",
        "esDeveloperName": "Bot_Handover_Custom",
    }
    connectors.write_bytes(orjson.dumps({"connectors": {"acme": {"config": config, "delivery": {"format": "sse"}}}}))
    runtime = RuntimeProcess(
        free_port(), tmp_path / "data", connectors, tmp_path / "runtime.log", {"HANDOVER_MIAW_LOG_LEVEL": "WARNING"}
    )
    async with aiohttp.ClientSession() as http:
        await runtime.start(http)
    try:
        # A subprocess of its own: the simulator keeps serving on this event loop meanwhile.
        fuzz = await asyncio.create_subprocess_exec(
            executable,
            "run",
            f"{runtime.url}/v1/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            "15",
            "--max-time",
            "25",
            "--seed",
            "20261125",
            "--no-color",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        output, _ = await fuzz.communicate()
    finally:
        await runtime.stop()
    report = output.decode(errors="replace")
    summary = report[report.rfind("SUMMARY") :]
    print(summary)
    assert fuzz.returncode == 0, f"{report[-6000:]}\n--- runtime ---\n{runtime.tail()}"
