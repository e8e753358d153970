"""Background work yields the processor to the application.

Document extraction and embedding run in worker processes of their own; on a
machine with few cores they compete with the GUI thread and with llama.cpp
for the processor. Lowering their scheduling priority keeps the window
responsive (and the answer streaming) while a library is indexed; with an
idle processor they run exactly as fast as before.
"""

from __future__ import annotations

import contextlib
import sys

import psutil

BACKGROUND_NICE = 10  # POSIX niceness: about a tenth of a normal process's share under load


def lower_this_process() -> None:
    """Run the calling process at background priority (never raises)."""
    with contextlib.suppress(psutil.Error, OSError, AttributeError):
        proc = psutil.Process()
        if sys.platform == "win32":
            proc.nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
        elif proc.nice() < BACKGROUND_NICE:
            proc.nice(BACKGROUND_NICE)
