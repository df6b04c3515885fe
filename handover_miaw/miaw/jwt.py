"""Read claims from a MIAW access token without verifying it.

The client never needs to trust the token: Salesforce verifies it. We only read `exp` (to tell an
expired token from a rejected one, so a 401 is either renewed or ends the handover) and `sub`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import orjson

from .errors import MiawInvalidTokenError

__all__ = ["JwtClaims", "read_claims"]


@dataclass(frozen=True, slots=True)
class JwtClaims:
    """The claims the connector uses; `expires_at` is epoch seconds (None when the token has no `exp`)."""

    subject: str | None
    expires_at: float | None

    def is_expired(self, now: float, leeway: float = 0.0) -> bool:
        """True once `now` (epoch s) reaches `exp` minus `leeway`; never for a token without `exp`."""
        return self.expires_at is not None and now >= self.expires_at - leeway


def read_claims(token: str) -> JwtClaims:
    """Decode the payload of a compact JWS; raise MiawInvalidTokenError if it is not one.

    The error detail never contains the token itself.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise MiawInvalidTokenError(detail=f"expected 3 dot-separated parts, got {len(parts)}")
    segment = parts[1]
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        payload = orjson.loads(raw)
    except (binascii.Error, ValueError) as exc:
        # orjson.JSONDecodeError is a ValueError; so is a non-ASCII segment for b64decode.
        raise MiawInvalidTokenError(detail="payload is not base64url JSON") from exc
    if not isinstance(payload, dict):
        raise MiawInvalidTokenError(detail="payload is not a JSON object")
    exp = payload.get("exp")
    # bool is an int subclass; `"exp": true` is malformed, not 1970-01-01T00:00:01.
    if exp is not None and (isinstance(exp, bool) or not isinstance(exp, int | float)):
        raise MiawInvalidTokenError(detail="exp is not a number")
    sub = payload.get("sub")
    return JwtClaims(
        subject=sub if isinstance(sub, str) else None,
        expires_at=float(exp) if exp is not None else None,
    )
