"""Named executors for blocking work, so nothing slow runs on the caller's loop.

One executor per kind of work (``"models"``, ``"ingest"``, ``"search"``...)
keeps unrelated work from queueing behind each other and makes thread names
readable in a profiler.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_executors: dict[str, ThreadPoolExecutor] = {}


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


def shutdown_all() -> None:
    """Stop all executors (at application exit)."""
    for ex in _executors.values():
        ex.shutdown(wait=False, cancel_futures=True)
    _executors.clear()
