"""The runtime's HTTP API (aiohttp)."""

from handover_miaw.api.app import create_app

__all__ = ["create_app"]
