"""GUI test helpers: a qasync event loop per test, driven until a condition holds."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator

import pytest
import qasync
from PySide6.QtWidgets import QApplication


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


@pytest.fixture
def aqt(qapp: QApplication) -> Iterator[AsyncQt]:
    loop = qasync.QEventLoop(qapp)
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
