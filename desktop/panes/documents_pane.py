"""The documents pane: libraries, their PDFs with live indexing status, and watched folders.

PDFs and folders arrive by drag-and-drop (on the pane or, through
:meth:`DocumentsPane.accept_drops_on`, anywhere on the main window), by the
"Add" buttons, or by themselves from watched folders. Every engine call goes
through the bridge; indexing runs one batch at a time in
:class:`IndexingQueue`. The ticked libraries are the ones the conversation
searches: :attr:`DocumentsPane.active_libraries_changed` tells the chat pane.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QPoint, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QDesktopServices,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeySequence,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.documents.events import DocumentStatus, IndexSummary
from core.documents.formats import DIALOG_FILTER, READABLE
from core.documents.library import PENDING_STATES
from core.errors import DocumentError
from core.executors import run_blocking
from core.types import Passage
from desktop.bridge import EngineBridge
from desktop.documents.document_list import DocumentList
from desktop.documents.document_row import BUSY_STATES, RowState
from desktop.documents.drops import (
    DropForwarder,
    accepts,
    dropped_paths,
    is_indexable,
    is_model_file,
)
from desktop.documents.indexing_queue import IndexingQueue
from desktop.documents.library_list import DEFAULT_LIBRARY, LibraryList
from desktop.documents.watched_folders import WatchedFolders
from desktop.errors import error_line

_DROP_STYLE = "#documentsPane[dropping='true'] { border: 2px dashed #1f6feb; }"


def _button(text: str, tip: str) -> QToolButton:
    b = QToolButton()
    b.setText(text)
    b.setToolTip(tip)
    b.setAccessibleName(tip)
    b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    return b


class DocumentsPane(QWidget):
    """Libraries and documents; takes drops; opens citations in the page viewer."""

    active_libraries_changed = Signal(list)  # list[str]: libraries the conversation searches
    documents_changed = Signal(str)  # library whose documents changed (indexed, removed)
    models_dropped = Signal(list)  # list[str]: GGUF files dropped with (or instead of) PDFs

    def __init__(
        self, bridge: EngineBridge, parent: QWidget | None = None, watch_interval_s: float = 3.0
    ) -> None:
        super().__init__(parent)
        self.setObjectName("documentsPane")
        self.setAcceptDrops(True)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(_DROP_STYLE)
        self.bridge = bridge
        self.queue = IndexingQueue(bridge, self)
        self.watched = WatchedFolders(bridge, self.queue, watch_interval_s, self)
        self.viewer: Any = None  # PageViewer, created on first use (keeps start-up light)
        self._started = False
        self._forwarders: list[DropForwarder] = []
        self._live: dict[tuple[str, str], RowState] = {}  # (library, path) -> busy state
        self._counts: dict[str, int] = {}
        self._damaged: dict[str, str] = {}  # library -> why it cannot be read (the error line)
        self._last_summary = ""
        self._warmed = False
        self._resumed = False  # documents left half-indexed are resumed once, at start
        self._ticks_chosen = False  # False: no ticks remembered; the first listing ticks all
        # library counts follow documents becoming ready, at most twice a second
        self._counts_timer = QTimer(self)
        self._counts_timer.setSingleShot(True)
        self._counts_timer.setInterval(500)
        self._counts_timer.timeout.connect(self._refresh_counts)

        # -- header and libraries
        title = QLabel("<b>Documents</b>")
        self.settings_button = _button("Settings…", "Settings")
        self.settings_button.clicked.connect(self.open_settings)
        head = QHBoxLayout()
        head.addWidget(title, 1)
        head.addWidget(self.settings_button)

        self.libraries = LibraryList()
        self.libraries.current_library_changed.connect(self._on_library_selected)
        self.libraries.active_libraries_changed.connect(self.active_libraries_changed)
        self.new_library_button = _button("New", "New library")
        self.rename_library_button = _button("Rename", "Rename library")
        self.delete_library_button = _button("Delete", "Delete library")
        self.new_library_button.clicked.connect(self._ask_new_library)
        self.rename_library_button.clicked.connect(self._ask_rename_library)
        self.delete_library_button.clicked.connect(self._ask_delete_library)
        lib_head = QHBoxLayout()
        lib_label = QLabel("Libraries")
        lib_label.setToolTip("Ticked libraries are searched when you ask a question.")
        lib_head.addWidget(lib_label, 1)
        for b in (self.new_library_button, self.rename_library_button, self.delete_library_button):
            lib_head.addWidget(b)
        self.libraries_hint = QLabel("Ticked libraries are searched when you ask.")
        self.libraries_hint.setStyleSheet("color: palette(placeholder-text); font-size: 11px;")

        # -- adding
        self.add_files_button = QPushButton("Add files…")
        self.add_folder_button = QPushButton("Add folder…")
        self.watch_button = QPushButton("Watch folder…")
        self.watch_button.setToolTip(
            "Documents added to or changed in this folder are indexed automatically."
        )
        self.add_files_button.clicked.connect(self._ask_files)
        self.add_folder_button.clicked.connect(self._ask_folder)
        self.watch_button.clicked.connect(self._ask_watch_folder)
        adders = QHBoxLayout()
        for adder in (self.add_files_button, self.add_folder_button, self.watch_button):
            adder.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
            adders.addWidget(adder)

        # -- the documents (or, when there are none, where to drop them)
        self.documents = DocumentList()
        self.documents.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.documents.customContextMenuRequested.connect(self._context_menu)
        self.documents.itemDoubleClicked.connect(self._open_item)
        self.documents.itemSelectionChanged.connect(self._update_buttons)
        remove_key = QShortcut(QKeySequence.StandardKey.Delete, self.documents)
        remove_key.setContext(Qt.ShortcutContext.WidgetShortcut)
        remove_key.activated.connect(self.remove_selected)
        self.empty = QLabel(
            "Drop PDFs, e-books (EPUB), web pages\n(HTML), text or Markdown files,\n"
            "or folders, here to add them\nto this library.\n\nOr use “Add files…” above."
        )
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet(
            "QLabel { border: 2px dashed palette(mid); border-radius: 8px; color: palette(mid);"
            " padding: 16px; }"
        )
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.documents)

        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected documents from the library")
        self.reindex_button = QPushButton("Re-index")
        self.reindex_button.setToolTip("Index the selected documents again")
        self.remove_button.clicked.connect(self.remove_selected)
        self.reindex_button.clicked.connect(self.reindex_selected)
        doc_actions = QHBoxLayout()
        doc_actions.addStretch(1)
        doc_actions.addWidget(self.reindex_button)
        doc_actions.addWidget(self.remove_button)

        # -- watched folders
        self.watched_label = QLabel("Watched folders")
        self.watched_list = QListWidget()
        self.watched_list.setAccessibleName("Watched folders")
        self.watched_list.setMaximumHeight(70)
        self.unwatch_button = _button("Stop watching", "Stop watching the selected folder")
        self.unwatch_button.clicked.connect(self._unwatch_selected)
        watched_head = QHBoxLayout()
        watched_head.addWidget(self.watched_label, 1)
        watched_head.addWidget(self.unwatch_button)
        self.watched.folders_changed.connect(self._show_watched)
        self.watched.documents_removed.connect(self._after_change)

        # -- status line
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stop_button = _button("Stop", "Stop indexing")
        self.stop_button.clicked.connect(self.queue.cancel_all)
        self.stop_button.hide()
        status_row = QHBoxLayout()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.stop_button)

        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addLayout(lib_head)
        layout.addWidget(self.libraries)
        layout.addWidget(self.libraries_hint)
        layout.addLayout(adders)
        layout.addWidget(self.stack, 1)
        layout.addLayout(doc_actions)
        layout.addLayout(watched_head)
        layout.addWidget(self.watched_list)
        layout.addLayout(status_row)

        self.queue.status.connect(self._on_status)
        self.queue.summary.connect(self._on_summary)
        self.queue.error.connect(self._on_error)
        self.queue.busy_changed.connect(self._on_busy)
        bridge.failed.connect(self._on_bridge_failed)
        self._show_watched()
        self._update_buttons()

    # -- start-up -------------------------------------------------------------------
    def start(self) -> None:
        """Load the libraries and start watching folders (once; the first show does it)."""
        if self._started:
            return
        self._started = True
        self.refresh()
        self.watched.start()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        window = self.window()
        if window is not self and not self._forwarders:
            self.accept_drops_on(window)
        self.start()

    def close_down(self) -> None:
        """Stop polling watched folders and indexing (the application is quitting)."""
        self.watched.stop()
        self.queue.cancel_all()

    # -- libraries --------------------------------------------------------------------
    def current_library(self) -> str:
        return self.libraries.current_library() or DEFAULT_LIBRARY

    def active_libraries(self) -> list[str]:
        """The libraries the conversation searches (the ticked ones)."""
        return self.libraries.active_libraries()

    def set_active_libraries(self, names: list[str]) -> None:
        """Tick exactly ``names`` (the ticks remembered from the last session)."""
        self._ticks_chosen = True
        self.libraries.set_active_libraries(names)

    def refresh(self, select: str = "") -> None:
        """Reload the library list and the shown library's documents."""
        self.bridge.submit(
            "docs:list-libraries",
            self.bridge.engine.list_libraries(),
            on_done=lambda libs: self._show_libraries(libs, select),
        )

    def _show_libraries(self, libs: list[Any], select: str) -> None:
        pairs = [(str(lib.name), int(lib.documents)) for lib in libs]
        if DEFAULT_LIBRARY not in {n for n, _ in pairs}:
            pairs.insert(0, (DEFAULT_LIBRARY, 0))  # always somewhere to drop into
        self._counts = dict(pairs)
        if not self._ticks_chosen:  # the first start: every library is searched
            self._ticks_chosen = True
            self.libraries.set_active_libraries([n for n, _ in pairs])
        if not self._warmed and (any(n for _, n in pairs) or self.watched.folders()):
            self._warm_up()
        self._damaged = {
            str(lib.name): f"The library '{lib.name}' is damaged: {lib.damaged}. Delete it and "
            "index its PDFs again (your PDF files are not affected)."
            for lib in libs
            if lib.damaged
        }
        if not select and not self.libraries.current_library():
            # the first listing shows a library with documents, not an empty "default"
            select = next((n for n, count in pairs if count), "")
        self.libraries.set_libraries(pairs, select, damaged=self._damaged)
        self.active_libraries_changed.emit(self.libraries.active_libraries())
        self._load_documents(self.current_library())
        self._update_buttons()
        if not self._resumed:
            self._resumed = True
            self._resume_unfinished(libs)

    def _resume_unfinished(self, libs: list[Any]) -> None:
        """Finish what the last session left half-indexed (quit or killed while indexing).

        Only at start: documents left waiting by the Stop button stay so until
        the next start or the next drop into their library.
        """
        unfinished = {
            str(lib.name): int(lib.unfinished)
            for lib in libs
            if int(lib.unfinished) and not lib.needs_reindex
        }
        if not unfinished:
            return
        n = sum(unfinished.values())
        self._say(
            f"Finishing {n} document{'s' if n != 1 else ''} left half-indexed "
            "when Lectern last closed…"
        )
        for name in unfinished:
            self.queue.resume(name)

    def _refresh_counts(self) -> None:
        def show(libs: list[Any]) -> None:
            for lib in libs:
                self._counts[str(lib.name)] = int(lib.documents)
                self.libraries.set_count(str(lib.name), int(lib.documents))

        self.bridge.submit("docs:count-libraries", self.bridge.engine.list_libraries(), show)

    def _warm_up(self) -> None:
        """Load the embedding model and PyMuPDF in the background, once.

        Their first import holds the interpreter lock for up to half a second at a
        time; done now, while nothing else runs, it does not stall indexing or an
        answer later, and the first question does not wait for the model.
        """
        from desktop.documents.page_render import import_pymupdf

        self._warmed = True
        documents = self.bridge.engine.documents
        self.bridge.submit("docs:warm-up:embedder", run_blocking("ingest", documents.embedder))
        self.bridge.submit("docs:warm-up:viewer", run_blocking("viewer", import_pymupdf))

    def _on_library_selected(self, name: str) -> None:
        self._load_documents(name)
        self._update_buttons()

    def _load_documents(self, library: str) -> None:
        if library in self._damaged:  # nothing to list: say why instead
            self.documents.set_rows([])
            self._show_stack()
            self._say(html.escape(self._damaged[library], quote=False), error=True)
            return
        if library not in self._counts or self._counts.get(library, 0) == 0:
            # a library that does not exist yet (the default before the first drop)
            self.bridge.submit(
                f"docs:list-documents:{library}",
                self._documents_or_none(library),
                on_done=lambda recs: self._show_documents(library, recs),
            )
            return
        self.bridge.submit(
            f"docs:list-documents:{library}",
            self.bridge.engine.list_documents(library),
            on_done=lambda recs: self._show_documents(library, recs),
        )

    async def _documents_or_none(self, library: str) -> list[Any]:
        from core.errors import LibraryNotFoundError

        try:
            return list(await self.bridge.engine.list_documents(library))
        except LibraryNotFoundError:
            return []

    def _show_documents(self, library: str, records: list[Any]) -> None:
        if library != self.current_library():
            return  # the user moved on to another library meanwhile
        running = self.queue.has_work(library)
        states = {
            str(r.path): RowState(
                path=str(r.path),
                file=str(r.file),
                # half-indexed with nothing running for it: say so, not "Indexing"
                state="stopped" if r.state in PENDING_STATES and not running else str(r.state),
                reason=str(r.reason or ""),
                pages=int(r.pages),
                chunks=int(r.chunks),
            )
            for r in records
        }
        for (lib, path), live in self._live.items():
            if lib == library:
                states[path] = live  # indexing right now: the live status is newer
        self.documents.set_rows(states.values())
        self._show_stack()

    def create_library(self, name: str) -> None:
        """Create a library, show it and tick it."""
        self.bridge.submit(
            "docs:create-library",
            self.bridge.engine.create_library(name),
            on_done=lambda _r: self._after_create(name),
        )

    def _after_create(self, name: str) -> None:
        self.libraries.set_active_libraries([*self.libraries.active_libraries(), name])
        self.refresh(select=name)

    def rename_library(self, old: str, new: str) -> None:
        """Rename a library (its ticks and watched folders follow)."""

        def done(_r: object) -> None:
            self.watched.rename_library(old, new)
            active = self.libraries.active_libraries()
            self.refresh(select=new)
            if old in active:
                self.libraries.set_active_libraries([new if n == old else n for n in active])

        self.queue.rename_library(old, new)
        self.bridge.submit(
            "docs:rename-library", self.bridge.engine.rename_library(old, new), on_done=done
        )

    def delete_library(self, name: str) -> None:
        """Delete a library and its index (the PDFs themselves stay where they are)."""

        def done(_r: object) -> None:
            self.watched.forget_library(name)
            self._live = {k: v for k, v in self._live.items() if k[0] != name}
            self.refresh(select=DEFAULT_LIBRARY)

        # indexing into it would only hold the deletion up (one writer at a time)
        self.queue.cancel_library(name)
        self.bridge.submit(
            "docs:delete-library", self.bridge.engine.delete_library(name), on_done=done
        )

    def _ask_new_library(self) -> None:
        name, ok = QInputDialog.getText(self, "New library", "Name of the new library:")
        if ok and name.strip():
            self.create_library(name.strip())

    def _ask_rename_library(self) -> None:
        old = self.current_library()
        new, ok = QInputDialog.getText(self, "Rename library", f"New name for “{old}”:", text=old)
        if ok and new.strip() and new.strip() != old:
            self.rename_library(old, new.strip())

    def _ask_delete_library(self) -> None:
        name = self.current_library()
        answer = QMessageBox.question(
            self,
            "Delete library",
            f"Delete the library “{name}” and its index?\n\n"
            "Your PDF files are not touched; only Lectern's index of them is deleted.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_library(name)

    # -- adding documents ----------------------------------------------------------------
    def add_paths(self, paths: list[str | Path], library: str | None = None) -> int:
        """Queue PDFs and folders for indexing into ``library``; returns how many were taken.

        Anything else (a ``.docx``, a missing file) is named in the status line.
        """
        library = library or self.current_library()
        taken = [str(Path(p).resolve()) for p in paths if is_indexable(Path(p))]
        skipped = [Path(p).name for p in paths if not is_indexable(Path(p))]
        if skipped:
            self._say(
                html.escape(f"Skipped (Lectern reads {READABLE}): {', '.join(skipped)}"),
                error=True,
            )
        if taken:
            self.queue.add(taken, library)
        return len(taken)

    def can_accept(self, mime: QMimeData) -> bool:
        """Whether a drag carries PDFs or folders."""
        return accepts(mime)

    def handle_drop(self, mime: QMimeData) -> bool:
        """Index what was dropped into the shown library; GGUF files go to ``models_dropped``.

        False when nothing was usable.
        """
        paths = dropped_paths(mime)
        models = [str(p) for p in paths if is_model_file(p)]
        if models:
            self.models_dropped.emit(models)
        rest: list[str | Path] = [p for p in paths if not is_model_file(p)]
        indexed = self.add_paths(rest) if rest else 0  # PDFs dropped with a model too
        return bool(models) or indexed > 0

    def accept_drops_on(self, widget: QWidget) -> None:
        """Let PDFs dropped anywhere on ``widget`` (the main window) come to this pane."""
        forwarder = DropForwarder(self.handle_drop, self._set_dropping, widget)
        widget.setAcceptDrops(True)
        widget.installEventFilter(forwarder)
        self._forwarders.append(forwarder)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if accepts(event.mimeData()):
            event.acceptProposedAction()
            self._set_dropping(True)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt override
        if accepts(event.mimeData()):
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802 - Qt override
        self._set_dropping(False)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        self._set_dropping(False)
        if self.handle_drop(event.mimeData()):
            event.acceptProposedAction()

    def _set_dropping(self, on: bool) -> None:
        self.setProperty("dropping", "true" if on else "false")
        self.style().unpolish(self)
        self.style().polish(self)

    def _ask_files(self) -> None:
        files, _filter = QFileDialog.getOpenFileNames(
            self, "Add documents", str(Path.home()), DIALOG_FILTER
        )
        if files:
            self.add_paths(list(files))

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Add all documents in a folder", str(Path.home())
        )
        if folder:
            self.add_paths([folder])

    # -- watched folders -------------------------------------------------------------------
    def watch_folder(self, folder: str | Path, library: str | None = None) -> None:
        """Index ``folder`` into ``library`` now and whenever a PDF in it is added or changed."""
        self.watched.add(str(folder), library or self.current_library())

    def _ask_watch_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Watch a folder", str(Path.home()))
        if folder:
            self.watch_folder(folder)

    def _unwatch_selected(self) -> None:
        for item in self.watched_list.selectedItems():
            self.watched.remove(str(item.data(Qt.ItemDataRole.UserRole)))

    def _show_watched(self) -> None:
        self.watched_list.clear()
        folders = self.watched.folders()
        for folder, library in folders.items():
            item = QListWidgetItem(f"{Path(folder).name or folder}  →  {library}")
            item.setToolTip(folder)
            item.setData(Qt.ItemDataRole.UserRole, folder)
            self.watched_list.addItem(item)
        visible = bool(folders)
        for w in (self.watched_label, self.watched_list, self.unwatch_button):
            w.setVisible(visible)

    # -- removing and re-indexing ----------------------------------------------------------
    def remove_documents(self, paths: list[str], library: str | None = None) -> None:
        """Remove documents from the index (the files themselves are not touched)."""
        library = library or self.current_library()
        # files still waiting to be indexed are taken out of the queue, not indexed later
        waiting = self.queue.drop_waiting(library, paths)
        for path in waiting:
            self._live.pop((library, path), None)
        for path in paths:
            state = self.documents.state_of(path)
            if state is not None and library == self.current_library():
                state.state = "removing"
                self.documents.put(state)
        self.bridge.submit(
            f"docs:remove:{library}",
            self._remove_all(paths, library, waiting),
            on_done=lambda _r: self._after_change(library),
        )

    async def _remove_all(self, paths: list[str], library: str, waiting: set[str]) -> None:
        for path in paths:
            try:
                await self.bridge.engine.remove_document(path, library)
            except DocumentError:
                if path not in waiting:  # one that never reached the index is gone already
                    raise

    def remove_selected(self) -> None:
        paths = self.documents.selected_paths()
        if paths:
            self.remove_documents(paths)

    def reindex_documents(self, paths: list[str], library: str | None = None) -> None:
        """Index documents again even if they did not change."""
        library = library or self.current_library()
        for path in paths:
            self.queue.add_reindex(library, path)

    def reindex_selected(self) -> None:
        self.reindex_documents(self.documents.selected_paths())

    def reindex_all(self) -> None:
        """Re-index every library (after the embedding model or chunking changed)."""
        for name in self.libraries.names():
            if self._counts.get(name, 0):
                self.queue.add_reindex(name)

    # -- citations ---------------------------------------------------------------------------
    def open_citation(self, passage: Passage) -> None:
        """Show the cited page with the passage highlighted (connect ``citation_activated``)."""
        from desktop.page_viewer import PageViewer

        if self.viewer is None:
            self.viewer = PageViewer(self.bridge)
        self.viewer.show_passage(passage)

    def open_document(self, path: str, page: int = 1) -> None:
        """Show a document's page in the viewer."""
        from desktop.page_viewer import PageViewer

        if self.viewer is None:
            self.viewer = PageViewer(self.bridge)
        self.viewer.passage = None
        self.viewer.quote.hide()
        self.viewer.open_page(path, page)

    def _open_item(self, item: QListWidgetItem) -> None:
        self.open_document(str(item.data(Qt.ItemDataRole.UserRole)))

    def _context_menu(self, pos: QPoint) -> None:
        item = self.documents.itemAt(pos)
        if item is None:
            return
        path = str(item.data(Qt.ItemDataRole.UserRole))
        menu = QMenu(self)
        menu.addAction("Show", lambda: self.open_document(path))
        menu.addAction(
            "Open in system viewer", lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(path))
        )
        menu.addAction(
            "Show in folder",
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent))),
        )
        menu.addSeparator()
        menu.addAction("Re-index", self.reindex_selected)
        menu.addAction("Remove from library", self.remove_selected)
        menu.exec(self.documents.viewport().mapToGlobal(pos))

    # -- settings ------------------------------------------------------------------------------
    def open_settings(self) -> None:
        """The settings dialog; re-indexes everything if the user accepts its offer."""
        from desktop.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.bridge.engine, self, bridge=self.bridge)
        dialog.reindex_requested.connect(self.reindex_all)
        dialog.open()

    # -- indexing events ----------------------------------------------------------------------
    def _on_status(self, ev: DocumentStatus) -> None:
        key = (ev.library, ev.path)
        shown = self.documents.state_of(ev.path) if ev.library == self.current_library() else None
        state = RowState(
            path=ev.path,
            file=ev.file,
            state=ev.state,
            reason=ev.reason,
            # a status that does not know the counts yet keeps the ones shown
            pages=ev.pages or (shown.pages if shown else 0),
            chunks=ev.chunks or (shown.chunks if shown else 0),
            done=ev.done,
            total=ev.total,
            ocr=ev.ocr,
        )
        if state.state in BUSY_STATES:
            self._live[key] = state
        else:
            self._live.pop(key, None)
            if not self._counts_timer.isActive():
                self._counts_timer.start()
        if ev.library == self.current_library():
            self.documents.put(state)
            self._show_stack()
        busy = sum(1 for s in self._live.values() if s.state != "queued")
        waiting = sum(1 for s in self._live.values() if s.state == "queued")
        if self._live:
            text = (
                f"Indexing {html.escape(ev.file)}…"
                if ev.state in ("extracting", "embedding")
                else ""
            )
            more = f"{waiting} waiting" if waiting else ""
            self._say(" · ".join(t for t in (text, more) if t) or f"Indexing ({busy})…")

    def _on_summary(self, library: str, summary: IndexSummary) -> None:
        parts = []
        if summary.indexed:
            parts.append(f"{len(summary.indexed)} indexed")
        if summary.unchanged:
            parts.append(f"{len(summary.unchanged)} unchanged")
        if summary.failed:
            # only the failures in red: the rest of the batch went fine
            parts.append(f"<span style='color:#cf222e'>{len(summary.failed)} failed</span>")
        if summary.cancelled:
            parts.append("stopped")
        self._last_summary = f"{html.escape(library)}: " + (", ".join(parts) or "nothing to index")
        self._say(self._last_summary)
        # anything still marked busy for this run is over
        # this run is over; files still waiting in a later job for the library stay queued
        waiting = {p for job in self.queue.pending if job.library == library for p in job.paths}
        self._live = {
            k: v
            for k, v in self._live.items()
            if k[0] != library or (v.state == "queued" and k[1] in waiting)
        }
        self._after_change(library)

    def _after_change(self, library: str) -> None:
        self.refresh()
        self.documents_changed.emit(library)

    def _on_error(self, library: str, error: BaseException) -> None:
        self._say(html.escape(f"{library}: {error_line(error)}"), error=True)
        self._live = {k: v for k, v in self._live.items() if k[0] != library}
        self.refresh()

    def _on_busy(self, busy: bool) -> None:
        self.stop_button.setVisible(busy)
        shown = (row.state.state for _item, row in self.documents.rows.values())
        if not busy and any(state in PENDING_STATES for state in shown):
            # the run's last listing may have come while it still counted as running:
            # the rows it left part-way (Stop) must say "Stopped"
            self._load_documents(self.current_library())

    def _on_bridge_failed(self, tag: str, error: BaseException) -> None:
        if tag.startswith("docs:warm-up:"):
            return  # the same problem shows up, with context, when the model is used
        if tag.startswith("docs:") and not tag.startswith("docs:index:"):
            self._say(html.escape(error_line(error)), error=True)
            if tag.startswith("docs:remove:"):
                self.refresh()

    # -- little helpers --------------------------------------------------------------------
    def _say(self, text: str, error: bool = False) -> None:
        """Show ``text`` (rich text; escape what comes from outside) in the status line."""
        self.status.setStyleSheet("color: #cf222e;" if error else "")
        self.status.setText(text)

    def _show_stack(self) -> None:
        self.stack.setCurrentWidget(self.documents if self.documents.count() else self.empty)

    def _update_buttons(self) -> None:
        selected = bool(self.documents.selected_paths())
        self.remove_button.setEnabled(selected)
        self.reindex_button.setEnabled(selected)
        has_library = bool(self.libraries.current_library())
        self.rename_library_button.setEnabled(has_library)
        self.delete_library_button.setEnabled(has_library)
