"""GUI test helpers: a qasync event loop per test, driven until a condition holds."""

from __future__ import annotations

import asyncio
import gc
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import qasync
from PySide6.QtWidgets import QApplication

# LECTERN_SCREENSHOTS=1 refreshes the pictures in docs/screenshots; otherwise they go to a
# temporary folder, so a test run leaves the working tree as it was
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("LECTERN_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "lectern-screenshots"
)


class AsyncQt:
    """Runs the qasync loop (which is also the Qt event loop) until something happens."""

    def __init__(self, loop: qasync.QEventLoop) -> None:
        self.loop = loop

    def until(self, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
        """Process Qt and asyncio events until ``predicate()`` is true (or fail)."""

        async def poll() -> None:
            while not predicate():
                await asyncio.sleep(0.02)

        try:
            self.loop.run_until_complete(asyncio.wait_for(poll(), timeout))
        except TimeoutError:
            pytest.fail(f"condition not met within {timeout} s")

    def run(self, coro: object, timeout: float = 120.0) -> object:
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))  # type: ignore[arg-type]


class _TestLoop(qasync.QEventLoop):  # type: ignore[misc]
    """qasync's loop, except that it stays "running" for its last round of events.

    ``QEventLoop.run_until_complete`` processes pending Qt events once more after
    ``run_forever`` has already cleared asyncio's running loop; a task resumed
    there (an executor result arriving just then) fails with "no running event
    loop". In the application the loop runs once until exit, so only tests,
    which run it many times, meet this.
    """

    def run_forever(self) -> object:
        try:
            return super().run_forever()
        finally:
            asyncio.events._set_running_loop(self)

    def run_until_complete(self, future: object) -> object:
        try:
            return super().run_until_complete(future)
        finally:
            asyncio.events._set_running_loop(None)


@pytest.fixture
def aqt(qapp: QApplication) -> Iterator[AsyncQt]:
    loop = _TestLoop(qapp)
    asyncio.set_event_loop(loop)
    try:
        yield AsyncQt(loop)
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        asyncio.set_event_loop(None)
        # collect the test's Qt objects here, on the GUI thread: a collection that happens
        # later in an executor thread would destroy them there ("Timers cannot be stopped
        # from another thread")
        gc.collect()
        gc.enable()  # the bridge switched automatic collection off (see qt_workarounds)
