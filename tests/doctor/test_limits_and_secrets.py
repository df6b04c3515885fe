"""A hanging MIAW never hangs the doctor, and no secret reaches the table or the JSON."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson

from handover_miaw.doctor import Status, render_json, render_text
from handover_miaw.simulator import Simulator

from .conftest import SECRET, Doctor, line
from .test_checks import identity_token


async def sim_post(sim_url: str, path: str, body: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as http, http.post(f"{sim_url}/_sim{path}", json=body) as response:
        assert response.status == 200, await response.text()


async def test_a_hanging_miaw_fails_its_line_within_the_check_limit(doctor: Doctor, sim_url: str) -> None:
    await sim_post(sim_url, "/faults/latency", {"endpoint": "access_token", "seconds": 30})
    started = time.monotonic()
    report = await doctor(check_timeout_s=0.3)
    elapsed = time.monotonic() - started
    finding = line(report, "session")
    assert finding.status is Status.FAIL
    assert finding.found == "no answer within 0.3 s"
    # The lines after it still ran.
    assert line(report, "delivery").status is Status.PASS
    assert elapsed < 10, elapsed


async def test_the_overall_limit_leaves_the_remaining_checks_not_run(doctor: Doctor, sim_url: str) -> None:
    await sim_post(sim_url, "/faults/latency", {"endpoint": "config", "seconds": 30})
    started = time.monotonic()
    report = await doctor(check_timeout_s=5.0, total_timeout_s=0.5)
    elapsed = time.monotonic() - started
    endpoint = line(report, "endpoint")
    assert endpoint.status is Status.FAIL
    assert endpoint.found.startswith("no answer within 0.")
    assert line(report, "delivery").found == "not run: the overall time limit (0.5 s) was reached"
    assert report.exit_code == 2
    assert elapsed < 10, elapsed


async def test_no_secret_appears_in_the_table_or_the_json(
    doctor: Doctor, sim: Simulator, sim_url: str, connector: dict[str, Any]
) -> None:
    minted: list[str] = []
    mint = sim.tokens.mint

    def recording_mint(subject: str, org_id: str) -> str:
        token = mint(subject, org_id)
        minted.append(token)
        return token

    sim.tokens.mint = recording_mint  # type: ignore[method-assign]
    sample = identity_token()
    # MIAW echoing what it was sent in an error message must not leak it either.
    node = {"useIdentityToken": True, "identityToken": sample, "routingAttributes": {"Bot_Summary": "x"}}
    passing = await doctor(nodes=(("n.json", node),), identity_token=sample)
    connector["delivery"]["secret"] = SECRET + "-wrong"
    await sim_post(sim_url, "/faults/http", {"endpoint": "authenticated_access_token", "status": 400})
    failing = await doctor(nodes=(("n.json", node),), identity_token=sample)
    assert len(minted) >= 2
    for report in (passing, failing):
        for output in (render_text(report), render_json(report)):
            for secret in (sample, SECRET, SECRET + "-wrong", *minted):
                assert secret not in output
        assert orjson.loads(render_json(report))["checks"][0]["status"] == "pass"
