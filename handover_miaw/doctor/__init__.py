"""`handover-miaw doctor`: check a live deployment before the first handover and say how to fix what is wrong.

Seven checks, in order: the configuration (1), the MIAW endpoint (2), the deployment (3), a token and the
event stream (4), routing attributes against the pre-chat fields (5), identity tokens (6), the delivery
target (7). Pure verdicts (`miaw_verdicts`, `node_verdicts`) decide what the facts mean; `probes` gathers
the facts; `runner` orders the checks under time limits; `report` renders the table and the JSON.
The CLI (`command`) and `POST /v1/connectors/{name}/check` both call `run_doctor`.
"""

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
