"""Typed application state keys (aiohttp's web.AppKey) and the small state they hold."""

from __future__ import annotations

from aiohttp import web

from handover_miaw.api.openapi import ApiDocument
from handover_miaw.delivery.dispatcher import OutboxSignal
from handover_miaw.handovers.service import HandoverService
from handover_miaw.handovers.start import Starter
from handover_miaw.handovers.user import UserSide
from handover_miaw.manifest import Manifest
from handover_miaw.metrics import Metrics
from handover_miaw.settings import Settings
from handover_miaw.store.base import Store

__all__ = [
    "API_DOC",
    "MANIFEST",
    "METRICS",
    "SERVICE",
    "SETTINGS",
    "SIGNAL",
    "STARTER",
    "STORE",
    "SUBSCRIBERS",
    "USER",
    "Subscribers",
]


class Subscribers:
    """How many readers each handover's /events has on this process."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def enter(self, handover_id: str, limit: int) -> bool:
        """Count one more reader; False (and nothing counted) when `limit` are already reading."""
        count = self._counts.get(handover_id, 0)
        if count >= limit:
            return False
        self._counts[handover_id] = count + 1
        return True

    def leave(self, handover_id: str) -> None:
        """A reader is gone."""
        count = self._counts.pop(handover_id, 0) - 1
        if count > 0:
            self._counts[handover_id] = count


SETTINGS = web.AppKey("settings", Settings)
MANIFEST = web.AppKey("manifest", Manifest)
API_DOC = web.AppKey("api_doc", ApiDocument)
METRICS = web.AppKey("metrics", Metrics)
STORE = web.AppKey("store", Store)
SIGNAL = web.AppKey("signal", OutboxSignal)
SERVICE = web.AppKey("service", HandoverService)
STARTER = web.AppKey("starter", Starter)
USER = web.AppKey("user", UserSide)
SUBSCRIBERS = web.AppKey("subscribers", Subscribers)
