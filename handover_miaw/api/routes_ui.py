"""Routes of the web UI: the page, its static assets, and what the page needs to know about this process.

The files themselves live in `handover_miaw/ui/static/`, beside the web demo that builds on this API; they
are found by path, so the API imports nothing from `ui/` and the two packages import each other one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from handover_miaw.api.app_keys import SETTINGS
from handover_miaw.api.responses import json_response

__all__ = ["CONTENT_SECURITY_POLICY", "STATIC_DIR", "UI_CONFIG", "UiConfig", "add_ui"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "ui" / "static"
# The page talks to its own runtime only: no script, style, image or connection to any other host.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True, slots=True)
class UiConfig:
    """What the page is told about this process: where the simulator's control API is (demo only) and
    which connector the demo webchat uses."""

    simulator: str | None = None
    connector: str | None = None


UI_CONFIG = web.AppKey("ui_config", UiConfig)


async def _root(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui/")


async def _page(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


async def _policy(request: web.Request, response: web.StreamResponse) -> None:
    # Set on every answer under /ui/, not on the page's route alone: the static route serves index.html too
    # (/ui/static/index.html, and any other spelling of that path), and it must not run without the policy
    # (framed by another site, or fetching from anywhere).
    if request.path.startswith("/ui/"):
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY


async def _config(request: web.Request) -> web.Response:
    config = request.app[UI_CONFIG]
    key_required = not request.app[SETTINGS].insecure_dev
    return json_response({"simulator": config.simulator, "connector": config.connector, "apiKeyRequired": key_required})


def add_ui(app: web.Application, config: UiConfig | None = None) -> None:
    """Serve the UI under /ui/ (and redirect / to it)."""
    app[UI_CONFIG] = config or UiConfig()
    app.router.add_get("/", _root)
    app.router.add_get("/ui/", _page)
    app.router.add_get("/ui/config.json", _config)
    app.router.add_static("/ui/static/", STATIC_DIR)
    app.on_response_prepare.append(_policy)
