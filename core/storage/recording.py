"""Saving an answer while it streams, so that a crash loses nothing already shown.

:func:`record_answer` sits between the generator's events and the front end:
it passes every event on unchanged and, on the way, creates the assistant
message at the first token (or at ``Failed``/``Done`` when no token came),
rewrites it every :data:`SAVE_INTERVAL_S` while its text grows (on a timer,
so a pause in the stream does not hold text back), and once more at the end
with the final status and statistics. All database
work runs in the single-worker ``"conversations"`` executor, so writes keep
their order and the caller's event loop never waits on the disk for long.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from core.errors import LecternError
from core.events import Done, Event, Failed, Sources, Token
from core.executors import run_blocking
from core.storage.conversations import ConversationStore, MessageStored, StoredMessage
from core.types import GenerationStats, Passage

SAVE_INTERVAL_S = 0.5
EXECUTOR = "conversations"


def error_line(error: LecternError) -> str:
    """How a failed answer's error is stored: the message, then the hint."""
    return f"{error.message} ({error.hint})" if error.hint else error.message


async def record_answer(
    store: ConversationStore,
    conversation_id: str,
    events: AsyncIterator[Event],
    *,
    model: str | Callable[[], str | None] | None = None,
    save_interval_s: float = SAVE_INTERVAL_S,
) -> AsyncIterator[Event]:
    """Pass ``events`` through, persisting the answer they carry.

    Yields :class:`MessageStored` for the assistant message right after it is
    created (before the first ``Token`` is passed on), so a front end knows its
    id. If the consumer stops early (or the task is cancelled) the text so far
    is saved with status ``stopped``.
    """
    message: StoredMessage | None = None
    text: list[str] = []
    sources: tuple[Passage, ...] = ()
    searched_for = ""
    saved_len = 0  # characters of the answer already on disk
    saver: asyncio.Task[None] | None = None
    finished = False

    async def create() -> StoredMessage:
        nonlocal saved_len
        saved_len = len("".join(text))
        return await run_blocking(
            EXECUTOR,
            store.add_message,
            conversation_id,
            "assistant",
            "".join(text),
            status="streaming",
            sources=sources,
            model=model() if callable(model) else model,
            searched_for=searched_for,
        )

    async def save_periodically(message_id: int) -> None:
        # on a timer, not per token: text shown just before a pause in the stream
        # (a slow token, a busy machine) is saved within the interval all the same
        nonlocal saved_len
        while True:
            await asyncio.sleep(max(save_interval_s, 0.01))
            current = "".join(text)
            if len(current) != saved_len:
                saved_len = len(current)
                await run_blocking(EXECUTOR, store.update_message, message_id, current)

    async def stop_saver() -> None:
        if saver is not None and not saver.done():
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver

    try:
        async for ev in events:
            if isinstance(ev, Sources):
                sources = tuple(ev.passages)
                searched_for = ev.searched_for
                if message is not None:
                    await run_blocking(
                        EXECUTOR,
                        store.update_message,
                        message.id,
                        "".join(text),
                        sources=sources,
                        searched_for=searched_for,
                    )
            elif isinstance(ev, Token):
                text.append(ev.text)
                if message is None:
                    message = await create()
                    saver = asyncio.ensure_future(save_periodically(message.id))
                    yield MessageStored(message)
            elif isinstance(ev, Done | Failed):
                if message is None:
                    message = await create()
                    yield MessageStored(message)
                await stop_saver()
                if isinstance(ev, Done):
                    final = ev.text if ev.text else "".join(text)
                    await run_blocking(
                        EXECUTOR,
                        store.update_message,
                        message.id,
                        final,
                        status="stopped" if ev.cancelled else "complete",
                        stats=ev.stats,
                    )
                else:
                    await run_blocking(
                        EXECUTOR,
                        store.update_message,
                        message.id,
                        "".join(text),
                        status="failed",
                        error=error_line(ev.error),
                    )
                finished = True
            yield ev
    finally:
        if saver is not None:
            saver.cancel()
        if message is not None and not finished:
            # cancelled or abandoned: keep what was shown; shield so cancellation
            # of the surrounding task cannot interrupt the last write
            await asyncio.shield(
                run_blocking(
                    EXECUTOR, store.update_message, message.id, "".join(text), status="stopped"
                )
            )


def stats_summary(stats: GenerationStats | None) -> str:
    """One line for a front end: time to first token, prefill and decode speed."""
    if stats is None:
        return ""
    if not stats.model_ran:
        return "no model ran"
    parts = [f"first token {stats.ttft_s:.2f} s"]
    if stats.prefill_tps:
        parts.append(f"prompt {stats.prefill_tps:.0f} tok/s")
    if stats.decode_tps:
        parts.append(f"answer {stats.decode_tps:.1f} tok/s")
    parts.append(f"{stats.completion_tokens} tokens")
    return " · ".join(parts)
