"""Named executors for blocking work, so nothing slow runs on the caller's loop.

One executor per kind of work (``"models"``, ``"ingest"``, ``"search"``...)
keeps unrelated work from queueing behind each other and makes thread names
readable in a profiler. Work that holds Python's interpreter lock for long
(PyMuPDF's OCR: seconds in one C call) would still freeze the caller's event
loop from a thread, so it goes to a named *process* instead
(:func:`run_in_process`: one spawned worker, at background priority).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_executors: dict[str, ThreadPoolExecutor] = {}
_processes: dict[str, ProcessPoolExecutor] = {}


def executor(name: str, workers: int = 1) -> ThreadPoolExecutor:
    """The executor called ``name``, created on first use."""
    ex = _executors.get(name)
    if ex is None:
        ex = _executors[name] = ThreadPoolExecutor(workers, thread_name_prefix=f"lectern-{name}")
    return ex


async def run_blocking(name: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn`` in the named executor and await its result."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await loop.run_in_executor(executor(name), call)


def _worker_start() -> None:
    """In a worker process: background priority, and exit when the parent is gone."""
    import os
    import threading
    import time

    from core.priority import lower_this_process

    lower_this_process()
    parent = os.getppid()

    def watch() -> None:
        # a parent killed with -9 never tells its pool: without this the worker lingered
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="lectern-parent-watch", daemon=True).start()


def process_executor(name: str) -> ProcessPoolExecutor:
    """The one-process executor called ``name``, started on first use."""
    ex = _processes.get(name)
    if ex is None:
        ex = _processes[name] = ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start
        )
    return ex


async def run_in_process(name: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn`` (a module-level function; picklable arguments) in the named process."""
    loop = asyncio.get_running_loop()
    call = functools.partial(fn, *args, **kwargs)
    return await loop.run_in_executor(process_executor(name), call)


def started_processes() -> list[str]:
    """The names of the process executors started so far."""
    return sorted(_processes)


def shutdown_all() -> None:
    """Stop all executors and worker processes (at application exit)."""
    for ex in _executors.values():
        ex.shutdown(wait=False, cancel_futures=True)
    _executors.clear()
    for px in _processes.values():
        px.shutdown(wait=False, cancel_futures=True)
    _processes.clear()
