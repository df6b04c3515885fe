"""Access tokens, continuation, revocation, expiry and the configuration endpoints."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from handover_miaw.simulator import Simulator, SimulatorConfig, create_app

from .simhelpers import API, DEPLOYMENT, ORG, Api, FakeClock, jwt_claims

TOKEN_PATH = f"{API}/authorization/unauthenticated/access-token"
VERIFIED_PATH = f"{API}/authorization/authenticated/access-token"
CONTINUATION_PATH = f"{API}/authorization/continuation-access-token"


def identity_token(sub: str) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'kid': 'k1'})}.{part({'sub': sub, 'iss': 'idp'})}.c2ln"


async def test_guest_token_is_a_jwt_with_subject_org_and_lifetime(api: Api, sim: Simulator) -> None:
    data = await api.token_response()
    claims = jwt_claims(data["accessToken"])
    assert claims["sub"] == data["context"]["endUser"]["subject"]
    assert claims["sub"].startswith("v2/iamessage/ANON/")
    assert claims["orgId"] == ORG
    assert claims["exp"] - claims["iat"] == int(sim.config.token_lifetime_s)
    assert data["deploymentType"] == "api"
    assert data["lastEventId"] == "0"
    assert data["context"]["configuration"]["embeddedServiceConfig"]["name"] == DEPLOYMENT


async def test_each_guest_token_has_its_own_subject(api: Api) -> None:
    first, second = await api.token_response(), await api.token_response()
    assert first["context"]["endUser"]["subject"] != second["context"]["endUser"]["subject"]


async def test_eighteen_char_org_id_is_accepted(api: Api) -> None:
    data = await api.token_response(orgId=ORG + "AAA")
    assert data["accessToken"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"orgId": "00D999999999999"}, "INVALID_ORG"),
        ({"esDeveloperName": "Other"}, "INVALID_DEPLOYMENT"),
        ({"platform": None}, "MISSING_FIELD"),
        ({"capabilitiesVersion": 1}, "INVALID_REQUEST"),
        ({"surprise": True}, "UNKNOWN_PROPERTY"),
    ],
)
async def test_bad_token_requests_are_400(client: TestClient[Any, Any], change: dict[str, Any], code: str) -> None:
    body = {"orgId": ORG, "esDeveloperName": DEPLOYMENT, "capabilitiesVersion": "1", "platform": "Web"}
    resp = await client.post(TOKEN_PATH, json={**body, **change})
    assert resp.status == 400
    assert (await resp.json())["code"] == code


async def test_non_json_body_is_400(client: TestClient[Any, Any]) -> None:
    resp = await client.post(TOKEN_PATH, data=b"{nope", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert "message" in await resp.json()


async def test_verified_user_token_subject_follows_identity_sub(client: TestClient[Any, Any]) -> None:
    body = {
        "orgId": ORG,
        "esDeveloperName": DEPLOYMENT,
        "capabilitiesVersion": "1",
        "platform": "Web",
        "authorizationType": "JWT",
        "customerIdentityToken": identity_token("ann@example.com"),
    }
    first = await (await client.post(VERIFIED_PATH, json=body)).json()
    second = await (await client.post(VERIFIED_PATH, json=body)).json()
    subject = first["context"]["endUser"]["subject"]
    assert subject == "v2/iamessage/AUTH/SimKeyset/uid:ann@example.com"
    assert second["context"]["endUser"]["subject"] == subject
    assert jwt_claims(first["accessToken"])["sub"] == subject


async def test_verified_user_token_needs_a_jwt_identity(client: TestClient[Any, Any]) -> None:
    body = {
        "orgId": ORG,
        "esDeveloperName": DEPLOYMENT,
        "capabilitiesVersion": "1",
        "platform": "Web",
        "authorizationType": "JWT",
        "customerIdentityToken": "not-a-jwt",
    }
    assert (await client.post(VERIFIED_PATH, json=body)).status == 400
    assert (await client.post(VERIFIED_PATH, json={**body, "authorizationType": "Basic"})).status == 400


async def test_continuation_token_differs_keeps_subject_and_exp(api: Api) -> None:
    token = await api.token()
    resp = await api.client.get(CONTINUATION_PATH, headers=api.auth(token))
    assert resp.status == 200
    data = await resp.json()
    fresh = data["accessToken"]
    assert fresh != token
    assert jwt_claims(fresh)["sub"] == jwt_claims(token)["sub"]
    assert jwt_claims(fresh)["exp"] == jwt_claims(token)["exp"]
    assert "lastEventId" in data
    conversation_id = await api.create(token)
    status = await api.client.get(f"{API}/conversation/{conversation_id}", headers=api.auth(fresh))
    assert status.status == 200


async def test_revoked_token_is_401(api: Api) -> None:
    token = await api.token()
    resp = await api.client.delete(VERIFIED_PATH, headers=api.auth(token))
    assert resp.status == 204
    assert (await api.client.get(CONTINUATION_PATH, headers=api.auth(token))).status == 401


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Basic abc", "Bearer not.a.jwt", "Bearer a.b"],
)
async def test_missing_or_bad_token_is_401(client: TestClient[Any, Any], header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    resp = await client.get(CONTINUATION_PATH, headers=headers)
    assert resp.status == 401
    assert (await resp.json())["code"] == "UNAUTHORIZED"


async def test_forged_token_is_401(api: Api) -> None:
    head, payload, signature = (await api.token()).split(".")
    claims = jwt_claims(f"{head}.{payload}.{signature}")
    claims["exp"] += 10_000
    forged_payload = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    resp = await api.client.get(CONTINUATION_PATH, headers=api.auth(f"{head}.{forged_payload}.{signature}"))
    assert resp.status == 401


async def test_token_dies_at_exp_and_continuation_does_not_extend_it(aiohttp_client: Any, clock: FakeClock) -> None:
    sim = Simulator(SimulatorConfig(token_lifetime_s=60), clock=clock)
    api = Api(await aiohttp_client(create_app(sim)), sim)
    token = await api.token()
    clock.now += 30
    continued = (await (await api.client.get(CONTINUATION_PATH, headers=api.auth(token))).json())["accessToken"]
    clock.now += 29
    assert (await api.client.get(CONTINUATION_PATH, headers=api.auth(continued))).status == 200
    clock.now += 2
    for dead in (token, continued):
        resp = await api.client.get(CONTINUATION_PATH, headers=api.auth(dead))
        assert resp.status == 401
        assert (await resp.json())["message"] == "Jwt is expired"


async def test_expire_tokens_kills_old_tokens_only(api: Api, sim: Simulator) -> None:
    old = await api.token()
    sim.expire_tokens()
    assert (await api.client.get(CONTINUATION_PATH, headers=api.auth(old))).status == 401
    new = await api.token()
    assert (await api.client.get(CONTINUATION_PATH, headers=api.auth(new))).status == 200


async def test_deployment_config(client: TestClient[Any, Any]) -> None:
    path = "/embeddedservice/v1/embedded-service-config"
    ok = await client.get(path, params={"orgId": ORG, "esConfigName": DEPLOYMENT, "language": "en_US"})
    assert ok.status == 200
    config = (await ok.json())["embeddedServiceConfig"]
    assert config["name"] == DEPLOYMENT
    assert any(f["isHidden"] for f in config["forms"][0]["formFields"])
    assert (await client.get(path, params={"orgId": ORG, "esConfigName": "Nope"})).status == 400
    assert (await client.get(path, params={"orgId": "00D999999999999", "esConfigName": DEPLOYMENT})).status == 400


async def test_business_hours(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/embeddedservice/v1/businesshours", params={"orgId": ORG, "esConfigName": DEPLOYMENT})
    info = (await resp.json())["businessHoursInfo"]
    assert info["isActive"] is True
    window = info["businessHours"][0]
    assert window["startTime"] < window["endTime"]
