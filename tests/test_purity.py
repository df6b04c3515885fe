"""The pure core imports nothing of I/O: each pure module, imported alone in a fresh interpreter through its
package's `__init__` (as any caller does), leaves aiohttp, redis, aiosqlite, sqlite3 and structlog unloaded."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE_MODULES = [
    "handover_miaw.handovers.machine",
    "handover_miaw.handovers.mapping",
    "handover_miaw.handovers.timers",
    "handover_miaw.handovers.ids",
    "handover_miaw.handovers.credentials",
    "handover_miaw.backoff",
    "handover_miaw.delivery.envelope",
    "handover_miaw.delivery.formats",
    "handover_miaw.miaw.events",
    "handover_miaw.miaw.decoding",
    "handover_miaw.miaw.sse",
    "handover_miaw.miaw.retry",
    "handover_miaw.miaw.errors",
    "handover_miaw.miaw.jwt",
    "handover_miaw.miaw.models",
    "handover_miaw.miaw.stream_status",
    "handover_miaw.miaw.lenient_json",
    "handover_miaw.store.records",
    "handover_miaw.schema_formats",
    "handover_miaw.problems",
    "handover_miaw.doctor.report",
    "handover_miaw.doctor.miaw_verdicts",
    "handover_miaw.doctor.node_verdicts",
]
IO_LIBRARIES = ("aiohttp", "redis", "aiosqlite", "sqlite3", "structlog")

# Prints the I/O libraries the import loaded, top-level names only (sqlite3 loads as sqlite3 and _sqlite3).
PROBE = """
import importlib, sys
importlib.import_module(sys.argv[1])
loaded = {name.split(".")[0] for name in sys.modules}
print(" ".join(sorted(loaded & set(sys.argv[2:]))))
"""


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_nothing_of_io(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, module, *IO_LIBRARIES], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [], f"importing {module} loads {result.stdout.strip()}"


def test_the_probe_sees_an_io_library() -> None:
    """The probe is not blind: a module that does I/O is reported with what it loads."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "handover_miaw.miaw.client", *IO_LIBRARIES],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "aiohttp" in result.stdout.split()
