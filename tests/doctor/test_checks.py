"""Each doctor line, made to pass and made to fail, against the real simulator and a real receiver over
loopback HTTP (TLS: a server with a certificate made in the test)."""

from __future__ import annotations

import base64
import json
import ssl
import time
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import orjson
import pytest
import trustme
from aiohttp import web

from handover_miaw.doctor import Status
from handover_miaw.resources import schema_path
from handover_miaw.settings import Settings
from handover_miaw.simulator import Simulator
from handover_miaw.simulator import create_app as create_sim_app

from .conftest import COGNIGY_KEY, DEPLOYMENT, Doctor, Receiver, line


def identity_token(**claims: Any) -> str:
    """A JWT-shaped identity token (the simulator reads `sub`; it does not verify signatures)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    payload = {"iss": "https://idp.example.com", "sub": "user-42", "exp": int(time.time()) + 600, **claims}
    return f"{part({'alg': 'RS256', 'kid': 'k1'})}.{part(payload)}.c2lnbmF0dXJl"


async def sim_post(sim_url: str, path: str, body: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as http, http.post(f"{sim_url}/_sim{path}", json=body) as response:
        assert response.status == 200, await response.text()


async def test_a_correct_setup_passes_every_line(doctor: Doctor, sim: Simulator, receiver: Receiver) -> None:
    node = {"routingAttributes": {"Bot_Summary": "refund", "language": "en_US"}, "useIdentityToken": True}
    report = await doctor(nodes=(("node.json", node),), identity_token=identity_token())
    statuses = {r.key: r.finding.status for r in report.results}
    # Plain http to the loopback simulator is the one warning: development only.
    assert statuses == {
        "config": Status.PASS,
        "endpoint": Status.WARN,
        "deployment": Status.PASS,
        "session": Status.PASS,
        "routing": Status.PASS,
        "identity": Status.PASS,
        "delivery": Status.PASS,
    }
    assert report.exit_code == 0
    assert "http (loopback dev)" in line(report, "endpoint").found
    # The check leaves nothing behind: both tokens it minted were revoked, and the stream was opened.
    endpoints = [(c.endpoint, c.status) for c in sim.calls]
    assert endpoints.count(("revoke_token", 204)) == 2
    assert ("sse", 200) in endpoints
    # The ping is a documented envelope: a receiver that validates deliveries by schema takes it.
    schema = orjson.loads(schema_path("delivery.schema.json").read_bytes())
    jsonschema.validate(receiver.pings[0], schema)
    assert receiver.pings[0]["type"] == "handover.ping"


# 1. configuration


async def test_line_1_fails_on_an_invalid_org_id_and_names_where_to_copy_it(
    doctor: Doctor, connector: dict[str, Any]
) -> None:
    connector["config"]["organizationId"] = "12345"
    report = await doctor()
    finding = line(report, "config")
    assert finding.status is Status.FAIL
    assert any(d.startswith("/config/organizationId:") for d in finding.details)
    assert "Company Information" in (finding.fix or "")
    assert {r.finding.status for r in report.results[1:]} == {Status.SKIP}
    assert report.exit_code == 2


async def test_line_1_applies_the_host_policy_of_serve(doctor: Doctor) -> None:
    report = await doctor(doctor_settings=Settings(insecure_dev=False))
    finding = line(report, "config")
    assert finding.status is Status.FAIL
    assert any("not allowed for MIAW calls" in d for d in finding.details)


# 2. endpoint: resolve, TLS, answers as MIAW


async def test_line_2_recognises_the_org_url_and_says_which_url_to_copy(
    doctor: Doctor, connector: dict[str, Any]
) -> None:
    connector["config"]["baseUrl"] = "https://acme.my.salesforce.com"
    report = await doctor(doctor_settings=Settings(allowed_hosts=("my.salesforce.com",)))
    finding = line(report, "endpoint")
    assert finding.status is Status.FAIL
    assert "My Domain" in finding.found
    assert "salesforce-scrt.com" in (finding.fix or "")
    assert f"Embedded Service Deployments → {DEPLOYMENT} → Code Snippet" in (finding.fix or "")


async def test_line_2_fails_for_a_host_that_does_not_resolve_and_says_where_the_url_comes_from(
    doctor: Doctor, connector: dict[str, Any]
) -> None:
    # .invalid never resolves (RFC 6761): the resolver answers at once, on a closed network too.
    connector["config"]["baseUrl"] = "https://acme.doesnotexist.invalid"
    connector["delivery"] = {"format": "sse"}
    report = await doctor(doctor_settings=Settings(allowed_hosts=("doesnotexist.invalid",)))
    finding = line(report, "endpoint")
    assert finding.status is Status.FAIL
    assert "acme.doesnotexist.invalid does not resolve" in finding.found
    assert "Code Snippet" in (finding.fix or "")
    assert "DNS" in (finding.fix or "")
    assert line(report, "deployment").status is Status.SKIP


async def test_line_2_fails_for_a_server_that_does_not_answer_as_miaw(
    doctor: Doctor, connector: dict[str, Any], aiohttp_server: Any
) -> None:
    async def login_page(_request: web.Request) -> web.Response:
        return web.Response(text="<html>Login</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", login_page)
    server = await aiohttp_server(app)
    connector["config"]["baseUrl"] = str(server.make_url("")).rstrip("/")
    report = await doctor()
    finding = line(report, "endpoint")
    assert finding.status is Status.FAIL
    assert "text/html" in finding.found
    assert line(report, "deployment").status is Status.SKIP


@pytest.fixture
def tls_server_context(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server certificate for 127.0.0.1 from a CA made here; the CA's PEM file to trust it with."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return context, ca_file


async def test_line_2_fails_on_an_untrusted_certificate_and_passes_once_its_ca_is_trusted(
    doctor: Doctor,
    connector: dict[str, Any],
    sim: Simulator,
    aiohttp_server: Any,
    tls_server_context: tuple[ssl.SSLContext, Path],
) -> None:
    context, ca_file = tls_server_context
    server = await aiohttp_server(create_sim_app(sim), ssl=context)
    connector["config"]["baseUrl"] = str(server.make_url("")).rstrip("/")
    assert connector["config"]["baseUrl"].startswith("https://127.0.0.1:")

    untrusted = line(await doctor(), "endpoint")
    assert untrusted.status is Status.FAIL
    assert "not trusted" in untrusted.found
    assert "--ca-file" in (untrusted.fix or "")

    report = await doctor(ca_file=ca_file)
    trusted = line(report, "endpoint")
    assert trusted.status is Status.PASS
    assert "TLS" in trusted.found
    assert "certificate valid until" in trusted.found
    assert line(report, "session").status is Status.PASS


# 3. deployment


async def test_line_3_tells_an_unknown_org_from_an_unknown_deployment(
    doctor: Doctor, connector: dict[str, Any]
) -> None:
    connector["config"]["organizationId"] = "00D000000000999"
    org = line(await doctor(), "deployment")
    assert org.status is Status.FAIL
    assert "does not know org 00D000000000999" in org.found
    assert "Company Information" in (org.fix or "")

    connector["config"]["organizationId"] = "00D000000000001"
    connector["config"]["esDeveloperName"] = "Bot_Handover_Typo"
    report = await doctor()
    deployment = line(report, "deployment")
    assert deployment.status is Status.FAIL
    assert "no deployment named Bot_Handover_Typo" in deployment.found
    assert "Embedded Service Deployments" in (deployment.fix or "")
    assert line(report, "session").status is Status.SKIP


async def test_line_3_fails_for_a_deployment_that_is_not_a_custom_client(doctor: Doctor, sim_url: str) -> None:
    await sim_post(sim_url, "/deployment", {"deploymentType": "embedded_messaging"})
    finding = line(await doctor(), "deployment")
    assert finding.status is Status.FAIL
    assert "not a Custom Client (api)" in finding.found
    assert "Custom Client" in (finding.fix or "")


async def test_line_3_fails_for_a_deployment_not_published_yet(doctor: Doctor, sim_url: str) -> None:
    await sim_post(sim_url, "/deployment", {"published": False})
    finding = line(await doctor(), "deployment")
    assert finding.status is Status.FAIL
    assert "not published yet" in finding.found
    assert "Publish" in (finding.fix or "")


# 4. token, event stream, clock


async def test_line_4_fails_when_the_token_endpoint_fails(doctor: Doctor, sim_url: str) -> None:
    await sim_post(sim_url, "/faults/http", {"endpoint": "access_token", "status": 503})
    finding = line(await doctor(), "session")
    assert finding.status is Status.FAIL
    assert "no access token" in finding.found
    assert "503" in finding.found


async def test_line_4_fails_when_the_event_stream_is_refused(doctor: Doctor, sim_url: str) -> None:
    await sim_post(sim_url, "/faults/http", {"endpoint": "sse", "status": 401})
    finding = line(await doctor(), "session")
    assert finding.status is Status.FAIL
    assert "event stream was refused" in finding.found


async def test_line_4_measures_the_clock_against_the_servers_date(doctor: Doctor, sim_url: str) -> None:
    await sim_post(sim_url, "/faults/clock-skew", {"seconds": 45})
    warned = line(await doctor(), "session")
    assert warned.status is Status.WARN
    assert "behind Salesforce's" in warned.found
    await sim_post(sim_url, "/faults/clock-skew", {"seconds": -600})
    failed = line(await doctor(), "session")
    assert failed.status is Status.FAIL
    assert "ahead of Salesforce's" in failed.found
    assert "NTP" in (failed.fix or "")


# 5. routing attributes


async def test_line_5_flags_keys_that_are_not_hidden_pre_chat_fields(doctor: Doctor, sim_url: str) -> None:
    await sim_post(
        sim_url,
        "/deployment",
        {
            "preChatFields": [
                {"name": "_email", "type": "Email", "required": True},
                {"name": "Order__c", "hidden": True, "required": True},
                {"name": "Brand__c", "hidden": True},
            ],
            "languages": ["en_US", "de"],
        },
    )
    good = {"routingAttributes": {"_email": "a@example.com", "Order__c": "1042", "language": "de"}}
    passing = await doctor(nodes=(("good.json", good),))
    # _email is visible: set by the node it works, but it is a warning.
    assert line(passing, "routing").status is Status.WARN

    bad = {"routingAttributes": {"Bot_Summary": "x", "Brand__c": "y", "language": "fr"}}
    finding = line(await doctor(nodes=(("good.json", good), ("bad.json", bad))), "routing")
    assert finding.status is Status.FAIL
    problems = "\n".join(finding.details)
    assert "bad.json: Bot_Summary: not a pre-chat field of the deployment, so MIAW drops it" in problems
    assert "bad.json: Order__c: a required hidden pre-chat field the node does not set" in problems
    assert "bad.json: _email: a required visible pre-chat field the node does not set" in problems
    assert "bad.json: language 'fr' is not a language of the deployment (en_US, de)" in problems
    assert [d for d in finding.details if d.startswith("good.json")] == [
        "good.json: _email: a visible pre-chat field, not a hidden one"
    ]
    assert "hidden field of the deployment's pre-chat form" in (finding.fix or "")


async def test_line_5_passes_when_every_key_is_a_hidden_field(doctor: Doctor) -> None:
    finding = line(await doctor(nodes=(("n.json", {"routingAttributes": {"Bot_Summary": "x"}}),)), "routing")
    assert finding.status is Status.PASS


# 6. identity tokens


async def test_line_6_fails_for_a_token_the_endpoint_refuses(doctor: Doctor) -> None:
    no_subject = identity_token(sub=None)
    finding = line(await doctor(identity_token=no_subject), "identity")
    assert finding.status is Status.FAIL
    assert "refused" in finding.found
    assert "User Verification" in (finding.fix or "")


async def test_line_6_fails_for_an_expired_sample_and_warns_without_one(doctor: Doctor) -> None:
    expired = line(await doctor(identity_token=identity_token(exp=int(time.time()) - 60)), "identity")
    assert expired.status is Status.FAIL
    assert "expired" in expired.found
    node = ("n.json", {"useIdentityToken": True, "identityToken": "{{context.idToken}}"})
    missing = line(await doctor(nodes=(node,)), "identity")
    assert missing.status is Status.WARN
    assert "--identity-token-file" in (missing.fix or "")


# 7. delivery target


async def test_line_7_shows_the_signature_recipe_when_the_receiver_answers_401(
    doctor: Doctor, connector: dict[str, Any]
) -> None:
    connector["delivery"]["secret"] = "whsec_some_other_secret"
    finding = line(await doctor(), "delivery")
    assert finding.status is Status.FAIL
    assert "HTTP 401" in finding.found
    assert "HMAC-SHA256" in (finding.fix or "")


async def test_line_7_reaches_a_cognigy_endpoint_with_its_key(
    doctor: Doctor, connector: dict[str, Any], receiver: Receiver
) -> None:
    connector["delivery"] = {"format": "cognigy", "url": receiver.url, "urlToken": "tok-1", "apiKey": COGNIGY_KEY}
    assert line(await doctor(), "delivery").status is Status.PASS
    assert receiver.pings[-1]["URLToken"] == "tok-1"
    connector["delivery"]["apiKey"] = "wrong-key-0000"
    refused = line(await doctor(), "delivery")
    assert refused.status is Status.FAIL
    assert "API key" in refused.found


async def test_line_7_fails_when_nothing_listens(doctor: Doctor, connector: dict[str, Any]) -> None:
    from tests.processes import free_port

    connector["delivery"]["url"] = f"http://127.0.0.1:{free_port()}/hook"
    finding = line(await doctor(), "delivery")
    assert finding.status is Status.FAIL
    assert "unreachable" in finding.found


async def test_line_2_fails_when_nothing_listens(doctor: Doctor, connector: dict[str, Any]) -> None:
    from tests.processes import free_port

    port = free_port()
    connector["config"]["baseUrl"] = f"http://127.0.0.1:{port}"
    finding = line(await doctor(), "endpoint")
    assert finding.status is Status.FAIL
    assert finding.found.startswith(f"nothing answers at 127.0.0.1:{port}")
    assert "network path" in (finding.fix or "")
