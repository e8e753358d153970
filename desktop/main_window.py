"""Lectern's main window: models, documents and chat side by side."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QSplitter, QWidget

from core.models.registry import ModelRecord
from core.settings import load_ui_state, save_ui_state
from desktop.bridge import EngineBridge
from desktop.errors import error_text
from desktop.panes.chat_pane import ChatPane
from desktop.panes.documents_pane import DocumentsPane
from desktop.panes.models_pane import ModelsPane


class MainWindow(QMainWindow):
    """The three-pane window; loads no model until the user asks."""

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.setWindowTitle("Lectern")
        self.resize(1200, 760)
        self.models_pane = ModelsPane()
        self.documents_pane = DocumentsPane()
        self.chat_pane = ChatPane()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for pane in (self.models_pane, self.documents_pane, self.chat_pane):
            self.splitter.addWidget(pane)
        self.splitter.setStretchFactor(2, 1)
        self.splitter.setSizes([260, 280, 660])
        self.setCentralWidget(self.splitter)
        self.model_label = QLabel("No model loaded")
        self.statusBar().addPermanentWidget(self.model_label)
        self._restore_ui_state()
        bridge.failed.connect(self._on_failed)

    def start(self) -> None:
        """Background start-up work, after the window is on screen."""
        self.statusBar().showMessage("Preparing the starter models…")
        self.bridge.submit(
            "starter",
            self.bridge.engine.ensure_starter_models(),
            on_done=lambda _rec: self.refresh_models(),
        )

    def refresh_models(self) -> None:
        self.bridge.submit(
            "list-models", self.bridge.engine.list_models(), on_done=self._show_models
        )

    def _show_models(self, models: list[ModelRecord]) -> None:
        self.models_pane.set_models(models)
        self.statusBar().showMessage("Ready", 3000)

    def _on_failed(self, tag: str, error: BaseException) -> None:
        message, hint = error_text(error)
        self.statusBar().showMessage(f"{message} {hint}".strip())
        if tag == "starter":
            self.models_pane.placeholder.setText(f"{message}\n{hint}")

    def _restore_ui_state(self) -> None:
        state = load_ui_state(self.bridge.engine.paths.ui_state_file)
        if state.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(state.window_geometry.encode()))
        if len(state.splitter_sizes) == 3:
            self.splitter.setSizes(state.splitter_sizes)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        path = self.bridge.engine.paths.ui_state_file
        state = load_ui_state(path)
        state.window_geometry = bytes(self.saveGeometry().toBase64().data()).decode()
        state.splitter_sizes = self.splitter.sizes()
        save_ui_state(path, state)
        super().closeEvent(event)
