"""Lectern's main window: models, documents and chat side by side, a status bar below.

The window wires the panes together and to the status bar; each pane talks
to the engine only through the one :class:`~desktop.bridge.EngineBridge`.
Nothing slow happens before the window is on screen: :meth:`start` kicks off
the background work (starter models, lists) afterwards.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import QMainWindow, QMenu, QSplitter, QWidget

from core.models.registry import ModelRecord
from core.settings import load_ui_state, save_ui_state
from core.storage.conversations import Conversation
from desktop.bridge import EngineBridge
from desktop.errors import error_text, join_hint
from desktop.models.settings_dialog import sampling_for
from desktop.panes.chat_pane import ChatPane
from desktop.panes.documents_pane import DocumentsPane
from desktop.panes.models_pane import ModelsPane
from desktop.status_bar import StatusBar
from desktop.theme import apply_theme


class MainWindow(QMainWindow):
    """The three-pane window; loads no model until the user asks."""

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        apply_theme()
        self.bridge = bridge
        self.setWindowTitle("Lectern")
        self.resize(1280, 800)
        self.models_pane = ModelsPane(bridge)
        self.documents_pane = DocumentsPane(bridge)
        self.chat_pane = ChatPane(bridge)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for pane in (self.models_pane, self.documents_pane, self.chat_pane):
            self.splitter.addWidget(pane)
        self.splitter.setStretchFactor(2, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([300, 280, 700])
        self.setCentralWidget(self.splitter)
        self.status = StatusBar(bridge)
        self.setStatusBar(self.status)
        self.model_label = self.status.model_label
        self._build_menus()
        self.help_menu: QMenu = self.menuBar().addMenu("&Help")
        # follow the desktop switching between light and dark while Lectern runs
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.styleHints().colorSchemeChanged.connect(self._on_color_scheme)
        self._wire()
        self._restore_ui_state()

    # -- wiring ----------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        new_chat = QAction("&New chat", self)
        new_chat.setShortcut(QKeySequence("Ctrl+N"))
        new_chat.triggered.connect(self.chat_pane.new_chat)
        file_menu.addAction(new_chat)
        find = QAction("&Search chats", self)
        find.setShortcut(QKeySequence("Ctrl+F"))
        find.triggered.connect(self.chat_pane.focus_search)
        file_menu.addAction(find)
        export = QAction("&Export chat to Markdown…", self)
        export.triggered.connect(self._export_current)
        file_menu.addAction(export)
        file_menu.addSeparator()
        settings = QAction("Se&ttings…", self)
        settings.setShortcut(QKeySequence.StandardKey.Preferences)
        settings.triggered.connect(self.documents_pane.open_settings)
        file_menu.addAction(settings)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        # the menu bar's actions work only while it is visible; shortcuts must always work
        for action in (new_chat, find):
            self.addAction(action)
        send = QShortcut(QKeySequence("Ctrl+Return"), self)
        send.activated.connect(self.chat_pane.send)

    def _export_current(self) -> None:
        if self.chat_pane.conversation is not None:
            self.chat_pane.export_conversation(self.chat_pane.conversation.id)

    def add_help_action(self, text: str, callback: Any) -> QAction:
        """Add an entry to the Help menu (the first-run wizard uses it)."""
        action = QAction(text, self)
        action.triggered.connect(callback)
        self.help_menu.addAction(action)
        return action

    def _wire(self) -> None:
        mp, cp, dp = self.models_pane, self.chat_pane, self.documents_pane
        mp.model_chosen.connect(self._on_model_chosen)
        mp.model_loaded.connect(self.status.set_loaded)
        mp.status_message.connect(self._flash)
        cp.status_message.connect(self._flash)
        cp.answer_finished.connect(self._on_answer_finished)
        cp.model_changed.connect(self._on_model_changed)
        cp.conversation_changed.connect(self._on_conversation_changed)
        # the documents pane (docgui) decides which libraries a question searches, and
        # shows the page a citation points at
        changed = getattr(dp, "active_libraries_changed", None)
        if changed is not None:
            changed.connect(cp.set_active_libraries)
        open_citation = getattr(dp, "open_citation", None)
        if open_citation is not None:
            cp.citation_activated.connect(open_citation)
        dp.models_dropped.connect(self._add_models)
        self.bridge.failed.connect(self._on_failed)

    def _add_models(self, paths: list[str]) -> None:
        """GGUF files dropped on the window: added to the models, shown in Installed."""
        for path in paths:
            self.models_pane.import_file(path, reveal=True)

    def start(self) -> None:
        """Background start-up work, after the window is on screen."""
        self.status.showMessage("Preparing the starter models…")
        self.bridge.submit(
            "starter",
            self.bridge.engine.ensure_starter_models(),
            on_done=lambda _rec: self.refresh_models(),
        )
        self.models_pane.start()
        self.chat_pane.start()
        self.status.start()
        ui_state = load_ui_state(self.bridge.engine.paths.ui_state_file)
        if ui_state.active_libraries is not None:
            self.documents_pane.set_active_libraries(ui_state.active_libraries)
        start_docs = getattr(self.documents_pane, "start", None)
        if start_docs is not None:
            start_docs()
        active = getattr(self.documents_pane, "active_libraries", None)
        if callable(active):
            self.chat_pane.set_active_libraries(active())
        last = ui_state.last_conversation_id
        if last:
            self.chat_pane.open_conversation(last)

    def refresh_models(self) -> None:
        self.bridge.submit(
            "list-models", self.bridge.engine.list_models(), on_done=self._show_models
        )

    def _show_models(self, models: list[ModelRecord]) -> None:
        self.models_pane.set_models(models)
        self.status.showMessage("Ready", 3000)

    def _on_model_chosen(self, model_id: str) -> None:
        record = self.models_pane.records.get(model_id)
        self.chat_pane.set_model(
            model_id, sampling_for(record, self.bridge.engine.settings.generation)
        )

    def _on_answer_finished(self, stats: Any) -> None:
        self.status.set_last_stats(stats)
        self._on_model_changed()

    def _on_model_changed(self) -> None:
        loaded = self.bridge.engine.loaded_model
        self.status.set_loaded(loaded)
        self.models_pane.note_loaded(loaded)

    def _on_conversation_changed(self, conv: Conversation | None) -> None:
        self.setWindowTitle(f"{conv.title} — Lectern" if conv else "Lectern")

    def _on_color_scheme(self, _scheme: object) -> None:
        self.chat_pane.set_dark(apply_theme())

    def _flash(self, text: str) -> None:
        self.status.showMessage(text, 6000)

    def _on_failed(self, tag: str, error: BaseException) -> None:
        message, hint = error_text(error)
        if tag == "starter":
            self.models_pane.placeholder.setText(f"{message}\n{hint}")
            self.status.showMessage(join_hint(message, hint))

    # -- state -------------------------------------------------------------------
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
        conv = self.chat_pane.conversation
        state.last_conversation_id = conv.id if conv else None
        state.active_libraries = self.documents_pane.active_libraries()
        save_ui_state(path, state)
        if self.chat_pane.streaming:
            self.chat_pane.stop()
        close_docs = getattr(self.documents_pane, "close_down", None)
        if close_docs is not None:
            close_docs()
        super().closeEvent(event)
