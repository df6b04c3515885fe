"""The web UI: static pages (vanilla HTML, CSS and JavaScript modules) served by the runtime."""

from handover_miaw.ui.routes import STATIC_DIR, UI_CONFIG, UiConfig, add_ui

__all__ = ["STATIC_DIR", "UI_CONFIG", "UiConfig", "add_ui"]
