"""`handover-miaw demo --web`: the MIAW simulator, the runtime and the web UI in one process.

The page must reach the runtime's API and the simulator's control API (the agent desk) from ONE origin, so
that it needs no CORS and sends nothing to any other host: the simulator's `/_sim` control routes are mounted
on the runtime's own server under `/sim` (the same Simulator object), while its MIAW REST and SSE endpoints
keep a loopback port of their own, which the runtime calls exactly as it would call Salesforce. Only the demo
mounts them; `serve` never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from aiohttp import web

from handover_miaw.api import create_app
from handover_miaw.api.app_keys import HANDOVERS
from handover_miaw.api.routes_ui import UI_CONFIG, UiConfig
from handover_miaw.logs import configure_logging
from handover_miaw.settings import Settings
from handover_miaw.simulator import SIMULATOR_KEY, Simulator, SimulatorConfig, control, receipts
from handover_miaw.simulator import create_app as create_simulator_app
from handover_miaw.simulator.app import miaw_middleware

__all__ = ["DEMO_CONNECTOR", "SIM_PREFIX", "WebDemo", "main", "start_web_demo"]

DEMO_CONNECTOR = "demo"
SIM_PREFIX = "/sim"
_ORG_ID = "00D000000000001"


@dataclass
class WebDemo:
    """The running demo: its URL, the simulator it drives, and the runners to stop (runtime first)."""

    url: str
    simulator: Simulator
    runners: list[web.AppRunner] = field(default_factory=list)

    async def stop(self) -> None:
        """Stop the runtime, then the simulator."""
        for runner in self.runners:
            await runner.cleanup()


def _control_app(sim: Simulator) -> web.Application:
    app = web.Application(middlewares=[miaw_middleware])
    app[SIMULATOR_KEY] = sim
    app.add_routes(control.routes())
    app.add_routes(receipts.routes())
    return app


async def _bound(runner: web.AppRunner, host: str, port: int) -> int:
    site = web.TCPSite(runner, host, port)
    await site.start()
    return int(runner.addresses[-1][1])


async def start_web_demo(data_dir: Path, host: str = "127.0.0.1", port: int = 0, **settings: object) -> WebDemo:
    """Start the simulator and the runtime with the UI; the demo connector points at the simulator."""
    sim = Simulator(SimulatorConfig(org_id=_ORG_ID, ping_interval_s=5.0))
    sim_runner = web.AppRunner(create_simulator_app(sim), access_log=None)
    await sim_runner.setup()
    demo = WebDemo(url="", simulator=sim, runners=[sim_runner])
    try:
        sim_port = await _bound(sim_runner, "127.0.0.1", 0)
        config = Settings(data_dir=data_dir, insecure_dev=True, log_level="ERROR", **settings)  # type: ignore[arg-type]
        app = create_app(config)
        app[UI_CONFIG] = UiConfig(simulator=SIM_PREFIX, connector=DEMO_CONNECTOR)
        app.add_subapp(SIM_PREFIX, _control_app(sim))
        connector = {
            "config": {
                "baseUrl": f"http://127.0.0.1:{sim_port}",
                "organizationId": _ORG_ID,
                "esDeveloperName": "Bot_Handover_Custom",
                "forwardEvents": True,
            },
            "delivery": {"format": "sse"},
        }

        async def put_connector(started: web.Application) -> None:
            await started[HANDOVERS].put_connector(DEMO_CONNECTOR, connector)

        app.on_startup.append(put_connector)
        # An open /events stream only notices the stop when it next writes: without a short grace, a webchat
        # left open held the stop for aiohttp's 60 s default.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        demo.runners.insert(0, runner)
        bound = await _bound(runner, host, port)
        demo.url = f"http://{host}:{bound}/ui/"
    except BaseException:
        await demo.stop()
        raise
    return demo


async def _run(port: int, host: str, out: TextIO) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    with tempfile.TemporaryDirectory(prefix="handover-miaw-demo-") as data_dir:
        demo = await start_web_demo(Path(data_dir), host, port)
        try:
            print(f"handover-miaw demo: open {demo.url} (Ctrl-C stops)", file=out, flush=True)
            await stop.wait()
        finally:
            await demo.stop()
    return 0


def main(port: int, host: str, out: TextIO) -> int:
    """Entry point for `handover-miaw demo --web`."""
    configure_logging("ERROR")
    return asyncio.run(_run(port, host, out))
