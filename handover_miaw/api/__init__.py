"""The runtime's HTTP API (aiohttp)."""

from handover_miaw.api.app import create_app, server_options

__all__ = ["create_app", "server_options"]
