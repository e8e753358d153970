"""The llama.cpp build `make setup` installed can run on this machine's processor.

packaging/llama-cpp.sh runs AMX instructions where the CPU reports AMX; a CPU (or
virtual machine) that traps them gets llama.cpp built without AMX, since a native
build would die on its first matrix product (the answer: "illegal instruction").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import llama_cpp

REPO = Path(__file__).resolve().parents[3]


def test_the_installed_build_is_the_one_this_processor_needs() -> None:
    probe = subprocess.run(
        ["bash", str(REPO / "packaging" / "llama-cpp.sh"), "--probe"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert probe in ("native", "no-amx")
    # what the set-up recorded when it installed llama-cpp-python into this environment
    marker = Path(sys.prefix) / ".llama-cpp-build"
    assert marker.read_text().strip() == probe
    features = llama_cpp.llama_print_system_info().decode()
    if probe == "no-amx":
        assert "AMX_INT8 = 1" not in features
