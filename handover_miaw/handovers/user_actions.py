"""What the bot platform does on the user's behalf during a handover: messages, typing, presence, files, a
fresh identity token, the end.

Any process can serve these calls: a handover whose stream another process owns is acted on through a
transient view built from the store (`HandoverEngine.live`); MIAW needs only the token and the
conversation id.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from handover_miaw.errors import IdConflictError, NotFoundError, StateConflictError, UpstreamUnavailableError
from handover_miaw.handovers import machine
from handover_miaw.handovers.credentials import token_to_keep
from handover_miaw.handovers.engine import HandoverEngine, upstream_error
from handover_miaw.handovers.ids import derived_message_id, new_miaw_id
from handover_miaw.handovers.live import LiveHandover
from handover_miaw.handovers.node_settings import NodeSettings
from handover_miaw.handovers.renewals import store_renewed_token
from handover_miaw.logs import secrets
from handover_miaw.miaw import MiawAuthError, MiawError, MiawForbiddenError, MiawNotFoundError
from handover_miaw.store.base import Store
from handover_miaw.store.records import HandoverRecord

__all__ = ["UserActions"]

log = structlog.get_logger(__name__)

# How long a process holds the sending of one message against other processes: past it, a holder that
# died is taken over (MIAW still sees one message: the MIAW id is derived from the caller's id). Longer
# than a MIAW call with its retries normally takes; a waiting request polls at _POLL_S meanwhile.
_HOLD_S = 30.0
_POLL_S = 0.05


def _digest(text: str) -> str:
    """What tells two texts apart under one message id, without storing the text twice."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _file_digest(data: bytes, filename: str, content_type: str, text: str | None) -> str:
    """What tells two files apart under one id; prefixed, so that it never equals a text's (ids of files and
    messages are one space: a message stored under a file's id, or the other way round, is a conflict)."""
    digest = hashlib.sha256()
    for part in (filename.encode(), content_type.encode(), (text or "").encode()):
        digest.update(len(part).to_bytes(8, "big") + part)
    digest.update(data)
    return "file:" + digest.hexdigest()[:32]


@dataclass(slots=True)
class _Flight:
    """A message being sent by this process: later requests for the same id await its outcome."""

    digest: str
    # Made when a second request for the id arrives: most messages have none, and a future (with its
    # callback and the loop turn that runs it) would be work for nothing on each of them.
    outcome: asyncio.Future[tuple[str, bool]] | None = None


_ID_CONFLICT = "this message id was already used for a different text or a file"
_FILE_ID_CONFLICT = "this id was already used for a different file or a message"


class UserActions:
    """What the bot platform does on the user's behalf during a handover."""

    def __init__(self, store: Store, engine: HandoverEngine) -> None:
        self._store = store
        self._engine = engine
        self._flights: dict[tuple[str, str], _Flight] = {}

    async def send_message(self, handover_id: str, client_id: str, text: str) -> tuple[str, bool]:
        """Send a user message once per client id; returns (MIAW message id, sent by this request).

        Requests for an id being sent share one MIAW call: in this process they await the first one's outcome
        and get its answer (its exception too); on a store several processes share, another process waits for
        the holder of the store's reservation and answers as it did (202 once sent). The same id with another
        text is an IdConflictError. A request after the message was sent answers (id, False), without calling
        MIAW, even after the handover has ended (a caller's retry must not turn into a failure); a new one needs
        a live handover.
        """
        return await self._once(
            (handover_id, client_id),
            _digest(text),
            lambda digest: self._send_once(handover_id, client_id, text, digest),
            (_ID_CONFLICT, "/text"),
        )

    async def _once(
        self,
        key: tuple[str, str],
        digest: str,
        send: Callable[[str], Awaitable[tuple[str, bool]]],
        conflict: tuple[str, str],
    ) -> tuple[str, bool]:
        """Run `send(digest)` once for the caller's id in this process: a request for an id being sent (a
        message or a file: one id space) awaits the first one's outcome, or is `conflict` when its digest is
        another (`conflict`: its message and pointer)."""
        flight = self._flights.get(key)
        if flight is not None:
            if flight.digest != digest:
                raise IdConflictError(conflict[0], pointer=conflict[1])
            if flight.outcome is None:
                flight.outcome = asyncio.get_running_loop().create_future()
                # Retrieved here so an outcome the waiters no longer await is not reported as never retrieved.
                flight.outcome.add_done_callback(lambda done: done.cancelled() or done.exception())
            return await asyncio.shield(flight.outcome)
        flight = self._flights[key] = _Flight(digest)
        try:
            result = await send(digest)
        except BaseException as exc:
            if flight.outcome is not None:
                if isinstance(exc, asyncio.CancelledError):
                    flight.outcome.cancel()
                else:
                    flight.outcome.set_exception(exc)
            raise
        else:
            if flight.outcome is not None:
                flight.outcome.set_result(result)
            return result
        finally:
            del self._flights[key]

    async def _send_once(self, handover_id: str, client_id: str, text: str, digest: str) -> tuple[str, bool]:
        if self._store.single_process():
            return await self._send_alone(handover_id, client_id, text, digest)
        return await self._reserved(
            handover_id, client_id, digest, lambda live, miaw_id: self._send_text(live, miaw_id, text),
            (_ID_CONFLICT, "/text"),
        )  # fmt: skip

    async def _reserved(
        self,
        handover_id: str,
        client_id: str,
        digest: str,
        post: Callable[[LiveHandover, str], Awaitable[None]],
        conflict: tuple[str, str],
    ) -> tuple[str, bool]:
        """Post a message or a file under the caller's id once across processes sharing the store: the
        process whose reservation holds posts it, the others wait for its outcome; another content under the
        id is `conflict` (message, pointer). Messages and files share one id space and one derived MIAW id:
        a file and a message under one id, each sent by another process, were both answered sent, and MIAW
        dropped the second as a repeat."""
        miaw_id = derived_message_id(handover_id, "user", client_id)
        deadline = time.monotonic() + _HOLD_S + 5.0
        waited = False
        while True:
            try:
                held, stored = await self._store.reserve_user_message(handover_id, client_id, miaw_id, digest, _HOLD_S)
            except KeyError:
                raise NotFoundError(f"handover {handover_id!r} does not exist") from None
            if held:
                break
            if stored.extra.get("digest", digest) != digest:
                raise IdConflictError(conflict[0], pointer=conflict[1])
            if stored.state == "sent":
                # Sent while this request waited: it answers as the sender did; a later resend answers 200.
                return stored.miaw_message_id, waited
            if time.monotonic() > deadline:
                raise UpstreamUnavailableError("the message is still being sent; retry with the same id")
            waited = True
            await asyncio.sleep(_POLL_S)  # another process is sending it: poll for its outcome
        try:
            live = await self._engine.live(handover_id)
            await post(live, stored.miaw_message_id)
        except BaseException:
            try:
                await self._store.release_user_message(handover_id, client_id)
            except Exception:  # the reservation lapses by itself; the caller gets the MIAW error
                log.warning("user.reservation_not_released", handover_id=handover_id)
            raise
        await self._store.mark_user_message_sent(handover_id, client_id, stored.miaw_message_id, digest)
        return stored.miaw_message_id, True

    async def _send_alone(self, handover_id: str, client_id: str, text: str, digest: str) -> tuple[str, bool]:
        """Send when no other process uses the store: this process's flight is then the only claim there can
        be, so the message costs a read before MIAW and one write after it accepted, without the reservation
        (a write before and a state change after). A crash between the two is the retry case: the MIAW id
        is derived from the caller's, MIAW answers a known id without posting it twice."""
        stored = await self._store.get_user_message(handover_id, client_id)
        if stored is None:
            miaw_id = derived_message_id(handover_id, "user", client_id)
        else:
            if stored.extra.get("digest", digest) != digest:
                raise IdConflictError(_ID_CONFLICT, pointer="/text")
            if stored.state == "sent":
                return stored.miaw_message_id, False
            miaw_id = stored.miaw_message_id  # reserved by a process that stopped before it was sent
        live = await self._engine.live(handover_id)
        await self._send_text(live, miaw_id, text)
        await self._store.mark_user_message_sent(handover_id, client_id, miaw_id, digest)
        return miaw_id, True

    async def _sent_before(self, handover_id: str, client_id: str, digest: str) -> tuple[str, bool]:
        """The MIAW id for a caller's file id, and whether MIAW already accepted that file.

        The MIAW id is derived from the caller's id, so a retry re-sends under the same id whatever the store
        saw (MIAW answers a known id without posting it twice), and a file needs one store write, after MIAW
        accepted it. An id stored by an earlier version (which reserved a random one first) is kept; one stored
        for another file or a message is an IdConflictError (it was answered "sent" and dropped). A file
        stored before files had a digest matches any.
        """
        stored = await self._store.get_user_message(handover_id, client_id)
        if stored is None:
            return derived_message_id(handover_id, "user", client_id), False
        if stored.extra.get("digest", digest) != digest:
            raise IdConflictError(_FILE_ID_CONFLICT, pointer="/id")
        return stored.miaw_message_id, stored.state == "sent"

    async def _send_text(self, live: LiveHandover, message_id: str, text: str) -> None:
        record = live.record
        try:
            await live.client.send_message(
                live.token,
                record.conversation_id,
                text,
                message_id=message_id,
                routing_attributes=record.routing_attributes,
                language=record.language,
            )
        except MiawError as exc:
            raise await self._user_call_failed(live, exc) from exc

    async def _user_call_failed(self, live: LiveHandover, exc: MiawError) -> Exception:
        if isinstance(exc, MiawForbiddenError | MiawNotFoundError):
            await self._engine.end_now(live.record.id, "completed", "conversation_closed", view=live)
            return StateConflictError("the Salesforce conversation is closed; the message was not delivered")
        if isinstance(exc, MiawAuthError):
            await self._engine.end_now(live.record.id, "error", "token_expired", view=live)
            return StateConflictError("the Salesforce session has expired; the message was not delivered")
        return upstream_error(exc)

    async def send_typing(self, handover_id: str, typing: bool) -> None:
        """Typing started or stopped."""
        live = await self._engine.live(handover_id)
        try:
            await live.client.send_typing(live.token, live.record.conversation_id, typing)
        except MiawError as exc:
            raise await self._user_call_failed(live, exc) from exc

    async def set_presence(self, handover_id: str, connected: bool) -> bool:
        """Tell the agent the user came back or left, when the node's setting asks for it."""
        live = await self._engine.live(handover_id)
        notice = NodeSettings.of(live.record.settings).presence_notice(connected)
        if notice is None:
            return False
        await self._send_text(live, new_miaw_id(), notice)
        return True

    async def send_file(
        self, handover_id: str, data: bytes, filename: str, content_type: str, text: str | None, client_id: str | None
    ) -> tuple[str, bool]:
        """Send a file to the agent, once per client id when one is given; returns (MIAW message id, sent now).
        Like a message, a file already sent under its id is answered even after the end."""
        if client_id is None:
            return await self._send_file_once(handover_id, data, filename, content_type, text, None, "")
        return await self._once(
            (handover_id, client_id),
            _file_digest(data, filename, content_type, text),
            lambda digest: self._send_file_once(handover_id, data, filename, content_type, text, client_id, digest),
            (_FILE_ID_CONFLICT, "/id"),
        )

    async def _send_file_once(
        self,
        handover_id: str,
        data: bytes,
        filename: str,
        content_type: str,
        text: str | None,
        client_id: str | None,
        digest: str,
    ) -> tuple[str, bool]:
        async def post(live: LiveHandover, message_id: str) -> None:
            try:
                await live.client.send_file(
                    live.token, live.record.conversation_id, data, filename, content_type,
                    text=text, message_id=message_id, language=live.record.language,
                )  # fmt: skip
            except MiawError as exc:
                raise await self._user_call_failed(live, exc) from exc

        if client_id is None:
            message_id = new_miaw_id()
            await post(await self._engine.live(handover_id), message_id)
            return message_id, True
        if not self._store.single_process():
            return await self._reserved(handover_id, client_id, digest, post, (_FILE_ID_CONFLICT, "/id"))
        message_id, sent = await self._sent_before(handover_id, client_id, digest)
        if sent:
            return message_id, False
        await post(await self._engine.live(handover_id), message_id)
        await self._store.mark_user_message_sent(handover_id, client_id, message_id, digest)
        return message_id, True

    async def refresh_identity(self, handover_id: str, identity_token: str) -> HandoverRecord:
        """An authenticated user's fresh identity token: carry the handover on a new access token.

        A continuation token keeps the original expiry, so only a new verified-user token extends the
        session. It is accepted only once MIAW lets it read this conversation (same verified subject).
        """
        live = await self._engine.live(handover_id)
        node = NodeSettings.of(live.record.settings)
        if not node.use_identity_token:
            raise StateConflictError("this handover is not for an authenticated user", pointer="/identityToken")
        secrets.add_supplied(identity_token)
        try:
            return await self._renew(live, handover_id, identity_token)
        finally:
            if identity_token != node.identity_token:  # used once here: only the stored one stays registered
                secrets.discard(identity_token)

    async def _renew(self, live: LiveHandover, handover_id: str, identity_token: str) -> HandoverRecord:
        """Take a verified user's access token with `identity_token` and carry the live handover on it."""
        refused = StateConflictError(
            "the identity token does not give access to this conversation", pointer="/identityToken"
        )
        try:
            token = await live.client.authenticated_access_token(identity_token)
            secrets.add(token.token)
            if not token.authenticated:
                raise refused
            await live.client.routing_status(token, live.record.conversation_id)
        except (MiawAuthError, MiawForbiddenError, MiawNotFoundError) as exc:
            raise refused from exc
        except MiawError as exc:
            raise upstream_error(exc) from exc
        token = token_to_keep(token)
        async with live.lock:
            live.record = await store_renewed_token(self._store, handover_id, token)
            live.token = token
            if live.stream is not None:
                live.stream.set_token(token)
        log.info("handover.token_renewed", handover_id=handover_id, connector=live.record.connector)
        return live.record

    async def end(self, handover_id: str) -> HandoverRecord:
        """The user ends the handover: the MIAW conversation is closed."""
        live = await self._engine.live(handover_id)
        ended = await self._engine.apply(
            handover_id,
            machine.EndRequested("cancelled", "user_ended", close_conversation=True),
            entry_id=None,
            view=live,
        )
        assert ended is not None
        return ended
