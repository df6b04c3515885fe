"""The runtime's HTTP API (aiohttp).

Its names are loaded on first use: the doctor imports the API's connector checks and API document, and the
API's doctor route imports the doctor, so an eager import of the application here would make the two
packages import each other half-initialised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handover_miaw.api.app import create_app, server_options

__all__ = ["create_app", "server_options"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from handover_miaw.api import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
