"""The first-run wizard: this computer in plain words, models that fit, a speed test.

Shown once, on the first start (``Settings.first_run_done``), and any time
from Help → First-run wizard…. It never blocks: hardware detection, plans
and the speed measurement run through the bridge.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget, QWizard

from core.hardware.detect import HardwareInfo
from desktop.bridge import EngineBridge
from desktop.wizard_pages import (
    PAGE_GPU_BUILD,
    PAGE_HARDWARE,
    PAGE_MODELS,
    PAGE_RECOMMEND,
    GpuBuildPage,
    HardwarePage,
    ModelsPage,
    RecommendPage,
)

MENU_TEXT = "First-run wizard…"


class FirstRunWizard(QWizard):
    """Four pages: hardware, (GPU build steps), models, recommendation."""

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.setWindowTitle("Welcome to Lectern")
        self.setObjectName("firstRunWizard")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.resize(760, 560)
        self.hardware_page = HardwarePage(bridge)
        self.gpu_page = GpuBuildPage()
        self.models_page = ModelsPage(bridge)
        self.recommend_page = RecommendPage(bridge)
        self.setPage(PAGE_HARDWARE, self.hardware_page)
        self.setPage(PAGE_GPU_BUILD, self.gpu_page)
        self.setPage(PAGE_MODELS, self.models_page)
        self.setPage(PAGE_RECOMMEND, self.recommend_page)
        self.setStartId(PAGE_HARDWARE)
        self.finished.connect(self._on_finished)

    def hardware_ready(self, hw: HardwareInfo) -> None:
        """Called by the first page when detection is done: fill the later pages."""
        self.gpu_page.set_hardware(hw)
        self.models_page.set_hardware(hw)

    def _on_finished(self, _result: int) -> None:
        self.recommend_page.stop_measurement()
        # finished or closed: either way the user has seen it, so it is not shown again
        engine = self.bridge.engine
        if not engine.settings.first_run_done:
            engine.settings.first_run_done = True
            engine.save_settings()


def open_wizard(bridge: EngineBridge, parent: QWidget | None = None) -> FirstRunWizard:
    """Show the wizard window-modal (``open``, not ``exec``: the event loop keeps running).

    A wizard opened before under the same parent is reused (from its first page).
    """
    existing = parent.findChildren(FirstRunWizard) if parent is not None else []
    if existing:
        wizard = existing[0]
        wizard.restart()
    else:
        wizard = FirstRunWizard(bridge, parent)
    wizard.open()
    return wizard


def install_wizard(window: QWidget, bridge: EngineBridge) -> FirstRunWizard | None:
    """Add Help → First-run wizard… to ``window``; open it now on the first run."""
    add = getattr(window, "add_help_action", None)
    if add is not None:
        add(MENU_TEXT, lambda: open_wizard(bridge, window))
    if not bridge.engine.settings.first_run_done:
        return open_wizard(bridge, window)
    return None
