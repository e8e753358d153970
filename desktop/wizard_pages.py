"""The pages of the first-run wizard (see desktop/wizard.py).

Every page asks the engine through the bridge and fills itself in when the
answer arrives; nothing blocks the GUI thread. The words come from
core/hardware/describe.py, so the CLI and the wizard say the same things.
"""

from __future__ import annotations

import html
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWizardPage,
)

from core.errors import LecternError
from core.events import Event, Failed, Progress
from core.hardware.describe import (
    describe_hardware,
    describe_plan,
    fit_label,
    gib,
    gpu_build_instructions,
)
from core.hardware.detect import HardwareInfo
from core.hardware.measure import SpeedMeasured
from core.hardware.recommend import CatalogFit, catalog_fits, recommend
from core.models.importer import DiscoveredModel
from desktop.bridge import EngineBridge
from desktop.errors import error_line
from desktop.models.local_view import SOURCE_NAMES

if TYPE_CHECKING:
    from desktop.wizard import FirstRunWizard

PAGE_HARDWARE, PAGE_GPU_BUILD, PAGE_MODELS, PAGE_RECOMMEND = range(4)


def _label(text: str = "", *, rich: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class HardwarePage(QWizardPage):
    """What Lectern found on this computer, in plain words."""

    def __init__(self, bridge: EngineBridge) -> None:
        super().__init__()
        self.bridge = bridge
        self.setTitle("Your computer")
        self.setSubTitle("Lectern looked at what this computer has for running language models.")
        self.summary = _label("Looking at your computer…")
        self.summary.setObjectName("hardwareSummary")
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addStretch(1)
        self.hardware: HardwareInfo | None = None

    def initializePage(self) -> None:  # noqa: N802 - Qt override
        if self.hardware is None:
            self.bridge.submit("wizard-hardware", self.bridge.engine.hardware(), self._show)

    def _show(self, hw: HardwareInfo) -> None:
        self.hardware = hw
        lines = describe_hardware(hw)
        wizard = self.wizard()
        if wizard is not None:
            wizard.hardware_ready(hw)  # type: ignore[attr-defined]
            rec = wizard.models_page.recommended  # type: ignore[attr-defined]
            if rec is not None:
                where = "on its graphics card" if rec.fit == "gpu" else "on its processor"
                lines.append(
                    f"In short: this computer runs models up to about {rec.entry.parameters_b:g} "
                    f"billion parameters comfortably {where}, for example {rec.entry.name}."
                )
        self.summary.setText("\n\n".join(lines))
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802 - Qt override
        return self.hardware is not None

    def nextId(self) -> int:  # noqa: N802 - Qt override
        if self.hardware is not None and self.hardware.needs_gpu_build:
            return PAGE_GPU_BUILD
        return PAGE_MODELS


class GpuBuildPage(QWizardPage):
    """Only when there is a GPU but the installed llama.cpp cannot use it."""

    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Use your graphics card")
        self.setSubTitle(
            "Your computer has a graphics card that can make models several times faster, "
            "but the installed llama.cpp was built for the processor only."
        )
        # prose wraps, commands stay on one line so they can be copied as they are
        self.steps = QTextBrowser()
        self.steps.setObjectName("gpuBuildSteps")
        self.copy_button = QPushButton("Copy the commands")
        self.copy_button.clicked.connect(self.copy_commands)
        layout = QVBoxLayout(self)
        layout.addWidget(
            _label("You can keep going now and do this later (Help → First-run wizard…).")
        )
        layout.addWidget(self.steps, 1)
        layout.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.text = ""

    def set_hardware(self, hw: HardwareInfo) -> None:
        self.text = gpu_build_instructions(hw)
        parts = []
        for block in self.text.split("\n\n"):
            if block.startswith("    "):
                parts.append(f"<pre>{html.escape(block.strip())}</pre>")
            else:
                parts.append(f"<p>{html.escape(block)}</p>")
        self.steps.setHtml("".join(parts))

    def commands(self) -> list[str]:
        """The command lines of the instructions for this operating system."""
        lines = [b.strip() for b in self.text.split("\n\n") if b.startswith("    ")]
        windows = sys.platform == "win32"
        return [c for c in lines if c.startswith("$env:") == windows] or lines

    def copy_commands(self) -> None:
        QGuiApplication.clipboard().setText("\n".join(self.commands()))

    def nextId(self) -> int:  # noqa: N802 - Qt override
        return PAGE_MODELS


class ModelsPage(QWizardPage):
    """The catalog's models and how each would run here."""

    COLUMNS = ("Model", "Download", "How it runs here", "Speed")

    def __init__(self, bridge: EngineBridge) -> None:
        super().__init__()
        self.bridge = bridge
        self.setTitle("Models for this computer")
        self.setSubTitle(
            "Lectern's curated models, checked against this computer's memory. "
            "Download them later from the Models pane."
        )
        self.tree = QTreeWidget()
        self.tree.setObjectName("catalogFits")
        self.tree.setHeaderLabels(list(self.COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(self.COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        # models other apps already downloaded: usable with no download at all
        self.on_disk = _label()
        self.on_disk.setObjectName("modelsOnDisk")
        self.on_disk.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree)
        layout.addWidget(self.on_disk)
        self.fits: list[CatalogFit] = []
        self.recommended: CatalogFit | None = None
        bridge.submit("wizard-discover", bridge.engine.discover_local_models(), on_done=self._found)

    def _found(self, found: list[DiscoveredModel]) -> None:
        new = [m for m in found if not m.registered]
        if not new:
            return
        apps = sorted({SOURCE_NAMES[m.source] for m in new})
        many = "s" if len(new) > 1 else ""
        self.on_disk.setText(
            f"This computer already has {len(new)} GGUF model{many} from {', '.join(apps)}. "
            "Add them in Models → On disk: no download needed."
        )
        self.on_disk.show()

    def set_hardware(self, hw: HardwareInfo) -> None:
        engine = self.bridge.engine
        self.fits = catalog_fits(engine.catalog(), hw)
        self.recommended = recommend(self.fits, hw)
        self.tree.clear()
        bold = QFont(self.tree.font())
        bold.setBold(True)
        for f in self.fits:
            name = f.entry.name + (" (needs a Hugging Face token)" if f.entry.gated else "")
            if f is self.recommended:
                name = "★ " + name + " — recommended"
            item = QTreeWidgetItem(
                [name, f"{f.file.size_bytes / 1e9:.1f} GB", fit_label(f.fit), f.speed]
            )
            item.setToolTip(0, f.entry.description)
            item.setToolTip(2, describe_plan(f.plan))
            if f is self.recommended:
                for col in range(len(self.COLUMNS)):
                    item.setFont(col, bold)
            self.tree.addTopLevelItem(item)
        if self.recommended is not None:
            row = self.tree.topLevelItem(self.fits.index(self.recommended))
            if row is not None:
                self.tree.scrollToItem(row)


class RecommendPage(QWizardPage):
    """The recommendation, the settings the planner chose, and an optional speed test."""

    def __init__(self, bridge: EngineBridge) -> None:
        super().__init__()
        self.bridge = bridge
        self.measure_seconds = 20.0
        self.setTitle("Recommended")
        self.setSubTitle("What Lectern suggests for this computer, and how fast it really is.")
        self.recommendation = _label(rich=True)
        self.recommendation.setObjectName("recommendation")
        self.current = _label()
        self.current.setObjectName("currentModelPlan")
        self.measure_button = QPushButton("Measure speed (about 20 seconds)")
        self.measure_button.setObjectName("measureButton")
        self.measure_button.clicked.connect(self.start_measurement)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.result = _label()
        self.result.setObjectName("measureResult")
        layout = QVBoxLayout(self)
        layout.addWidget(self.recommendation)
        layout.addSpacing(8)
        layout.addWidget(self.current)
        layout.addWidget(self.measure_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.progress)
        layout.addWidget(self.result)
        layout.addStretch(1)
        self.measurement: SpeedMeasured | None = None

    def initializePage(self) -> None:  # noqa: N802 - Qt override
        wizard: FirstRunWizard = self.wizard()  # type: ignore[assignment]
        rec = wizard.models_page.recommended
        if rec is None:
            self.recommendation.setText("No catalog model fits this computer.")
        else:
            plan = rec.plan
            where = {
                "gpu": "entirely on the graphics card",
                "partial": f"{plan.n_gpu_layers} of {plan.n_layers_total} layers on the "
                "graphics card",
                "cpu": "on the processor",
                "too_large": "only very slowly",
            }[plan.fit]
            self.recommendation.setText(
                f"<p><b>{rec.entry.name}</b> ({rec.file.quantization}, "
                f"{rec.file.size_bytes / 1e9:.1f} GB download). {rec.entry.description}</p>"
                f"<p>It would run {where}, with room for about {plan.n_ctx:,} tokens of "
                f"conversation and documents, using about "
                f"{gib(plan.estimate.vram_bytes + plan.estimate.ram_bytes)} of memory.</p>"
                "<p>Download it in the Models pane: choose it in the catalog and press "
                "Download.</p>"
            )
        self.bridge.submit("wizard-plan", self._current_plan(), self._show_current)

    async def _current_plan(self) -> tuple[str, Any]:
        engine = self.bridge.engine
        model = engine.settings.models.default_model
        if model is None:
            rec = await engine.ensure_starter_models()
            model, name = rec.id, rec.name
        else:
            try:
                name = engine.registry.get(model).name
            except LecternError:
                name = Path(model).name  # a GGUF path
        return name, await engine.plan_model(model)

    def _show_current(self, result: tuple[str, Any]) -> None:
        name, plan = result
        self.current.setText(
            f"The model you have now, {name}: {fit_label(plan.fit).lower()}. "
            "Measure how fast it really answers on this computer:"
        )

    def start_measurement(self) -> None:
        if self.bridge.busy("wizard-measure"):
            return
        self.measure_button.setEnabled(False)
        self.progress.setVisible(True)
        self.progress.setValue(0)
        self.progress.setFormat("Loading the model…")
        self.result.setText("")
        self.bridge.engine_event.connect(self._on_event)
        self.bridge.finished.connect(self._on_finished)
        self.bridge.stream(
            "wizard-measure", self.bridge.engine.measure_speed(seconds=self.measure_seconds)
        )

    def _on_event(self, tag: str, ev: Event) -> None:
        if tag != "wizard-measure":
            return
        if isinstance(ev, Progress) and ev.task == "measure" and ev.total:
            self.progress.setValue(int(100 * ev.done / ev.total))
            self.progress.setFormat(f"Writing… {ev.message}")
        elif isinstance(ev, SpeedMeasured):
            self.measurement = ev
            self.progress.setValue(100)
            self.result.setText(f"{ev.model} writes {ev.in_words()}.")
        elif isinstance(ev, Failed):
            self.result.setText(f"The measurement failed: {error_line(ev.error)}")

    def _on_finished(self, tag: str) -> None:
        if tag != "wizard-measure":
            return
        self.bridge.engine_event.disconnect(self._on_event)
        self.bridge.finished.disconnect(self._on_finished)
        self.progress.setVisible(False)
        self.measure_button.setEnabled(True)
        self.measure_button.setText("Measure again")

    def cleanupPage(self) -> None:  # noqa: N802 - Qt override
        self.stop_measurement()

    def stop_measurement(self) -> None:
        if self.bridge.busy("wizard-measure"):
            self.bridge.engine.stop_generation()
