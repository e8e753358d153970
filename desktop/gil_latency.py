"""The GUI thread gets Python's interpreter lock back within a millisecond.

Every Qt callback into Python (a timer, a signal, the qasync loop's own
wake-ups) must take the interpreter lock first. While another thread of this
process runs Python code, the GUI thread waits for it up to the switch
interval, 5 ms by default, and it waits again for each callback: a busy
event-loop turn needs the lock ten times or more. A background thread that
runs pure Python for a while (a finished download's GGUF header read: a loop
over Gemma's 262,144 vocabulary strings, 40-110 ms) thus froze the window for
50-65 ms, measured by ``python -m bench gui_responsiveness`` on 2 cores
while llama.cpp kept both busy. With a 1 ms interval the same moment costs
12-15 ms. The price is more frequent lock hand-overs between Python threads,
which only matters to threads that compete for the lock anyway; llama.cpp,
extraction and embedding run in processes of their own.
"""

from __future__ import annotations

import sys

GUI_SWITCH_INTERVAL_S = 0.001


def shorten_switch_interval() -> float:
    """Set the interpreter's switch interval to at most 1 ms; returns the interval now in force."""
    if sys.getswitchinterval() > GUI_SWITCH_INTERVAL_S:
        sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
    return sys.getswitchinterval()
