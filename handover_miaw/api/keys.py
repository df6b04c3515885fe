"""Typed application state keys (aiohttp's web.AppKey)."""

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

__all__ = ["API_DOC", "MANIFEST", "METRICS", "SERVICE", "SETTINGS", "SIGNAL", "STARTER", "STORE", "USER"]

SETTINGS = web.AppKey("settings", Settings)
MANIFEST = web.AppKey("manifest", Manifest)
API_DOC = web.AppKey("api_doc", ApiDocument)
METRICS = web.AppKey("metrics", Metrics)
STORE = web.AppKey("store", Store)
SIGNAL = web.AppKey("signal", OutboxSignal)
SERVICE = web.AppKey("service", HandoverService)
STARTER = web.AppKey("starter", Starter)
USER = web.AppKey("user", UserSide)
