"""Typed results of MIAW REST calls, and their pure parsers.

Parsers take the decoded JSON body and return frozen dataclasses. A body missing what the call exists
for (an access token without `accessToken`) raises MiawProtocolError; everything optional is read
defensively because most response shapes come from observation, not documentation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from .decoding import decode_entry
from .errors import MiawInvalidTokenError, MiawProtocolError
from .events import MiawEvent
from .jwt import read_claims
from .lenient_json import as_int, as_list, as_obj, as_str

__all__ = [
    "AccessToken",
    "ChoiceListValue",
    "ConversationEntries",
    "EmbeddedServiceConfig",
    "PreChatField",
    "RoutingStatus",
    "SentMessage",
    "parse_access_token",
    "parse_conversation_entries",
    "parse_embedded_service_config",
    "parse_http_date",
    "parse_routing_status",
]


@dataclass(frozen=True, slots=True)
class ChoiceListValue:
    """One value of a pre-chat choice list."""

    value_id: str | None
    name: str | None


@dataclass(frozen=True, slots=True)
class PreChatField:
    """A pre-chat form field; `name` is the key in `routingAttributes`. Hidden ones the client fills."""

    name: str
    type: str | None
    required: bool
    hidden: bool
    order: int | None
    label: str | None
    choice_list_id: str | None
    choices: tuple[ChoiceListValue, ...] = ()


@dataclass(frozen=True, slots=True)
class EmbeddedServiceConfig:
    """The deployment configuration (from the config endpoint or inside a token response)."""

    name: str | None
    auth_mode: str | None
    # `Conversation` (pre-chat once per conversation) or `Session` (every messaging session).
    pre_chat_display_context: str | None
    pre_chat_fields: tuple[PreChatField, ...]
    raw: dict[str, Any] = field(repr=False, compare=False, hash=False)
    # `api` for a Custom Client deployment (read by Salesforce's web bootstrap from this object).
    deployment_type: str | None = None
    # Where a deployment lists its languages is undocumented: read from `languages` when present.
    languages: tuple[str, ...] = ()

    @property
    def hidden_fields(self) -> tuple[PreChatField, ...]:
        """The hidden pre-chat fields (set by the client, not shown to the user)."""
        return tuple(f for f in self.pre_chat_fields if f.hidden)


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A MIAW access token. `repr` never shows the token itself.

    `expires_at` (epoch seconds) comes from the JWT `exp`; None when the token is not a readable JWT
    (a careful client then learns expiry from a 401). `authenticated` is True for a verified-user
    subject (`/AUTH/`): a failed verification is reported as a 200 with an anonymous subject.
    """

    token: str = field(repr=False)
    last_event_id: str | None
    subject: str | None
    expires_at: float | None
    authenticated: bool
    deployment_type: str | None = None
    config: EmbeddedServiceConfig | None = field(default=None, repr=False, compare=False)
    # The server's clock when it answered (its `Date` header, epoch seconds): how far ours is off.
    server_date: float | None = None

    def is_expired(self, now: float, leeway: float = 0.0) -> bool:
        """True once `now` (epoch seconds) reaches `expires_at` minus `leeway`; False if unknown."""
        return self.expires_at is not None and now >= self.expires_at - leeway


@dataclass(frozen=True, slots=True)
class RoutingStatus:
    """`routingStatus` of a conversation: INITIAL, NEEDS_ROUTING, ROUTED or TRANSFER (others kept as is)."""

    status: str | None

    @property
    def routed(self) -> bool:
        """True once an agent owns the work."""
        return self.status == "ROUTED"


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message or file accepted by MIAW. `new_session` when it opened a new messaging session."""

    message_id: str
    client_timestamp: int | None = None
    new_session: bool = False
    file_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationEntries:
    """One page of `GET .../entries`, decoded, in the order the server returned them."""

    conversation_id: str
    events: tuple[MiawEvent, ...]


def _prechat_fields(config: dict[str, Any]) -> tuple[str | None, tuple[PreChatField, ...]]:
    choice_lists: dict[str, tuple[ChoiceListValue, ...]] = {}
    for item in map(as_obj, as_list(as_obj(config.get("choiceListConfig")).get("choiceList"))):
        list_id = as_str(item.get("choiceListId"))
        if list_id:
            choice_lists[list_id] = tuple(
                ChoiceListValue(as_str(v.get("choiceListValueId")), as_str(v.get("choiceListValueName")))
                for v in map(as_obj, as_list(item.get("choiceListValues")))
            )
    forms = [as_obj(f) for f in as_list(config.get("forms"))]
    # forms[0] is the pre-chat form in the sample app; prefer one that says so when several exist.
    form = next((f for f in forms if as_str(f.get("formType")) == "PreChat"), forms[0] if forms else {})
    fields = []
    # The sample app marks hidden fields with `isHidden`; a newer web bootstrap lists them apart, in
    # `hiddenFormFields`.
    listed = [(item, False) for item in map(as_obj, as_list(form.get("formFields")))]
    listed += [(item, True) for item in map(as_obj, as_list(form.get("hiddenFormFields")))]
    for item, hidden_list in listed:
        name = as_str(item.get("name"))
        if name is None:
            continue
        choice_list_id = as_str(item.get("choiceListId"))
        fields.append(
            PreChatField(
                name=name,
                type=as_str(item.get("type")),
                required=item.get("required") is True,
                hidden=hidden_list or item.get("isHidden") is True,
                order=as_int(item.get("order")),
                label=as_str(item.get("label")) or as_str(item.get("labels")),
                choice_list_id=choice_list_id,
                choices=choice_lists.get(choice_list_id or "", ()),
            )
        )
    fields.sort(key=lambda f: (f.order is None, f.order or 0))
    return as_str(form.get("displayContext")), tuple(fields)


def parse_embedded_service_config(body: object) -> EmbeddedServiceConfig:
    """Parse `{embeddedServiceConfig: {...}}` (or the inner object itself)."""
    outer = as_obj(body)
    config = as_obj(outer.get("embeddedServiceConfig")) or outer
    display_context, fields = _prechat_fields(config)
    return EmbeddedServiceConfig(
        name=as_str(config.get("name")),
        auth_mode=as_str(as_obj(config.get("embeddedServiceMessagingChannel")).get("authMode")),
        pre_chat_display_context=display_context,
        pre_chat_fields=fields,
        raw=config,
        deployment_type=as_str(config.get("deploymentType")),
        languages=_languages(config.get("languages")),
    )


def _languages(value: object) -> tuple[str, ...]:
    # Plain strings or objects naming one (`language` or `code`); anything else is skipped.
    found = []
    for item in as_list(value):
        named = as_obj(item)
        entry = item if isinstance(item, str) else as_str(named.get("language")) or as_str(named.get("code"))
        if entry:
            found.append(entry)
    return tuple(found)


def parse_http_date(value: str | None) -> float | None:
    """An HTTP `Date` header as epoch seconds; None when absent or unreadable."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def parse_access_token(body: object, date: str | None = None) -> AccessToken:
    """Parse a token response (guest, verified user or continuation); `date` is its `Date` header."""
    data = as_obj(body)
    token = as_str(data.get("accessToken"))
    if token is None:
        raise MiawProtocolError(detail="token response without accessToken")
    context = as_obj(data.get("context"))
    subject = as_str(as_obj(context.get("endUser")).get("subject"))
    try:
        claims = read_claims(token)
        expires_at, subject = claims.expires_at, subject or claims.subject
    except MiawInvalidTokenError:
        expires_at = None
    config_body = as_obj(context.get("configuration")).get("embeddedServiceConfig")
    last_event_id = data.get("lastEventId")
    return AccessToken(
        token=token,
        # Seen as a string; accept a number too, since it only ever goes back into a header.
        last_event_id=str(last_event_id) if isinstance(last_event_id, str | int) else None,
        subject=subject,
        expires_at=expires_at,
        authenticated=subject is not None and "/AUTH/" in subject,
        # The docs do not say where `deploymentType` sits; look at the top and in the context.
        deployment_type=as_str(data.get("deploymentType")) or as_str(context.get("deploymentType")),
        config=parse_embedded_service_config(config_body) if isinstance(config_body, dict) else None,
        server_date=parse_http_date(date),
    )


def parse_routing_status(body: object) -> RoutingStatus:
    """Parse `{routingStatus: ...}`."""
    return RoutingStatus(status=as_str(as_obj(body).get("routingStatus")))


def parse_conversation_entries(body: object, conversation_id: str) -> ConversationEntries:
    """Parse `{conversationEntries: [...]}` into decoded events (entryPayload is an object here)."""
    data = as_obj(body)
    if not isinstance(data.get("conversationEntries"), list):
        raise MiawProtocolError(detail="entries response without conversationEntries")
    events = tuple(decode_entry(e, conversation_id) for e in data["conversationEntries"])
    return ConversationEntries(conversation_id=conversation_id, events=events)
