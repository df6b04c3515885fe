"""The doctor's pure parts, without a network: verdicts, the report, its rendering and redaction."""

from __future__ import annotations

import orjson
import pytest

from handover_miaw.doctor.miaw_verdicts import (
    EndpointAnswer,
    TlsFacts,
    clock_verdict,
    config_verdict,
    deployment_refused,
    endpoint_verdict,
    misplaced_url,
    token_refused,
)
from handover_miaw.doctor.node_verdicts import SIGNATURE_RECIPE, delivery_verdict
from handover_miaw.doctor.report import (
    CHECKS,
    CheckResult,
    Finding,
    Report,
    Status,
    redact_report,
    render_json,
    render_text,
    report_from_json,
)
from handover_miaw.problems import Problem


def report_of(*statuses: Status) -> Report:
    results = tuple(
        CheckResult(key, number, Finding(status, f"found {number}", f"fix {number}"))
        for (number, (key, _)), status in zip(enumerate(CHECKS, start=1), statuses, strict=False)
    )
    return Report("acme", "https://acme.my.salesforce-scrt.com", results)


@pytest.mark.parametrize(
    ("statuses", "exit_code"),
    [
        ((Status.PASS, Status.WARN, Status.SKIP), 0),
        ((Status.PASS, Status.ERROR, Status.WARN), 1),
        ((Status.PASS, Status.ERROR, Status.FAIL), 2),
        ((Status.FAIL, Status.SKIP), 2),
    ],
)
def test_exit_codes(statuses: tuple[Status, ...], exit_code: int) -> None:
    assert report_of(*statuses).exit_code == exit_code


def test_the_table_has_a_symbol_per_line_and_the_fix_under_failures_and_warnings() -> None:
    text = render_text(report_of(Status.PASS, Status.WARN, Status.FAIL, Status.SKIP))
    lines = text.splitlines()
    assert lines[0] == "handover-miaw doctor: connector acme (https://acme.my.salesforce-scrt.com)"
    assert lines[1].startswith("✔ 1 Configuration")
    assert lines[2].startswith("! 2 MIAW endpoint")
    assert lines[3] == "      fix: fix 2"
    assert lines[4].startswith("✘ 3 Deployment")
    assert lines[6].startswith("- 4 Token and event stream")
    assert "fix 1" not in text
    assert "fix 4" not in text
    assert lines[-1] == "doctor: 1 passed, 1 warning(s), 1 failed, 1 not run (exit 2)"


def test_the_json_report_reads_back() -> None:
    report = report_of(Status.PASS, Status.FAIL)
    document = orjson.loads(render_json(report))
    assert document["outcome"] == "fail"
    assert document["exitCode"] == 2
    assert document["checks"][1] == {
        "number": 2,
        "key": "endpoint",
        "title": "MIAW endpoint",
        "status": "fail",
        "found": "found 2",
        "fix": "fix 2",
        "details": [],
        "elapsedMs": 0,
    }
    assert report_from_json(document) == report


def test_redaction_replaces_every_secret_an_answer_echoed() -> None:
    echoed = Finding(
        Status.FAIL, "refused (HTTP 400: bad token eyJhbGciOi.secret-part)", "fix", ("d eyJhbGciOi.secret-part",)
    )
    report = Report("acme", None, (CheckResult("identity", 6, echoed),))
    clean = redact_report(report, ["eyJhbGciOi.secret-part", None, "abc"])
    assert clean.results[0].finding.found == "refused (HTTP 400: bad token [redacted])"
    assert clean.results[0].finding.details == ("d [redacted]",)


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("https://acme.my.salesforce.com", "My Domain"),
        ("https://acme.lightning.force.com/lightning/page/home", "Lightning"),
        ("https://acme.my.site.com/support", "Experience Cloud"),
    ],
)
def test_org_and_lightning_urls_are_recognised(url: str, what: str) -> None:
    finding = misplaced_url(url, "Bot_Handover_Custom")
    assert finding is not None
    assert finding.status is Status.FAIL
    assert what in finding.found
    assert "my.salesforce-scrt.com" in (finding.fix or "")


def test_the_messaging_url_is_not_flagged() -> None:
    assert misplaced_url("https://acme.my.salesforce-scrt.com", "X") is None
    assert misplaced_url("http://127.0.0.1:8089", "X") is None


JSON = EndpointAnswer(400, "application/json", None)
TLS = TlsFacts("TLSv1.3", "Dec  1 20:00:00 2027 GMT", 365.0)


@pytest.mark.parametrize(
    ("tls", "answer", "status", "found"),
    [
        (
            TLS,
            JSON,
            Status.PASS,
            "resolves to 1.2.3.4; TLSv1.3, certificate valid until Dec  1 20:00:00 2027 GMT; answers as MIAW",
        ),
        (None, JSON, Status.WARN, "resolves to 1.2.3.4; http (loopback dev): no TLS; answers as MIAW"),
        (
            TlsFacts("TLSv1.3", "soon", 3.0),
            JSON,
            Status.WARN,
            "resolves to 1.2.3.4; TLSv1.3, certificate valid until soon; answers as MIAW",
        ),
        (
            TLS,
            EndpointAnswer(302, "text/html", "https://login.salesforce.com/"),
            Status.FAIL,
            "answers with a redirect (HTTP 302) to https://login.salesforce.com/: not a MIAW endpoint",
        ),
        (
            TLS,
            EndpointAnswer(200, "text/html", None),
            Status.FAIL,
            "answers HTTP 200 with text/html, not as MIAW does (JSON)",
        ),
    ],
)
def test_endpoint_answers(tls: TlsFacts | None, answer: EndpointAnswer, status: Status, found: str) -> None:
    finding = endpoint_verdict("https://acme.my.salesforce-scrt.com", ["1.2.3.4"], tls, answer, "Dep")
    assert finding.status is status
    assert finding.found == found


def test_line_1_names_the_code_snippet_for_a_wrong_base_url_once() -> None:
    problems = [Problem("/config/baseUrl", "host not allowed")]
    finding = config_verdict(problems, "https://acme.my.salesforce.com", "Dep")
    assert finding.fix is not None
    assert finding.fix.count("copy the Url") == 1


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (400, "Unknown orgId '00D1'.", "does not know org"),
        (400, "No Embedded Service deployment named 'X'.", "no deployment named"),
        (400, "Deployment 'X' is not published yet.", "not published yet"),
        (400, "", "refused org"),
        (503, "", "Salesforce failed"),
    ],
)
def test_deployment_refusals_are_told_apart_where_the_message_allows(status: int, message: str, expected: str) -> None:
    finding = deployment_refused(status, message, "00D1", "X")
    assert finding.status is Status.FAIL
    assert expected in finding.found


def test_a_refused_capabilities_version_is_named_with_the_value_to_use() -> None:
    finding = token_refused(400, "Invalid capabilitiesVersion '7'.", "7")
    assert finding.found.startswith("Capabilities Version '7' refused")
    assert finding.fix == 'set Capabilities Version to "1" in the connector'
    assert "Capabilities" not in (token_refused(400, "Invalid orgId.", "1").fix or "")


@pytest.mark.parametrize(
    ("skew", "status"), [(None, Status.PASS), (3.0, Status.PASS), (-30.0, Status.WARN), (200.0, Status.FAIL)]
)
def test_clock_skew_thresholds(skew: float | None, status: Status) -> None:
    assert clock_verdict(skew).status is status


@pytest.mark.parametrize(
    ("status", "verdict", "fix"),
    [
        (204, Status.PASS, None),
        (403, Status.FAIL, SIGNATURE_RECIPE),
        (302, Status.FAIL, "set delivery.url to the final URL"),
        (404, Status.FAIL, "check delivery.url"),
        (
            500,
            Status.FAIL,
            "answer 2xx to every delivery, including types the receiver does not handle (handover.ping)",
        ),
    ],
)
def test_delivery_answers(status: int, verdict: Status, fix: str | None) -> None:
    finding = delivery_verdict("webhook", status, "https://bot.example.com/h")
    assert finding.status is verdict
    assert finding.fix == fix
