"""Reading claims from a JWT without verifying it."""

from __future__ import annotations

import base64

import orjson
import pytest

from handover_miaw.miaw.errors import MiawInvalidTokenError
from handover_miaw.miaw.jwt import JwtClaims, read_claims


def make_jwt(payload: object) -> str:
    def part(value: object) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(payload)}.c2ln"


def test_reads_exp_and_sub() -> None:
    claims = read_claims(make_jwt({"sub": "v2/iamessage/ANON/abc", "exp": 1732503600}))
    assert claims == JwtClaims(subject="v2/iamessage/ANON/abc", expires_at=1732503600.0)


def test_missing_claims_are_none() -> None:
    assert read_claims(make_jwt({})) == JwtClaims(subject=None, expires_at=None)


def test_is_expired() -> None:
    claims = JwtClaims(subject=None, expires_at=100.0)
    assert not claims.is_expired(99.9)
    assert claims.is_expired(100.0)
    assert claims.is_expired(95.0, leeway=5.0)
    assert not JwtClaims(subject=None, expires_at=None).is_expired(1e12)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "e30.!!!.sig",
        "e30.bm90IGpzb24.sig",  # "not json"
        make_jwt([1, 2]),
        make_jwt({"exp": "soon"}),
        make_jwt({"exp": True}),
        "e30.\u00e9\u00e9.sig",
    ],
)
def test_malformed_token_is_a_typed_error(token: str) -> None:
    with pytest.raises(MiawInvalidTokenError) as info:
        read_claims(token)
    assert info.value.code == "miaw.invalid_token"
    if token:
        assert token not in str(info.value)
