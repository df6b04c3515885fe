"""Loading the recorded MIAW payloads under tests/fixtures/miaw/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "miaw"


def load(name: str) -> Any:
    """A fixture file, parsed."""
    return orjson.loads((FIXTURES / name).read_bytes())


def sse(name: str) -> tuple[str, str, str | None]:
    """(event type, data line, id) of `sse_<name>.json`, the data as it travels on the wire."""
    recorded = load(f"sse_{name}.json")
    data = recorded["data"]
    return recorded["event"], data if isinstance(data, str) else orjson.dumps(data).decode(), recorded["id"]
