"""The bridge: engine coroutines and async iterators in, Qt signals out.

Widgets never touch threads or the engine's iterators themselves; they call
:meth:`EngineBridge.submit` / :meth:`EngineBridge.stream` and connect to
signals. Everything runs on the qasync event loop, whose blocking work the
engine already moves to executors or worker processes.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.engine import Engine
from core.errors import LecternError
from core.events import Event
from core.logs import log_unexpected
from desktop.gil_latency import shorten_switch_interval
from desktop.qt_workarounds import collect_garbage_on_gui_thread, guard_none_refcount

log = logging.getLogger(__name__)


class EngineBridge(QObject):
    """Runs engine work on the event loop and reports through signals."""

    engine_event = Signal(str, object)  # (stream tag, core.events.Event)
    finished = Signal(str)  # stream tag
    failed = Signal(str, object)  # (tag, exception)
    models_changed = Signal()

    def __init__(self, engine: Engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        guard_none_refcount()  # before any window makes thousands of Qt calls
        collect_garbage_on_gui_thread()  # Qt objects in cycles die on their own thread
        shorten_switch_interval()  # Qt's callbacks into Python wait less for the lock
        self.engine = engine
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def submit(
        self,
        tag: str,
        coro: Awaitable[Any],
        on_done: Callable[[Any], None] | None = None,
    ) -> asyncio.Task[Any]:
        """Run a coroutine; ``on_done(result)`` on success, ``failed`` on error."""

        async def runner() -> None:
            try:
                result = await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported to the GUI, never raised into Qt
                if not isinstance(exc, LecternError):  # a bug: its traceback goes to the log
                    log_unexpected(exc, f"{tag} failed")
                self.failed.emit(tag, exc)
            else:
                if on_done is not None:
                    try:
                        on_done(result)
                    except RuntimeError as exc:
                        # the widget that asked went away meanwhile (window closed)
                        log.debug("result of %s arrived after its receiver went: %s", tag, exc)
                    except Exception:  # a GUI bug must not kill the event loop
                        log.exception("handling the result of %s failed", tag)
            finally:
                # a newer task may have taken the tag over; only forget our own
                if self._tasks.get(tag) is task:
                    del self._tasks[tag]
                self.finished.emit(tag)

        task = asyncio.ensure_future(runner())
        self._tasks[tag] = task
        if inspect.iscoroutine(coro):
            # a task cancelled before it ran never awaits ``coro``: close it quietly
            work = coro

            def close_unstarted(t: asyncio.Task[Any]) -> None:
                if t.cancelled() and inspect.getcoroutinestate(work) == inspect.CORO_CREATED:
                    work.close()
                    if self._tasks.get(tag) is t:
                        del self._tasks[tag]

            task.add_done_callback(close_unstarted)
        return task

    def stream(self, tag: str, events: AsyncIterator[Event]) -> asyncio.Task[Any]:
        """Forward every event of an async iterator as ``engine_event(tag, ev)``."""

        async def pump() -> None:
            async for ev in events:
                self.engine_event.emit(tag, ev)

        return self.submit(tag, pump())

    def cancel(self, tag: str) -> None:
        """Cancel the task running under ``tag`` (its iterator is closed, its cleanup runs)."""
        task = self._tasks.get(tag)
        if task is not None:
            task.cancel()

    def busy(self, tag: str) -> bool:
        """Whether work is running under ``tag``."""
        return tag in self._tasks
