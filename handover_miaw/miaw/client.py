"""Async client for the MIAW v2 custom-client REST API: one method per endpoint, typed results.

Every call runs under a timeout and goes through one private request path (`_transport`) that turns
aiohttp failures and error statuses into the `errors` hierarchy. Calls are retried per the pure
`retry` table only where a retry cannot double an effect: token calls and reads, and writes made
idempotent by a client-generated id that is created once and reused on every attempt (message,
typing, acknowledgement and file ids, the conversation id). Close and end-session are idempotent.

Redirects are never followed (a redirect must not carry the bearer token elsewhere), and no token
ever reaches a log line or an error message.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

import aiohttp
import orjson

from ._transport import CallObserver, Reply, Transport, stream_session
from .errors import MiawNoSessionError
from .models import (
    AccessToken,
    ConversationEntries,
    EmbeddedServiceConfig,
    RoutingStatus,
    SentMessage,
    parse_access_token,
    parse_conversation_entries,
    parse_embedded_service_config,
    parse_routing_status,
)
from .retry import DEFAULT_RETRY_POLICY, RetryPolicy

__all__ = ["CallObserver", "MiawClient", "stream_session"]

_API = "/iamessage/api/v2"
# The characters quote() never escapes (RFC 3986 unreserved).
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+")


def _new_id() -> str:
    # MIAW wants lowercase v4 UUIDs; str(uuid4()) is exactly that.
    return str(uuid.uuid4())


class MiawClient:
    """MIAW REST client for one Embedded Service deployment (base URL, org id, developer name).

    Pass `session` to share a ClientSession (it is not closed here); otherwise one is made on first use
    with `stream_session()` and closed by `close()` / `async with`. `observer` is told how every HTTP
    attempt ended (metrics).
    """

    def __init__(
        self,
        base_url: str,
        org_id: str,
        es_developer_name: str,
        capabilities_version: str = "1",
        *,
        session: aiohttp.ClientSession | None = None,
        request_timeout: float = 10.0,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        app_name: str = "handover-miaw",
        client_version: str = "0.1.0",
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        observer: CallObserver | None = None,
    ) -> None:
        self.org_id = org_id
        self.es_developer_name = es_developer_name
        self.capabilities_version = capabilities_version
        self._app_name = app_name
        self._client_version = client_version
        self._http = Transport(
            base_url,
            session=session,
            request_timeout=request_timeout,
            retry_policy=retry_policy,
            clock=clock,
            rand=rand,
            observer=observer,
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        """The ClientSession in use (created on first access when none was injected)."""
        return self._http.session

    @property
    def base_url(self) -> str:
        """The SCRT base URL, without a trailing slash."""
        return self._http.base_url

    def now(self) -> float:
        """The client's clock (epoch seconds); the stream judges token expiry by it too."""
        return self._http.clock()

    async def close(self) -> None:
        """Close the session if this client made it."""
        await self._http.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # --- tokens -----------------------------------------------------------------------------------

    def _token_body(self) -> dict[str, Any]:
        return {
            "orgId": self.org_id,
            "esDeveloperName": self.es_developer_name,
            "capabilitiesVersion": self.capabilities_version,
            "platform": "Web",
            "context": {"appName": self._app_name, "clientVersion": self._client_version},
        }

    async def unauthenticated_access_token(self) -> AccessToken:
        """Mint a guest token (a new anonymous subject)."""
        path = f"{_API}/authorization/unauthenticated/access-token"
        reply = await self._http.request("access_token", "POST", path, json=self._token_body())
        return parse_access_token(reply.body, reply.date)

    async def authenticated_access_token(self, customer_identity_token: str) -> AccessToken:
        """Mint a verified-user token. Check `.authenticated`: a failed verification may still answer 200
        with an anonymous subject."""
        body = {
            **self._token_body(),
            "authorizationType": "JWT",
            "customerIdentityToken": customer_identity_token,
        }
        path = f"{_API}/authorization/authenticated/access-token"
        reply = await self._http.request("authenticated_access_token", "POST", path, json=body)
        return parse_access_token(reply.body, reply.date)

    async def continuation_token(self, token: AccessToken) -> AccessToken:
        """A new token for the same subject (same expiry: it does not extend the session)."""
        path = f"{_API}/authorization/continuation-access-token"
        reply = await self._http.request("continuation_token", "GET", path, token=token)
        return parse_access_token(reply.body)

    async def revoke_token(self, token: AccessToken) -> None:
        """Revoke a verified-user token."""
        path = f"{_API}/authorization/authenticated/access-token"
        # A retry after a lost answer may find the token already revoked.
        await self._http.request("revoke_token", "DELETE", path, token=token, ok_on_retry=frozenset({401}))

    # --- conversations ----------------------------------------------------------------------------

    async def create_conversation(
        self,
        token: AccessToken,
        conversation_id: str | None = None,
        *,
        routing_attributes: Mapping[str, Any] | None = None,
        language: str | None = None,
    ) -> str:
        """Create a conversation (id generated as a lowercase v4 UUID if not given); returns its id."""
        conversation_id = conversation_id or _new_id()
        body: dict[str, Any] = {"conversationId": conversation_id, "esDeveloperName": self.es_developer_name}
        if routing_attributes:
            body["routingAttributes"] = dict(routing_attributes)
        if language:
            body["language"] = language
        # 409 on a retry means the first attempt created it and only the answer was lost (v1 answered
        # a re-create with 409; v2 is described as "create if it doesn't exist").
        await self._http.request(
            "create_conversation",
            "POST",
            f"{_API}/conversation",
            token=token,
            json=body,
            ok_on_retry=frozenset({409}),
        )
        return conversation_id

    async def routing_status(self, token: AccessToken, conversation_id: str) -> RoutingStatus:
        """The conversation's routing status."""
        reply = await self._http.request("routing_status", "GET", self._conv(conversation_id), token=token)
        return parse_routing_status(reply.body)

    async def list_entries(
        self,
        token: AccessToken,
        conversation_id: str,
        *,
        limit: int = 50,
        direction: Literal["FromStart", "FromEnd"] = "FromEnd",
        start_timestamp: int | None = None,
        end_timestamp: int | None = None,
        entry_types: Sequence[str] | None = None,
    ) -> ConversationEntries:
        """One page of conversation entries (limit at most 50), decoded into events."""
        params: dict[str, str] = {"limit": str(min(limit, 50)), "direction": direction}
        if start_timestamp is not None:
            params["startTimestamp"] = str(start_timestamp)
        if end_timestamp is not None:
            params["endTimestamp"] = str(end_timestamp)
        if entry_types:
            params["entryTypeFilter"] = ",".join(entry_types)
        path = f"{self._conv(conversation_id)}/entries"
        reply = await self._http.request("list_entries", "GET", path, token=token, params=params)
        return parse_conversation_entries(reply.body, conversation_id)

    async def close_conversation(self, token: AccessToken, conversation_id: str) -> None:
        """Close the conversation for good (neither side can post afterwards)."""
        await self._http.request(
            "close_conversation",
            "DELETE",
            self._conv(conversation_id),
            token=token,
            params={"esDeveloperName": self.es_developer_name},
            ok_on_retry=frozenset({403, 404}),
        )

    async def end_session(self, token: AccessToken, conversation_id: str) -> None:
        """End the current messaging session; the conversation stays open."""
        await self._http.request(
            "end_session",
            "DELETE",
            f"{self._conv(conversation_id)}/session",
            token=token,
            params={"esDeveloperName": self.es_developer_name},
            ok_on_retry=frozenset({403, 404}),
        )

    # --- sending ----------------------------------------------------------------------------------

    async def send_message(
        self,
        token: AccessToken,
        conversation_id: str,
        text: str,
        *,
        message_id: str | None = None,
        in_reply_to_message_id: str | None = None,
        new_session: bool = False,
        routing_attributes: Mapping[str, Any] | None = None,
        language: str | None = None,
    ) -> SentMessage:
        """Send a text message. The id (generated once if not given) is reused on every retry and on the
        automatic re-send after a 417 (no session), which opens a new session with the routing
        attributes and language."""
        message_id = message_id or _new_id()
        message: dict[str, Any] = {
            "id": message_id,
            "messageType": "StaticContentMessage",
            "staticContent": {"formatType": "Text", "text": text},
        }
        if in_reply_to_message_id:
            message["inReplyToMessageId"] = in_reply_to_message_id
        path = f"{self._conv(conversation_id)}/message"

        async def send(opening: bool) -> Reply:
            body: dict[str, Any] = {"message": message, "esDeveloperName": self.es_developer_name}
            if opening:
                # Routing is reported to misbehave when these are absent on a new session.
                body.update(isNewMessagingSession=True, routingAttributes=dict(routing_attributes or {}))
                if language:
                    body["language"] = language
            return await self._http.request("send_message", "POST", path, token=token, json=body)

        try:
            reply = await send(new_session)
        except MiawNoSessionError:
            if new_session:
                raise
            new_session = True
            reply = await send(True)
        return SentMessage(message_id, _client_timestamp(reply.body), new_session=new_session)

    async def send_typing(
        self, token: AccessToken, conversation_id: str, started: bool, *, entry_id: str | None = None
    ) -> None:
        """Send a typing started/stopped indicator."""
        body = {
            "entryType": "TypingStartedIndicator" if started else "TypingStoppedIndicator",
            "id": entry_id or _new_id(),
        }
        await self._http.request("send_entry", "POST", f"{self._conv(conversation_id)}/entry", token=token, json=body)

    async def acknowledge_entries(
        self,
        token: AccessToken,
        conversation_id: str,
        entry_ids: Sequence[str],
        kind: Literal["Delivery", "Read"],
    ) -> None:
        """Send delivery or read receipts for agent entries (body shape from one third-party client)."""
        acks = [{"id": _new_id(), "entryType": kind, "conversationEntryId": e} for e in entry_ids]
        path = f"{self._conv(conversation_id)}/acknowledge-entries"
        await self._http.request("acknowledge", "POST", path, token=token, json={"acks": acks})

    async def send_file(
        self,
        token: AccessToken,
        conversation_id: str,
        data: bytes,
        filename: str,
        mime_type: str,
        *,
        text: str | None = None,
        message_id: str | None = None,
        file_id: str | None = None,
        language: str | None = None,
    ) -> SentMessage:
        """Upload a file (multipart: `messageEntry` JSON + `fileData`), with an optional caption. ValueError for a
        file name with a control character (a CR LF in it would start a header of its own in the part)."""
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in filename):
            raise ValueError("the file name holds a control character")
        message: dict[str, Any] = {"id": message_id or _new_id(), "fileId": file_id or _new_id()}
        if text:
            message["text"] = text
        entry: dict[str, Any] = {"esDeveloperName": self.es_developer_name, "message": message}
        if language:
            entry["language"] = language
        entry_json = orjson.dumps(entry).decode()

        def form() -> aiohttp.FormData:
            # A FormData can be sent only once, so every attempt builds its own. The file name goes as UTF-8, as
            # browsers (MIAW's own web clients) send it: quoted, aiohttp percent-encodes it, and an agent saw
            # "r%C3%A9sum%C3%A9.pdf"; unquoted, a control character is refused above (the API refuses it first).
            built = aiohttp.FormData(quote_fields=False)
            built.add_field("messageEntry", entry_json, content_type="application/json")
            built.add_field("fileData", data, filename=filename, content_type=mime_type)
            return built

        path = f"{self._conv(conversation_id)}/file"
        reply = await self._http.request("send_file", "POST", path, token=token, form=form)
        return SentMessage(message["id"], _client_timestamp(reply.body), file_id=message["fileId"])

    # --- configuration and events -----------------------------------------------------------------

    async def embedded_service_config(self, language: str | None = None) -> EmbeddedServiceConfig:
        """The deployment configuration (pre-chat fields, including hidden ones)."""
        params = {"orgId": self.org_id, "esConfigName": self.es_developer_name}
        if language:
            params["language"] = language
        path = "/embeddedservice/v1/embedded-service-config"
        reply = await self._http.request("config", "GET", path, params=params)
        return parse_embedded_service_config(reply.body)

    async def open_event_stream(
        self, token: AccessToken, last_event_id: str | None, *, session: aiohttp.ClientSession | None = None
    ) -> aiohttp.ClientResponse:
        """Open `GET /eventrouter/v1/sse`; the caller reads and closes the response. Not retried here.

        Headers are built afresh on every call (a renewed token, the latest cursor). The wait for the
        response headers is bounded by `request_timeout`; reading the body is the caller's business.
        """
        headers = {
            "Authorization": f"Bearer {token.token}",
            "X-Org-Id": self.org_id,
            "Accept": "text/event-stream",
            "Cache-Control": "no-cache",
            # MIAW is reported to answer 400 without it; "0" is what the Android SDK sends when it has none.
            "Last-Event-ID": last_event_id or "0",
        }
        return await self._http.open_stream("/eventrouter/v1/sse", headers, token, session)

    def _conv(self, conversation_id: str) -> str:
        return _conversation_path(conversation_id)


def _conversation_path(conversation_id: str) -> str:
    # An id of unreserved characters only (MIAW's are UUIDs) is what quote() would return: checked with one
    # regex match instead, as quote() was a visible share of a relayed message's cost.
    safe = conversation_id if _UNRESERVED.fullmatch(conversation_id) else quote(conversation_id, safe="")
    return f"{_API}/conversation/{safe}"


def _client_timestamp(body: object) -> int | None:
    entries = body.get("conversationEntries") if isinstance(body, dict) else None
    first = entries[0] if isinstance(entries, list) and entries else None
    value = first.get("clientTimestamp") if isinstance(first, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
