"""`handover-miaw doctor`: check a live deployment before the first handover and say how to fix what is wrong.

Seven checks, in order: the configuration (1), the MIAW endpoint (2), the deployment (3), a token and the
event stream (4), routing attributes against the pre-chat fields (5), identity tokens (6), the delivery
target (7). Pure verdicts (`miaw_verdicts`, `node_verdicts`) decide what the facts mean; `probes` gathers
the facts; `runner` orders the checks under time limits; `report` renders the table and the JSON.
The CLI (`command`) and `POST /v1/connectors/{name}/check` both call `run_doctor`.

Everything is re-exported lazily (PEP 562): the verdicts and the report are pure and must not load aiohttp
by being imported through this package.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handover_miaw.doctor.inputs import DoctorInput, check_configuration, from_connectors_file, from_flags
    from handover_miaw.doctor.report import Report, Status, render_json, render_text, report_to_json
    from handover_miaw.doctor.runner import DoctorOptions, run_doctor

__all__ = [
    "DoctorInput",
    "DoctorOptions",
    "Report",
    "Status",
    "check_configuration",
    "from_connectors_file",
    "from_flags",
    "render_json",
    "render_text",
    "report_to_json",
    "run_doctor",
]

# The module defining each exported name.
_SOURCE = {
    "DoctorInput": "inputs",
    "check_configuration": "inputs",
    "from_connectors_file": "inputs",
    "from_flags": "inputs",
    "Report": "report",
    "Status": "report",
    "render_json": "report",
    "render_text": "report",
    "report_to_json": "report",
    "DoctorOptions": "runner",
    "run_doctor": "runner",
}


def __getattr__(name: str) -> Any:
    """An exported name, imported from its module at first use and kept."""
    source = _SOURCE.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{source}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's own names and every lazily exported one."""
    return sorted({*globals(), *__all__})
