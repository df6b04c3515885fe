"""The access line of a request whose headers hold bytes that are not UTF-8, written by `serve`: aiohttp
hands them over as lone surrogates, which the JSON renderer refused, and the logging module printed the raw
line instead (an API key in its query unredacted) and dropped it from the access log."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from tests.api.wire_client import WireConnection
from tests.processes import RuntimeProcess, free_port

KEY = "k" * 20 + "0123456789abcdefghij"


async def test_an_access_line_with_header_bytes_that_are_not_utf8_is_written_and_redacted(tmp_path: Path) -> None:
    connectors = tmp_path / "connectors.json"
    connectors.write_bytes(b'{"connectors": {}}')
    log = tmp_path / "runtime.log"
    env = {"HANDOVER_MIAW_API_KEYS": KEY}
    runtime = RuntimeProcess(free_port(), tmp_path / "data", connectors, log, env, extra_args=())
    async with aiohttp.ClientSession() as http:
        await runtime.start(http)
    try:
        for header in (b"User-Agent: \xff\xfe", b"Referer: http://example.org/\xe9"):
            connection = await WireConnection.open(runtime.port)
            await connection.send(
                b"GET /healthz?probe=" + KEY.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header + b"\r\n\r\n"
            )
            assert (await connection.response()).status == 200
            await connection.close()
    finally:
        await runtime.stop()
    text = log.read_text(errors="replace")
    assert KEY not in text
    assert "Logging error" not in text
    access = [json.loads(line) for line in text.splitlines() if '"first_request_line"' in line]
    assert [a["first_request_line"] for a in access if "probe" in a["first_request_line"]] == [
        "GET /healthz?probe=[REDACTED] HTTP/1.1"
    ] * 2
