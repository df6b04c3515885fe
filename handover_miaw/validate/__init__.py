"""The schema validation tool behind `handover-miaw validate`."""

from handover_miaw.validate.report import render_json, render_text
from handover_miaw.validate.runner import KINDS, FileResult, Kind, check_document, detect_kind, validate_path

__all__ = [
    "KINDS",
    "FileResult",
    "Kind",
    "check_document",
    "detect_kind",
    "render_json",
    "render_text",
    "validate_path",
]
