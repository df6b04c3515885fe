"""Storing an access token renewed during a handover (a fresh identity token's, or the stream's continuation
token): never on a handover that ended meanwhile, whose tokens its end erased, and never over a write made
elsewhere in between (the write is guarded by the record it was decided on, then decided again)."""

from __future__ import annotations

import contextlib
import dataclasses
import time

from handover_miaw.errors import StateConflictError, UpstreamUnavailableError
from handover_miaw.miaw import AccessToken
from handover_miaw.store.base import StaleRecordError, Store
from handover_miaw.store.records import HandoverRecord

__all__ = ["store_renewed_token"]

_ATTEMPTS = 5


async def store_renewed_token(store: Store, handover_id: str, token: AccessToken) -> HandoverRecord:
    """Store `token` as the live handover's and return the record as stored; StateConflictError when the
    handover has ended (or is gone)."""
    for _ in range(_ATTEMPTS):
        current = await store.get_handover(handover_id)
        if current is None or not current.is_live:
            raise StateConflictError(f"handover {handover_id!r} has ended; the renewed token was not kept")
        now = time.time()
        changes = {"access_token": token.token, "token_expires_at": token.expires_at, "updated_at": now}
        with contextlib.suppress(StaleRecordError):
            await store.record_event(handover_id, None, changes, [], expected_updated_at=current.updated_at)
            return dataclasses.replace(
                current, access_token=token.token, token_expires_at=token.expires_at, updated_at=now
            )
    raise UpstreamUnavailableError("the handover kept changing while its token was stored; retry")
