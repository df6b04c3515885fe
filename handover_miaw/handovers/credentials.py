"""The tokens a handover keeps: as little as the runtime needs, for as long as it needs them. Pure."""

from __future__ import annotations

import dataclasses
from typing import Any

from handover_miaw.miaw.models import AccessToken
from handover_miaw.store.records import HandoverRecord

__all__ = ["erased_tokens", "token_to_keep"]


def token_to_keep(token: AccessToken) -> AccessToken:
    """The token without the deployment configuration MIAW returns with it: the runtime never reads it,
    and kept with every live handover it was the largest part of a live handover's memory (tracemalloc)."""
    return dataclasses.replace(token, config=None) if token.config is not None else token


def erased_tokens(record: HandoverRecord) -> dict[str, Any]:
    """The changes that erase an ended handover's access and identity tokens from the store, once nothing
    pending needs them: they are bearer credentials, and a store read later (a backup, a leaked file) must
    not hold usable ones."""
    if record.access_token is None and "identityToken" not in record.settings:
        return {}
    settings = {key: value for key, value in record.settings.items() if key != "identityToken"}
    return {"access_token": None, "settings": settings}
