"""Watched folders: PDFs added or changed there are indexed without the user doing anything.

The folders and their libraries live in the settings
(``retrieval.watched_folders``). Polling is core's :class:`FolderWatcher`,
streamed through the bridge; this object turns its changes into indexing
jobs (added, changed) and removals (a PDF deleted from the folder leaves the
library too). The watcher reports a folder's existing PDFs on its first
polls, so on start and when a folder is added everything in it is queued,
which picks up whatever changed while Lectern was closed (the engine skips
unchanged files by checksum).
"""

from __future__ import annotations

import contextlib
import os

from PySide6.QtCore import QObject, Signal

from core.documents.watcher import FolderChanges, FolderWatcher
from core.errors import LecternError
from core.events import Event
from core.executors import run_blocking
from desktop.bridge import EngineBridge
from desktop.documents.indexing_queue import IndexingQueue

TAG = "docs:watch"


class WatchedFolders(QObject):
    """Keeps the watched folders, their polling task and the settings in step."""

    folders_changed = Signal()
    documents_removed = Signal(str)  # library

    def __init__(
        self,
        bridge: EngineBridge,
        queue: IndexingQueue,
        interval_s: float = 3.0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.queue = queue
        self.watcher = FolderWatcher(interval_s=interval_s)
        bridge.engine_event.connect(self._on_event)

    @property
    def _settings_map(self) -> dict[str, str]:
        return self.bridge.engine.settings.retrieval.watched_folders

    def folders(self) -> dict[str, str]:
        """Watched folder -> library it feeds."""
        return dict(self._settings_map)

    def start(self) -> None:
        """Poll every watched folder (their PDFs are indexed on the first polls)."""
        for folder in self.folders():
            self.watcher.add(folder)
        if not self.bridge.busy(TAG):
            self.bridge.stream(TAG, self.watcher.changes())

    def stop(self) -> None:
        self.watcher.stop()
        self.bridge.cancel(TAG)

    def add(self, folder: str, library: str) -> None:
        """Watch ``folder`` for ``library`` and index what is in it now."""
        folder = os.path.abspath(folder)
        self._save({**self._settings_map, folder: library})
        self.watcher.add(folder)
        if not self.bridge.busy(TAG):
            self.bridge.stream(TAG, self.watcher.changes())

    def remove(self, folder: str) -> None:
        """Stop watching ``folder`` (its documents stay in the library)."""
        self._save({f: lib for f, lib in self._settings_map.items() if f != folder})
        self.watcher.remove(folder)

    def rename_library(self, old: str, new: str) -> None:
        """Follow a library rename."""
        if old in self._settings_map.values():
            self._save({f: (new if lib == old else lib) for f, lib in self._settings_map.items()})

    def forget_library(self, name: str) -> None:
        """Stop watching the folders of a deleted library."""
        for folder, lib in self.folders().items():
            if lib == name:
                self.remove(folder)

    def _save(self, folders: dict[str, str]) -> None:
        engine = self.bridge.engine
        engine.settings.retrieval.watched_folders = folders  # validated on assignment
        self.bridge.submit("docs:save-settings", run_blocking("settings", engine.save_settings))
        self.folders_changed.emit()

    def _on_event(self, tag: str, ev: Event) -> None:
        if tag != TAG or not isinstance(ev, FolderChanges):
            return
        library = self._settings_map.get(ev.folder)
        if library is None:
            return
        self.queue.add([*ev.added, *ev.changed], library)
        if ev.removed:
            self.bridge.submit(
                f"docs:watch-remove:{ev.folder}",
                self._remove_all(list(ev.removed), library),
                on_done=lambda _r: self.documents_removed.emit(library),
            )

    async def _remove_all(self, paths: list[str], library: str) -> None:
        engine = self.bridge.engine
        for path in paths:
            # LecternError: it was never indexed (it failed), or was removed by hand already
            with contextlib.suppress(LecternError):
                await engine.remove_document(path, library)
