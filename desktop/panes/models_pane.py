"""The models pane: installed models, the catalog, Hub search, files on disk and downloads.

Installed models can be loaded, unloaded, configured (per-model settings) and
deleted; the catalog and Hub tabs start downloads, which show in the list at
the bottom of the pane and add the model to the Installed tab when done. The
"On disk" tab adds a GGUF file the user picks, or one that LM Studio,
GPT4All or huggingface_hub downloaded (found when the tab is first opened).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.models.registry import ModelRecord
from desktop.bridge import EngineBridge
from desktop.errors import error_line
from desktop.models.catalog_view import CatalogView
from desktop.models.downloads_view import DownloadsView
from desktop.models.formatting import UNKNOWN_FIT, fit_label, human_size
from desktop.models.hub_view import HubSearchView
from desktop.models.local_view import LocalModelsView
from desktop.models.settings_dialog import ModelSettingsDialog

ROLE = Qt.ItemDataRole.UserRole
IMPORT, IMPORT_DROPPED = "model-import", "model-import:dropped"  # bridge tags


class ModelsPane(QWidget):
    """Emits ``model_chosen(id)`` for the selected model and ``model_loaded(LoadedModel|None)``."""

    model_chosen = Signal(str)
    model_loaded = Signal(object)  # gen's LoadedModel, or None after unloading
    status_message = Signal(str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsPane")
        self.bridge = bridge
        self.engine = bridge.engine
        self.records: dict[str, ModelRecord] = {}
        self.loaded_id: str | None = None
        self._select_after: str | None = None  # a model just added: select it when listed

        title = QLabel("<b>Models</b>")
        self.list = QListWidget()
        self.list.setAccessibleName("Installed models")
        self.list.setWordWrap(True)
        self.placeholder = QLabel("Preparing the starter model…")
        self.placeholder.setWordWrap(True)
        self.load_button = QPushButton("Load")
        self.load_button.setAccessibleName("Load the selected model")
        self.unload_button = QPushButton("Unload")
        self.unload_button.setAccessibleName("Unload the model")
        self.settings_button = QPushButton("Settings…")
        self.settings_button.setAccessibleName("Settings of the selected model")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setAccessibleName("Delete the selected model")
        buttons = QHBoxLayout()
        for b in (self.load_button, self.unload_button, self.settings_button, self.delete_button):
            buttons.addWidget(b)
        installed = QWidget()
        il = QVBoxLayout(installed)
        il.setContentsMargins(0, 0, 0, 0)
        il.addWidget(self.placeholder)
        il.addWidget(self.list, 1)
        il.addLayout(buttons)

        self.catalog = CatalogView()
        self.hub = HubSearchView(bridge, self.fit)
        self.local = LocalModelsView(self.fit)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Model sources")
        self.tabs.addTab(installed, "Installed")
        self.tabs.addTab(self.catalog, "Catalog")
        self.tabs.addTab(self.hub, "Search Hub")
        self.tabs.addTab(self.local, "On disk")
        self.tabs.setTabToolTip(3, "GGUF models already on this computer")
        self.downloads = DownloadsView(bridge)
        downloads_scroll = QScrollArea()
        downloads_scroll.setWidgetResizable(True)
        downloads_scroll.setWidget(self.downloads)
        downloads_scroll.setMaximumHeight(220)
        downloads_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.downloads_scroll = downloads_scroll
        downloads_scroll.hide()  # shown while there are downloads
        self.downloads.has_rows_changed.connect(downloads_scroll.setVisible)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(title)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(downloads_scroll)

        self.list.currentItemChanged.connect(self._on_current)
        self.load_button.clicked.connect(lambda: self.load(self.current_id()))
        self.unload_button.clicked.connect(self.unload)
        self.settings_button.clicked.connect(lambda: self.edit_settings(self.current_id()))
        self.delete_button.clicked.connect(lambda: self.delete(self.current_id()))
        self.catalog.download_requested.connect(self.download)
        self.hub.download_requested.connect(self.download)
        self.downloads.model_installed.connect(lambda _rec: self.refresh())
        self.local.import_requested.connect(self.import_file)
        self.local.rescan_requested.connect(self.discover)
        self.tabs.currentChanged.connect(self._on_tab)
        bridge.failed.connect(self._on_failed)
        bridge.finished.connect(self._on_finished)
        self._update_buttons()

    # -- start-up and listing -------------------------------------------------
    def start(self) -> None:
        """Fill the catalog and the interrupted downloads (after the window is shown)."""
        self.catalog.set_entries(self.engine.catalog(), self.fit)
        self.downloads.start()
        hardware = getattr(self.engine, "hardware", None)
        if hardware is not None:
            # fit labels need the hardware detected once (in the background); then relabel
            self.bridge.submit(
                "models-hardware",
                hardware(),
                on_done=lambda _hw: self._relabel(),
            )

    def _relabel(self) -> None:
        """Fit labels once the hardware is known."""
        self.catalog.set_entries(self.engine.catalog(), self.fit)
        self.set_models(list(self.records.values()))
        if self.local.scanned:
            self.discover()

    def fit(self, size_bytes: int, **details: object) -> str:
        return fit_label(self.engine, size_bytes, **details)

    def refresh(self) -> None:
        self.bridge.submit("list-models", self.engine.list_models(), on_done=self.set_models)

    def set_models(self, models: list[ModelRecord]) -> None:
        current = self.current_id()
        self.records = {m.id: m for m in models}
        self.list.blockSignals(True)
        self.list.clear()
        wanted, self._select_after = self._select_after or current, None
        for m in models:
            item = QListWidgetItem(self._label(m))
            item.setData(ROLE, m.id)
            item.setToolTip(m.path)
            self.list.addItem(item)
            if m.id == wanted:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self.placeholder.setVisible(not models)
        if models and self.list.currentRow() < 0:
            self.list.setCurrentRow(0)
        self._update_buttons()

    def _label(self, m: ModelRecord) -> str:
        loaded = "  ● loaded" if m.id == self.loaded_id else ""
        fits = self.fit(
            m.size_bytes,
            quantization=m.quantization,
            parameters_b=m.parameters / 1e9 if m.parameters else None,
            context_length=m.context_length,
        )
        parts = [m.quantization, human_size(m.size_bytes), m.source]
        if fits != UNKNOWN_FIT:
            parts.append(fits)
        return f"{m.name}{loaded}\n" + " · ".join(parts)

    def current_id(self) -> str | None:
        item = self.list.currentItem()
        return item.data(ROLE) if item is not None else None

    def current_record(self) -> ModelRecord | None:
        mid = self.current_id()
        return self.records.get(mid) if mid else None

    def _on_current(self, item: QListWidgetItem | None) -> None:
        self._update_buttons()
        if item is not None:
            self.model_chosen.emit(item.data(ROLE))

    def _update_buttons(self) -> None:
        rec = self.current_record()
        busy = self.bridge.busy("model-load")
        self.load_button.setEnabled(rec is not None and not busy and rec.id != self.loaded_id)
        self.unload_button.setEnabled(self.loaded_id is not None and not busy)
        self.settings_button.setEnabled(rec is not None)
        self.delete_button.setEnabled(rec is not None and rec.source != "starter")

    # -- actions ---------------------------------------------------------------
    def load(self, model_id: str | None) -> None:
        if model_id is None or self.bridge.busy("model-load"):
            return
        name = self.records[model_id].name if model_id in self.records else model_id
        self.status_message.emit(f"Loading {name}…")
        self.bridge.submit("model-load", self.engine.load_model(model_id), on_done=self._loaded)
        self._update_buttons()

    def _loaded(self, loaded: Any) -> None:
        record = getattr(loaded, "record", None)
        self.loaded_id = record.id if record is not None else None
        self.set_models(list(self.records.values()))
        self.status_message.emit("Model loaded.")
        self.model_loaded.emit(loaded)

    def note_loaded(self, loaded: Any) -> None:
        """Mark the model the engine has loaded (e.g. lazily by a chat)."""
        record = getattr(loaded, "record", None) if loaded is not None else None
        new_id = record.id if record is not None else None
        if new_id != self.loaded_id:
            self.loaded_id = new_id
            self.set_models(list(self.records.values()))

    def unload(self) -> None:
        def done(_r: object) -> None:
            self.loaded_id = None
            self.set_models(list(self.records.values()))
            self.model_loaded.emit(None)
            self.status_message.emit("Model unloaded.")

        self.bridge.submit("model-unload", self.engine.unload_model(), on_done=done)

    def _on_tab(self, index: int) -> None:
        if self.tabs.widget(index) is self.local and not self.local.scanned:
            self.local.rescan()

    def discover(self) -> None:
        """Look for models other apps downloaded (in the background)."""
        self.bridge.submit(
            "models-discover", self.engine.discover_local_models(), on_done=self.local.set_found
        )

    def import_file(self, path: str, reveal: bool = False) -> None:
        """Register a GGUF file where it is; a bad file is refused with its reason.

        With ``reveal`` (a file dropped on the window) the tab that tells what
        happened comes to the front: Installed, or On disk with the reason.
        """
        self.local.show_note("Checking the file…")

        def added(rec: ModelRecord) -> None:
            if reveal:
                self.tabs.setCurrentIndex(0)
            self._select_after = rec.id
            self.local.show_added(rec.name)
            self.status_message.emit(f"Added {rec.name}.")
            self.refresh()
            if self.local.scanned:
                self.discover()  # mark it as added

        tag = IMPORT_DROPPED if reveal else IMPORT  # a failure knows where it came from
        self.bridge.submit(tag, self.engine.import_model(path), on_done=added)

    def download(self, repo_id: str, filename: str) -> None:
        self.downloads.download(repo_id, filename)
        self.status_message.emit(f"Downloading {filename}…")

    def edit_settings(self, model_id: str | None) -> None:
        """Open the per-model settings dialog; saves the overrides when accepted."""
        rec = self.records.get(model_id or "")
        if rec is None:
            return
        dialog = ModelSettingsDialog(rec, self.engine.settings.generation, self)
        if dialog.exec() == ModelSettingsDialog.DialogCode.Accepted:
            self.save_overrides(rec.id, dialog.overrides())

    def save_overrides(self, model_id: str, overrides: dict[str, object]) -> None:
        from core.executors import run_blocking

        async def save() -> ModelRecord:
            return await run_blocking(
                "models", self.engine.registry.update_overrides, model_id, overrides
            )

        def saved(rec: ModelRecord) -> None:
            self.records[rec.id] = rec
            self.status_message.emit(f"Settings saved for {rec.name}.")
            if rec.id == self.current_id():
                self.model_chosen.emit(rec.id)

        self.bridge.submit("model-settings", save(), on_done=saved)

    def delete(self, model_id: str | None, confirm: bool = True) -> None:
        rec = self.records.get(model_id or "")
        if rec is None:
            return
        if confirm:
            what = "and its file" if rec.source == "downloaded" else "(the file stays on disk)"
            answer = QMessageBox.question(self, "Delete model", f"Remove {rec.name} {what}?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.bridge.submit(
            "model-delete", self.engine.delete_model(rec.id), on_done=lambda _r: self.refresh()
        )

    def _on_finished(self, tag: str) -> None:
        if tag in ("model-load", "model-unload"):
            self._update_buttons()

    def _on_failed(self, tag: str, error: BaseException) -> None:
        if tag.startswith("model-") or tag == "list-models":
            self.status_message.emit(error_line(error))
        if tag in (IMPORT, IMPORT_DROPPED):
            self.local.show_error(error_line(error))
            if tag == IMPORT_DROPPED:
                self.tabs.setCurrentWidget(self.local)
        elif tag == "models-discover":
            self.local.status.setText(error_line(error))
        if tag == "model-load":
            self._update_buttons()
