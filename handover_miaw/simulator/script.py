"""The scripted agent: plays each messaging session by itself so the demo needs no human at the controls.

One named task per session runs route → wait → accept → greet → answer each end-user message → end the
session. The :class:`ScriptRunner` owns those tasks and cancels and awaits them in :meth:`aclose`, which
the app calls on cleanup.
"""

from __future__ import annotations

import asyncio
import logging

from .config import ScriptedAgent
from .simulator import Simulator
from .state import Conversation, EndUserMessage, SimulatorError

__all__ = ["ScriptRunner"]

_log = logging.getLogger(__name__)


class ScriptRunner:
    """Listens to the simulator and drives the agent side of every new session."""

    def __init__(self, sim: Simulator, script: ScriptedAgent) -> None:
        self._sim = sim
        self._script = script
        self._inboxes: dict[str, asyncio.Queue[EndUserMessage]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def session_started(self, conversation: Conversation) -> None:
        """Start playing the new session."""
        self._cancel(conversation.id)
        inbox: asyncio.Queue[EndUserMessage] = asyncio.Queue()
        self._inboxes[conversation.id] = inbox
        task = asyncio.get_running_loop().create_task(
            self._play(conversation.id, inbox), name=f"miaw-sim-script-{conversation.id}"
        )
        self._tasks[conversation.id] = task
        task.add_done_callback(self._finished)

    def end_user_message(self, conversation: Conversation, message: EndUserMessage) -> None:
        """Hand the message to the session's player (it answers once it has accepted)."""
        inbox = self._inboxes.get(conversation.id)
        if inbox is not None:
            inbox.put_nowait(message)

    def session_ended(self, conversation: Conversation) -> None:
        """Stop the player, unless it is the one ending the session."""
        task = self._tasks.get(conversation.id)
        if task is not None and task is not asyncio.current_task():
            self._cancel(conversation.id)

    async def aclose(self) -> None:
        """Cancel every player and wait for them to finish."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._inboxes.clear()

    def _cancel(self, conversation_id: str) -> None:
        task = self._tasks.pop(conversation_id, None)
        self._inboxes.pop(conversation_id, None)
        if task is not None:
            task.cancel()

    def _finished(self, task: asyncio.Task[None]) -> None:
        for conversation_id, owned in list(self._tasks.items()):
            if owned is task:
                del self._tasks[conversation_id]
                self._inboxes.pop(conversation_id, None)
        if not task.cancelled() and task.exception() is not None:
            _log.error("scripted agent failed", exc_info=task.exception())

    async def _play(self, conversation_id: str, inbox: asyncio.Queue[EndUserMessage]) -> None:
        script, sim = self._script, self._sim
        try:
            await sim.route(conversation_id, script.queue_position, script.estimated_wait_s)
            await asyncio.sleep(script.accept_after_s)
            await sim.accept(conversation_id, script.agent)
            if script.greeting:
                await sim.send_text(conversation_id, script.greeting.format(agent=script.agent))
            answered = 0
            while script.close_after_messages is None or answered < script.close_after_messages:
                message = await inbox.get()
                if script.typing:
                    await sim.typing(conversation_id, True)
                await asyncio.sleep(script.reply_delay_s)
                if script.typing:
                    await sim.typing(conversation_id, False)
                reply = script.reply_template.format(text=message.text or "", agent=script.agent)
                await sim.send_text(conversation_id, reply)
                answered += 1
            await sim.end_session(conversation_id)
        except SimulatorError as exc:
            # The end user closed or ended the chat under the script's feet; the play is simply over.
            _log.debug("scripted agent stopped: %s", exc.message)
