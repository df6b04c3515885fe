"""The aiohttp application's typed state keys (web.AppKey) and the small state they hold: the handlers reach
the application service through HANDOVERS and nothing else of the core."""

from __future__ import annotations

import asyncio

from aiohttp import web

from handover_miaw.api.openapi import ApiDocument
from handover_miaw.handovers.application import Handovers
from handover_miaw.manifest import Manifest
from handover_miaw.metrics import Metrics
from handover_miaw.settings import Settings

__all__ = ["API_DOC", "HANDOVERS", "MANIFEST", "METRICS", "SETTINGS", "SUBSCRIBERS", "Subscribers"]


class Subscribers:
    """The readers of each handover's /events on this process: how many, and how to end them all at shutdown
    (an open event stream would otherwise hold the server's graceful stop until its timeout)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._wakes: set[asyncio.Event] = set()
        self.closing = False

    def watch(self, wake: asyncio.Event) -> None:
        """A reader's wake-up, set when the application stops."""
        self._wakes.add(wake)

    def unwatch(self, wake: asyncio.Event) -> None:
        """That reader is gone."""
        self._wakes.discard(wake)

    def close_all(self) -> None:
        """End every reader: each finds `closing` set when it wakes."""
        self.closing = True
        for wake in self._wakes:
            wake.set()

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
HANDOVERS = web.AppKey("handovers", Handovers)
SUBSCRIBERS = web.AppKey("subscribers", Subscribers)
