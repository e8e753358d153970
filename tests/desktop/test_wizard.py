"""The first-run wizard with the real engine: detection, catalog fits, a real speed test."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot

from core.engine import Engine
from core.hardware.detect import HardwareInfo, simulated_hardware
from core.hardware.probes import LlamaBuildInfo
from core.settings import load_settings
from desktop.bridge import EngineBridge
from desktop.main_window import MainWindow
from desktop.wizard import MENU_TEXT, FirstRunWizard, install_wizard
from desktop.wizard_pages import PAGE_GPU_BUILD, PAGE_MODELS, PAGE_RECOMMEND
from tests.core.models import conftest as models_fixtures
from tests.core.models.conftest import other_apps_models
from tests.desktop.conftest import SCREENSHOTS as SHOTS
from tests.desktop.conftest import AsyncQt

tiny_ggufs = models_fixtures.tiny_ggufs  # real GGUF files, from the models tests


def _shot(widget: QWizard, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(SHOTS / f"wizard-{name}.png"))


def test_wizard_walks_through_and_measures(
    qtbot: QtBot,
    aqt: AsyncQt,
    data_dir: Path,
    starter_gguf: Path,
    tmp_path: Path,
    tiny_ggufs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # LM Studio and GPT4All have a model each on this computer
    other_apps_models(tmp_path, tiny_ggufs, monkeypatch, tmp_path / "no-hf-cache")
    engine = Engine(data_dir)
    engine.settings.models.default_model = str(starter_gguf)
    wizard = FirstRunWizard(EngineBridge(engine))
    qtbot.addWidget(wizard)
    wizard.show()
    page = wizard.hardware_page
    assert not page.isComplete()  # detection runs in the background
    aqt.until(page.isComplete, timeout=60)
    summary = page.summary.text()
    assert "Processor:" in summary and "Memory:" in summary
    assert "In short: this computer runs models up to about" in summary
    hw = engine.hardware_service.cached
    assert hw is not None and f"{hw.cpu.physical_cores} cores" in summary
    _shot(wizard, "hardware")

    wizard.next()
    assert wizard.currentId() == PAGE_MODELS  # no GPU here: the GPU build page is skipped
    tree = wizard.models_page.tree
    assert tree.topLevelItemCount() == len(engine.catalog())
    rows = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    names = [r.text(0) for r in rows if r is not None]
    assert sum("recommended" in n for n in names) == 1
    labels = {r.text(2) for r in rows if r is not None}
    assert labels <= {
        "Fits on the graphics card",
        "Partly on the graphics card",
        "Runs on the processor",
        "Too large for this computer",
    }
    # the models already on this computer are pointed out: no download needed
    aqt.until(wizard.models_page.on_disk.isVisible)
    assert wizard.models_page.on_disk.text() == (
        "This computer already has 2 GGUF models from GPT4All, LM Studio. "
        "Add them in Models → On disk: no download needed."
    )
    _shot(wizard, "models")

    wizard.next()
    assert wizard.currentId() == PAGE_RECOMMEND
    rec = wizard.recommend_page
    assert wizard.models_page.recommended is not None
    assert wizard.models_page.recommended.entry.name in rec.recommendation.text()
    aqt.until(lambda: "The model you have now" in rec.current.text(), timeout=60)
    rec.measure_seconds = 1.5  # the real test takes 20 s; the mechanics are the same
    qtbot.mouseClick(rec.measure_button, Qt.MouseButton.LeftButton)
    assert not rec.measure_button.isEnabled()
    aqt.until(lambda: rec.measure_button.isEnabled(), timeout=120)
    assert rec.measurement is not None and rec.measurement.decode_tps > 0
    assert "tokens/s" in rec.result.text() and "words a second" in rec.result.text()
    _shot(wizard, "recommend")

    wizard.accept()
    assert load_settings(engine.paths.settings_file).first_run_done
    aqt.run(engine.close())


def test_gpu_without_gpu_build_shows_the_install_steps(
    qtbot: QtBot, aqt: AsyncQt, data_dir: Path
) -> None:
    engine = Engine(data_dir)
    sim = simulated_hardware(gpu_vendor="nvidia", gpu_vram_gb=8, ram_gb=16)
    # a real (not simulated) machine with an NVIDIA card and a CPU-only llama.cpp
    engine.hardware_service._info = HardwareInfo(
        cpu=sim.cpu,
        ram_total_bytes=sim.ram_total_bytes,
        ram_available_bytes=sim.ram_available_bytes,
        gpus=sim.gpus,
        llama=LlamaBuildInfo(installed=True, version="0.3.36", backends=("CPU",)),
    )
    wizard = FirstRunWizard(EngineBridge(engine))
    qtbot.addWidget(wizard)
    wizard.show()
    aqt.until(wizard.hardware_page.isComplete)
    assert "cannot use the graphics card yet" in wizard.hardware_page.summary.text()
    wizard.next()
    assert wizard.currentId() == PAGE_GPU_BUILD
    steps = wizard.gpu_page.steps.toPlainText()
    assert "CUDA Toolkit" in steps
    command = wizard.gpu_page.commands()[0]
    assert (
        command.startswith('CMAKE_ARGS="-DGGML_CUDA=on" ')
        and "--no-binary llama-cpp-python" in command
    )
    wizard.gpu_page.copy_button.click()
    assert QGuiApplication.clipboard().text().splitlines()[0] == command
    _shot(wizard, "gpu-build")
    wizard.next()
    assert wizard.currentId() == PAGE_MODELS
    wizard.reject()  # closing counts as seen
    assert load_settings(engine.paths.settings_file).first_run_done


def test_first_run_and_help_menu(qtbot: QtBot, aqt: AsyncQt, data_dir: Path) -> None:
    engine = Engine(data_dir)
    bridge = EngineBridge(engine)
    window = MainWindow(bridge)
    qtbot.addWidget(window)
    wizard = install_wizard(window, bridge)
    assert wizard is not None and wizard.isVisible()  # first run: shown at once
    actions = [a for a in window.help_menu.actions() if a.text() == MENU_TEXT]
    assert len(actions) == 1
    wizard.reject()
    aqt.until(lambda: not bridge.busy("wizard-hardware"))

    window2 = MainWindow(bridge)
    qtbot.addWidget(window2)
    assert install_wizard(window2, bridge) is None  # not again after the first run
    (action,) = [a for a in window2.help_menu.actions() if a.text() == MENU_TEXT]
    action.trigger()
    shown = window2.findChildren(FirstRunWizard)
    assert len(shown) == 1 and shown[0].isVisible()
    shown[0].reject()
    action.trigger()  # opened again: the same wizard, from its first page
    assert window2.findChildren(FirstRunWizard) == shown and shown[0].isVisible()
    assert shown[0].currentPage() is shown[0].hardware_page
    shown[0].reject()
    aqt.until(lambda: not bridge.busy("wizard-hardware"))
