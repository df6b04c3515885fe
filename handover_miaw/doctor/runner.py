"""Run every check in order under a time limit per check and one for the whole run; build the report.

A check that depends on one that failed is not run (-). A check that runs out of time fails (✘) and the
run goes on; once the overall limit is spent the remaining checks are not run. An unexpected exception
makes that line "could not run" (?, exit 1). Every secret the run knows is redacted from the report.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp.abc import AbstractResolver

from handover_miaw.api.openapi import ApiDocument
from handover_miaw.delivery.guard import delivery_session
from handover_miaw.doctor.inputs import DoctorInput, check_configuration
from handover_miaw.doctor.miaw_verdicts import misplaced_url
from handover_miaw.doctor.probes import PROBES, Context, Probe
from handover_miaw.doctor.report import CHECKS, CheckResult, Finding, Report, Status, redact_report
from handover_miaw.manifest import Manifest
from handover_miaw.miaw import MiawClient, MiawTransportError, RetryPolicy
from handover_miaw.settings import Settings

__all__ = ["DoctorOptions", "run_doctor", "ssl_context"]

_NUMBERS = {key: number for number, (key, _) in enumerate(CHECKS, start=1)}
# The doctor reports what MIAW answers the first time: a retry would hide a flaky answer and slow it down.
_NO_RETRY = RetryPolicy(max_attempts=1)
_BLOCKING = {Status.FAIL, Status.ERROR, Status.SKIP}


@dataclass(frozen=True)
class DoctorOptions:
    """Limits and trust: seconds per check and in all; an extra CA file to trust (as SSL_CERT_FILE would)."""

    settings: Settings
    check_timeout_s: float = 10.0
    total_timeout_s: float = 60.0
    ca_file: Path | None = None
    # How delivery target names are resolved (the system's resolver unless a test maps names itself).
    resolver: AbstractResolver | None = None


def ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """The system's trust store, plus `ca_file` when given."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


def _timed_out(key: str, limit: float, host: str) -> Finding:
    if key == "delivery":
        fix = "the receiver must answer at once (2xx) and do its work afterwards"
    else:
        fix = f"check the network path to {host} (proxy, firewall) and Salesforce's status, then run again"
    return Finding(Status.FAIL, f"no answer within {limit:g} s", fix)


async def _run_one(key: str, probe: Probe, ctx: Context, limit: float) -> Finding:
    host = str(ctx.config.get("baseUrl"))
    try:
        async with asyncio.timeout(limit):
            return await probe(ctx)
    except TimeoutError:
        return _timed_out(key, limit, host)
    except MiawTransportError as exc:
        return Finding(Status.FAIL, f"no answer: {exc.message}", f"check the network path to {host}")
    except Exception as exc:  # a bug or an answer nobody foresaw: this line could not run, the others still do
        return Finding(Status.ERROR, f"the check could not run: {type(exc).__name__}: {exc}")


async def run_doctor(doctor_input: DoctorInput, options: DoctorOptions, manifest: Manifest, api: ApiDocument) -> Report:
    """Every check, in order; never longer than about `total_timeout_s`."""
    started = time.monotonic()
    deadline = started + options.total_timeout_s
    base_url = doctor_input.config.get("baseUrl")
    base_url = base_url if isinstance(base_url, str) else None
    results: dict[str, CheckResult] = {}
    secrets = doctor_input.secrets()

    def add(key: str, finding: Finding, began: float) -> None:
        results[key] = CheckResult(key, _NUMBERS[key], finding, int((time.monotonic() - began) * 1000))

    add("config", check_configuration(doctor_input, options.settings, manifest, api), started)
    if results["config"].finding.status is Status.FAIL:
        deployment = str(doctor_input.config.get("esDeveloperName") or "<deployment>")
        not_run = Finding(Status.SKIP, "not run: the configuration is invalid (line 1)")
        add("endpoint", (misplaced_url(base_url, deployment) if base_url else None) or not_run, time.monotonic())
        for key, _, _ in PROBES[1:]:
            add(key, not_run, time.monotonic())
    else:
        config = manifest.connector_with_defaults(doctor_input.config)
        context = ssl_context(options.ca_file)
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
            delivery_session(options.settings.delivery_policy(), options.resolver) as deliveries,
        ):
            client = MiawClient(
                config["baseUrl"],
                config["organizationId"],
                config["esDeveloperName"],
                config["capabilitiesVersion"],
                session=session,
                request_timeout=options.check_timeout_s,
                retry_policy=_NO_RETRY,
            )
            ctx = Context(
                name=doctor_input.name,
                config=config,
                delivery=doctor_input.delivery,
                nodes=doctor_input.nodes,
                identity_token=doctor_input.identity_token,
                session=session,
                deliveries=deliveries,
                ssl_context=context,
                client=client,
                timeout_s=options.check_timeout_s,
                secrets=doctor_input.secrets(),
            )
            for key, probe, needs in PROBES:
                began = time.monotonic()
                blocked = [n for n in needs if results[n].finding.status in _BLOCKING]
                remaining = deadline - began
                if blocked:
                    finding = Finding(Status.SKIP, f"not run: line {_NUMBERS[blocked[0]]} did not pass")
                elif remaining <= 0:
                    finding = Finding(
                        Status.SKIP, f"not run: the overall time limit ({options.total_timeout_s:g} s) was reached"
                    )
                else:
                    finding = await _run_one(key, probe, ctx, min(options.check_timeout_s, remaining))
                add(key, finding, began)
            secrets = ctx.secrets
    ordered = tuple(results[key] for key, _ in CHECKS)
    report = Report(doctor_input.name, base_url, ordered, int((time.monotonic() - started) * 1000))
    return redact_report(report, secrets)
