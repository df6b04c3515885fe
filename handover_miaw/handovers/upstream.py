"""The API's error for a MIAW call that failed, shared by the start, the user's actions and the engine."""

from __future__ import annotations

from handover_miaw.errors import UpstreamRefusedError, UpstreamUnavailableError
from handover_miaw.miaw import MiawError, MiawRateLimitedError, MiawServerError, MiawTransportError

__all__ = ["upstream_error"]


def upstream_error(exc: MiawError) -> UpstreamRefusedError | UpstreamUnavailableError:
    """The API's error for a MIAW call that failed: unavailable (worth a retry) or refused."""
    if isinstance(exc, MiawTransportError):
        return UpstreamUnavailableError(f"Salesforce did not answer: {exc.message}")
    if isinstance(exc, MiawServerError | MiawRateLimitedError):
        # Still failing after the client's retries: unavailable for now, worth retrying with the same id.
        return UpstreamUnavailableError(f"Salesforce is unavailable: {exc.message}")
    return UpstreamRefusedError(f"Salesforce refused the request: {exc.message}")
