"""JWT-shaped access tokens: minted, continued, verified, revoked and mass-expired.

Tokens are ``base64url(header).base64url(payload).base64url(HMAC-SHA256)`` with a secret that lives only
as long as the simulator, so a client can decode ``exp`` exactly as it would for MIAW.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import orjson

__all__ = ["Claims", "TokenError", "TokenIssuer"]

_HEADER = {"alg": "HS256", "typ": "JWT", "kid": "miaw-sim"}
_VERIFIED_LIMIT = 100_000


class TokenError(Exception):
    """The token is missing, malformed, forged, revoked or expired (a 401 for the caller)."""


@dataclass(frozen=True)
class Claims:
    """The payload of a valid token."""

    subject: str
    org_id: str
    issued_at: int
    expires_at: int
    token_id: str


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Mints and checks tokens; ``clock`` returns epoch seconds (injectable so tests can age tokens)."""

    def __init__(self, lifetime_s: float, clock: Callable[[], float]) -> None:
        self._lifetime_s = lifetime_s
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        # Tokens die individually (revoke) or all at once (expire_all); a token id not in here is dead. The
        # value is the expiry, so ids past it can be forgotten (forget_expired) and a long run stays bounded.
        self._live: dict[str, int] = {}
        # Every REST call and every streamed event checks its token; the signature of a given string never
        # changes, so it is checked once (liveness and expiry are still checked every time).
        self._verified: dict[str, Claims] = {}

    def mint(self, subject: str, org_id: str) -> str:
        """Return a new token for ``subject`` living ``lifetime_s`` from now."""
        now = int(self._clock())
        return self._encode(subject, org_id, now, int(now + self._lifetime_s))

    def continuation(self, claims: Claims) -> str:
        """Return a different token for the same subject that keeps the original expiry."""
        return self._encode(claims.subject, claims.org_id, int(self._clock()), claims.expires_at)

    def verify(self, token: str) -> Claims:
        """Return the claims of ``token`` or raise :class:`TokenError`."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._check_signature(token)
            if len(self._verified) >= _VERIFIED_LIMIT:
                self._verified.clear()
            self._verified[token] = claims
        if claims.token_id not in self._live or self._clock() >= claims.expires_at:
            raise TokenError("Jwt is expired")
        return claims

    def _check_signature(self, token: str) -> Claims:
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("Malformed token")
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
        try:
            signature = _b64decode(parts[2])
            payload = orjson.loads(_b64decode(parts[1]))
        except (ValueError, orjson.JSONDecodeError) as exc:
            raise TokenError("Malformed token") from exc
        expected = hmac.new(self._secret, signing_input, hashlib.sha256).digest()
        if not hmac.compare_digest(signature, expected):
            raise TokenError("Invalid token signature")
        if not isinstance(payload, dict):
            raise TokenError("Malformed token")
        return Claims(
            subject=payload["sub"],
            org_id=payload["orgId"],
            issued_at=payload["iat"],
            expires_at=payload["exp"],
            token_id=payload["jti"],
        )

    def revoke(self, claims: Claims) -> None:
        """Kill one token."""
        self._live.pop(claims.token_id, None)

    def expire_all(self) -> None:
        """Kill every token minted so far; tokens minted later are unaffected."""
        self._live.clear()

    def forget_expired(self) -> int:
        """Drop the ids of tokens past their expiry (they would be refused anyway); returns how many."""
        now = self._clock()
        expired = [token_id for token_id, expires_at in self._live.items() if now >= expires_at]
        for token_id in expired:
            del self._live[token_id]
        self._verified = {t: c for t, c in self._verified.items() if c.token_id in self._live}
        return len(expired)

    def _encode(self, subject: str, org_id: str, issued_at: int, expires_at: int) -> str:
        token_id = str(uuid.uuid4())
        payload = {
            "iss": "miaw-simulator",
            "sub": subject,
            "orgId": org_id,
            "iat": issued_at,
            "exp": expires_at,
            "jti": token_id,
            "clientId": str(uuid.uuid4()),
        }
        head = _b64encode(orjson.dumps(_HEADER))
        body = _b64encode(orjson.dumps(payload))
        signature = hmac.new(self._secret, f"{head}.{body}".encode("ascii"), hashlib.sha256).digest()
        self._live[token_id] = expires_at
        return f"{head}.{body}.{_b64encode(signature)}"
