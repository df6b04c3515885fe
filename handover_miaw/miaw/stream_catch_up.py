"""The catch-up an event stream runs after a reconnect: a conversation's entries read back through
list-entries, newest first, until the walk meets an entry already seen.

Whether MIAW replays events missed while disconnected is not documented, so the stream asks for them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from .client import MiawClient
from .errors import MiawAuthError, MiawError, MiawForbiddenError, MiawNotFoundError
from .events import MiawEvent
from .models import AccessToken
from .stream_status import SeenIds, describe_error

__all__ = ["PAGE", "catch_up", "missed_entries"]

_log = logging.getLogger("handover_miaw.miaw.stream")  # the stream's lines, as it asks for them

PAGE = 50  # list-entries maximum page size


async def missed_entries(
    client: MiawClient,
    token: AccessToken,
    conversation_id: str,
    *,
    seen: SeenIds,
    newest: int | None,
    pages: int,
    floor: int | None = None,
) -> list[MiawEvent]:
    """Entries of `conversation_id` not in `seen`, oldest first, walking back from the newest for at most
    `pages` pages: to the first page holding a seen entry, and no further back than `newest` (the newest
    timestamp delivered live). With `floor`, past seen entries, to the entries older than `floor`: a catch-up
    owed since then (one failed, or an event was passed unread) has live entries newer than what it missed,
    and stopping at them left it behind for good. Raises what list-entries raises."""
    missed: dict[str, MiawEvent] = {}
    end: int | None = None
    for _ in range(pages):
        page = await client.list_entries(token, conversation_id, limit=PAGE, direction="FromEnd", end_timestamp=end)
        reached_seen = False
        for event in page.events:  # newest first
            if event.entry_id is None or event.entry_id in seen:
                reached_seen = reached_seen or event.entry_id is not None
                continue
            missed.setdefault(event.entry_id, event)
        stamps = [e.timestamp for e in page.events if e.timestamp is not None]
        if (reached_seen and floor is None) or len(page.events) < PAGE or not stamps:
            break
        oldest = min(stamps)
        bound = newest if floor is None else floor
        if bound is not None and oldest < bound:
            break
        # Whether endTimestamp is inclusive is undocumented: include the boundary and dedupe, but
        # step past it when a whole page shares one millisecond so the walk always moves.
        end = oldest - 1 if end is not None and oldest >= end else oldest
    return list(reversed(missed.values()))


async def catch_up(walk: Awaitable[list[MiawEvent]], conversation_id: str, *, stream: str) -> list[MiawEvent] | None:
    """What `walk` (a `missed_entries` call) found, logged for the stream named `stream`; None when it failed
    and is to be tried again. Only an authentication error is raised (the stream renews its token or ends):
    raised, any failure failed the connection before its first read, and one that lasted (a page too large to
    read, list-entries down) kept the stream from ever reading its live events again. A closed or unknown
    conversation has nothing to catch up with; the owner learns that from its own calls."""
    try:
        missed = await walk
    except (MiawForbiddenError, MiawNotFoundError) as exc:
        _log.warning("miaw.stream_catch_up_skipped", extra={"stream": stream, "error": describe_error(exc)})
        return []
    except MiawAuthError:
        raise
    except MiawError as exc:
        _log.warning(
            "miaw.stream_catch_up_failed",
            extra={"stream": stream, "conversation": conversation_id, "error": describe_error(exc)},
        )
        return None
    if missed:
        _log.info(
            "miaw.stream_caught_up", extra={"stream": stream, "conversation": conversation_id, "entries": len(missed)}
        )
    return missed
