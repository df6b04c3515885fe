"""Settings of the MIAW simulator and of its optional scripted agent."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DEFAULT_MIME_TYPES", "DEFAULT_PRE_CHAT", "FormField", "ScriptedAgent", "SimulatorConfig"]

DEFAULT_MIME_TYPES: frozenset[str] = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
        "text/csv",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
)


@dataclass(frozen=True)
class FormField:
    """One pre-chat form field of the deployment (miaw-api.md §5.1): ``name`` is its routing attribute key."""

    name: str
    type: str = "Text"
    required: bool = False
    hidden: bool = False


DEFAULT_PRE_CHAT: tuple[FormField, ...] = (
    FormField("_firstName"),
    FormField("_email", "Email"),
    FormField("Bot_Summary", hidden=True),
)


@dataclass(frozen=True)
class ScriptedAgent:
    """A pretend human agent that plays every new messaging session by itself (demo mode).

    Per session: route (queue position), wait ``accept_after_s``, accept as ``agent``, send ``greeting``,
    answer each end-user message with ``reply_template`` (``{text}`` and ``{agent}`` are filled in) and
    end the session after ``close_after_messages`` end-user messages (never, if None).
    """

    agent: str = "Maria"
    accept_after_s: float = 1.0
    queue_position: int = 1
    estimated_wait_s: int = 60
    greeting: str | None = "Hi, this is {agent}. How can I help?"
    reply_template: str = "You said: {text}"
    reply_delay_s: float = 0.0
    typing: bool = True
    close_after_messages: int | None = 3


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything the simulator can be told; the defaults describe one Custom Client deployment."""

    org_id: str = "00D000000000001"
    es_developer_name: str = "Bot_Handover_Custom"
    token_lifetime_s: float = 3600.0
    ping_interval_s: float = 15.0
    replay_on_reconnect: bool = True
    max_file_bytes: int = 5 * 1024 * 1024
    allowed_mime_types: frozenset[str] = field(default=DEFAULT_MIME_TYPES)
    channel_address_identifier: str = "0Mj000000000001"
    channel_platform_key: str = "5b1c7e2a-3f4d-4e6a-9b8c-0d1e2f3a4b5c"
    script: ScriptedAgent | None = None
    # A browser client's page origins (``https://app.example.com``); None answers every origin.
    cors_origins: frozenset[str] | None = None
    # Origins besides loopback ones (http(s)://127.0.0.1, localhost, [::1], any port) whose pages may drive
    # the `/_sim` control routes cross-origin; `cors_origins` never applies there, so a page on any other
    # site cannot end conversations or inject faults in a simulator the developer runs.
    control_origins: frozenset[str] = frozenset()
    # MIAW's reference leaves open whether a stream without Last-Event-Id is refused (400) or starts now.
    require_last_event_id: bool = False
    # Ended conversations and call records older than this are forgotten, so a long run stays bounded.
    retention_s: float = 900.0
    # The deployment as Setup describes it; `POST /_sim/deployment` changes it so a test can break what
    # `handover-miaw doctor` checks (a Messaging for Web deployment, one not published yet, other fields).
    deployment_type: str = "api"
    published: bool = True
    pre_chat_fields: tuple[FormField, ...] = DEFAULT_PRE_CHAT
    languages: tuple[str, ...] = ("en_US",)
