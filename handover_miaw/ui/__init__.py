"""The web UI: static pages (vanilla HTML, CSS and JavaScript modules) in `static/`, served by the runtime's
API (`api/routes_ui.py`), and `demo_web`, the demo that runs the runtime and the simulator with the UI."""
