"""Named process executors: work runs in another process, which goes with its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil

from core.executors import run_in_process, shutdown_all, started_processes
from core.priority import BACKGROUND_NICE
from tests.conftest import REPO

PARENT = """
import asyncio, os, sys, time
from core.executors import run_in_process
async def main():
    pid = await run_in_process("probe", os.getpid)
    print(pid, flush=True)
    time.sleep(60)
asyncio.run(main())
"""


async def test_work_runs_in_a_named_process() -> None:
    try:
        pid = await run_in_process("probe", os.getpid)
        assert pid != os.getpid() and "probe" in started_processes()
        # background priority, as the other workers run
        assert psutil.Process(pid).nice() == max(BACKGROUND_NICE, psutil.Process().nice())
        assert await run_in_process("probe", os.getpid) == pid  # one process, reused
    finally:
        shutdown_all()
    assert started_processes() == []


def test_the_worker_goes_when_its_parent_is_killed() -> None:
    # a parent killed with -9 cannot shut its pool down: the worker lingered for ever
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        worker = psutil.Process(int(parent.stdout.readline()))
        assert worker.is_running()
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        worker.wait(15)  # raises psutil.TimeoutExpired if it stays
        assert not worker.is_running()
    finally:
        if parent.poll() is None:
            parent.kill()
