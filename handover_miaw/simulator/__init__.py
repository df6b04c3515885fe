"""A stand-in for Salesforce MIAW (Messaging for In-App and Web): the v2 custom-client REST API, the SSE
event router, a ``/_sim`` control API for the agent side, fault injection and a scripted agent.

Used by tests, the demo and benchmarks; never imported by the runtime, and independent of
``handover_miaw.miaw`` so the two implementations of the protocol can catch each other's mistakes.
"""

from .app import create_app, run, serve
from .config import DEFAULT_MIME_TYPES, ScriptedAgent, SimulatorConfig
from .faults import ENDPOINTS
from .httputil import SIMULATOR_KEY
from .simulator import CallRecord, Simulator
from .state import Conversation, EndUserMessage, SimulatorError

__all__ = [
    "DEFAULT_MIME_TYPES",
    "ENDPOINTS",
    "SIMULATOR_KEY",
    "CallRecord",
    "Conversation",
    "EndUserMessage",
    "ScriptedAgent",
    "Simulator",
    "SimulatorConfig",
    "SimulatorError",
    "create_app",
    "run",
    "serve",
]
