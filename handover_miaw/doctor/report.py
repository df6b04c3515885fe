"""The doctor's report: one line per check with its status, what was found and the fix. Pure: no I/O.

Statuses: ✔ pass, ! warning, ✘ fails, - not run (an earlier line failed or there is nothing to check),
? the check itself could not run. Exit code: 2 when any check fails, else 1 when any could not run,
else 0 (warnings do not fail).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

__all__ = [
    "CHECKS",
    "CheckResult",
    "Finding",
    "Report",
    "Status",
    "redact_report",
    "render_json",
    "render_text",
    "report_from_json",
    "report_to_json",
]


class Status(enum.StrEnum):
    """How one check came out."""

    PASS = "pass"  # noqa: S105 (a status, not a password)
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"


SYMBOLS: dict[Status, str] = {
    Status.PASS: "✔",
    Status.WARN: "!",
    Status.FAIL: "✘",
    Status.SKIP: "-",
    Status.ERROR: "?",
}

# (key, title) of every check, in the order they run and are printed.
CHECKS: tuple[tuple[str, str], ...] = (
    ("config", "Configuration"),
    ("endpoint", "MIAW endpoint"),
    ("deployment", "Deployment"),
    ("session", "Token and event stream"),
    ("routing", "Routing attributes"),
    ("identity", "Identity tokens"),
    ("delivery", "Delivery target"),
)
_TITLES = dict(CHECKS)
_REDACTED = "[redacted]"
# Shorter values than this are not treated as secrets when redacting (they would mangle ordinary words).
_MIN_SECRET = 6


@dataclass(frozen=True, slots=True)
class Finding:
    """What one check found: its status, a sentence, the fix (for ✘ and !) and one line per item."""

    status: Status
    found: str
    fix: str | None = None
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One printed line of the report."""

    key: str
    number: int
    finding: Finding
    elapsed_ms: int = 0

    @property
    def title(self) -> str:
        """The check's name as printed."""
        return _TITLES.get(self.key, self.key)


@dataclass(frozen=True, slots=True)
class Report:
    """Every check's result, in order."""

    connector: str | None
    base_url: str | None
    results: tuple[CheckResult, ...] = field(default=())
    elapsed_ms: int = 0

    @property
    def outcome(self) -> Status:
        """fail > error > warn > pass (skipped lines count for nothing by themselves)."""
        statuses = {r.finding.status for r in self.results}
        for status in (Status.FAIL, Status.ERROR, Status.WARN):
            if status in statuses:
                return status
        return Status.PASS

    @property
    def exit_code(self) -> int:
        """0 nothing fails, 2 something fails, 1 a check could not run."""
        return {Status.FAIL: 2, Status.ERROR: 1}.get(self.outcome, 0)


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, _REDACTED)
    return text


def redact_report(report: Report, secrets: Iterable[str | None]) -> Report:
    """The report with every secret value replaced, wherever a message from outside may have echoed it."""
    values = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET}, key=len, reverse=True)
    if not values:
        return report

    def clean(finding: Finding) -> Finding:
        return replace(
            finding,
            found=_redact(finding.found, values),
            fix=_redact(finding.fix, values) if finding.fix else finding.fix,
            details=tuple(_redact(d, values) for d in finding.details),
        )

    results = tuple(replace(r, finding=clean(r.finding)) for r in report.results)
    base_url = _redact(report.base_url, values) if report.base_url else report.base_url
    return replace(report, results=results, base_url=base_url)


def _summary(report: Report) -> str:
    counts = dict.fromkeys(Status, 0)
    for result in report.results:
        counts[result.finding.status] += 1
    parts = [f"{counts[Status.PASS]} passed", f"{counts[Status.WARN]} warning(s)", f"{counts[Status.FAIL]} failed"]
    if counts[Status.SKIP]:
        parts.append(f"{counts[Status.SKIP]} not run")
    if counts[Status.ERROR]:
        parts.append(f"{counts[Status.ERROR]} could not run")
    return f"doctor: {', '.join(parts)} (exit {report.exit_code})"


def render_text(report: Report) -> str:
    """The table: a heading, one line per check (symbol, number, title, finding), fix and details below."""
    width = max(len(title) for _, title in CHECKS)
    heading = "handover-miaw doctor"
    if report.connector:
        heading += f": connector {report.connector}"
    if report.base_url:
        heading += f" ({report.base_url})"
    lines = [heading]
    for result in report.results:
        finding = result.finding
        lines.append(f"{SYMBOLS[finding.status]} {result.number} {result.title:<{width}}  {finding.found}")
        lines.extend(f"      - {detail}" for detail in finding.details)
        if finding.fix and finding.status in (Status.FAIL, Status.WARN, Status.ERROR):
            lines.append(f"      fix: {finding.fix}")
    lines.append(_summary(report))
    return "\n".join(lines)


def report_to_json(report: Report) -> dict[str, Any]:
    """The report as `--format json` prints it and the API answers it."""
    return {
        "connector": report.connector,
        "baseUrl": report.base_url,
        "outcome": report.outcome.value,
        "exitCode": report.exit_code,
        "elapsedMs": report.elapsed_ms,
        "checks": [
            {
                "number": r.number,
                "key": r.key,
                "title": r.title,
                "status": r.finding.status.value,
                "found": r.finding.found,
                "fix": r.finding.fix,
                "details": list(r.finding.details),
                "elapsedMs": r.elapsed_ms,
            }
            for r in report.results
        ],
    }


def render_json(report: Report) -> str:
    """The JSON report, indented."""
    return orjson.dumps(report_to_json(report), option=orjson.OPT_INDENT_2).decode()


def report_from_json(document: Mapping[str, Any]) -> Report:
    """Read back a JSON report (what a runtime answered to `POST /v1/connectors/{name}/check`)."""
    results = tuple(
        CheckResult(
            key=str(item["key"]),
            number=int(item["number"]),
            finding=Finding(
                Status(item["status"]),
                str(item["found"]),
                item.get("fix"),
                tuple(str(d) for d in item.get("details") or ()),
            ),
            elapsed_ms=int(item.get("elapsedMs") or 0),
        )
        for item in document["checks"]
    )
    return Report(document.get("connector"), document.get("baseUrl"), results, int(document.get("elapsedMs") or 0))
