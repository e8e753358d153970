"""The GUI process hands Python's interpreter lock to the GUI thread within a millisecond."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from core.engine import Engine
from desktop.bridge import EngineBridge
from desktop.gil_latency import GUI_SWITCH_INTERVAL_S


@pytest.fixture
def restore_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("restore_interval")
def test_the_bridge_shortens_the_default_switch_interval(
    qapp: QApplication, data_dir: Path
) -> None:
    sys.setswitchinterval(0.005)  # CPython's default
    EngineBridge(Engine(data_dir))
    assert sys.getswitchinterval() == pytest.approx(GUI_SWITCH_INTERVAL_S)
    assert GUI_SWITCH_INTERVAL_S <= 0.001


@pytest.mark.usefixtures("restore_interval")
def test_a_shorter_interval_set_before_is_kept(qapp: QApplication, data_dir: Path) -> None:
    sys.setswitchinterval(0.0002)
    EngineBridge(Engine(data_dir))
    assert sys.getswitchinterval() == pytest.approx(0.0002)
