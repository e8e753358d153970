"""Fault injection for the crash tests (inactive unless its environment variable is set)."""

from __future__ import annotations

import os
import sys
import time

PAUSE_ENV = "LECTERN_TEST_PAUSE_AT"


def fault_point(name: str) -> None:
    """With ``$LECTERN_TEST_PAUSE_AT == name``, announce on stderr and freeze here.

    The crash tests wait for the announcement and then ``kill -9`` the process,
    so the kill lands exactly at this point of the ingestion.
    """
    if os.environ.get(PAUSE_ENV) == name:
        sys.stderr.write(f"LECTERN-PAUSED {name}\n")
        sys.stderr.flush()
        while True:
            time.sleep(60)
