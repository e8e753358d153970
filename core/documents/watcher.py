"""Watched folders: a Qt-free polling watcher that reports added, changed and removed documents.

Polling (size and modification time, every few seconds, in an executor) rather
than OS notifications: it behaves the same on every platform and on network
drives, costs one ``stat`` per file, and needs no extra dependency. A file is
reported only once its size and time have stayed the same for one whole
interval, so a PDF that is still being copied into the folder is not indexed
half-written.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

from core.documents.formats import documents_under
from core.events import Event
from core.executors import run_blocking

Stamp = tuple[int, int]  # (size in bytes, mtime in ns)
Snapshot = dict[str, Stamp]  # absolute path -> stamp


@dataclass(frozen=True)
class FolderChanges(Event):
    """Documents that appeared, changed or disappeared in a watched folder since the last report."""

    folder: str
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


def scan_folder(folder: str | Path) -> Snapshot:
    """Every document (PDF, EPUB, HTML, text, Markdown) under ``folder``, recursively, with its size
    and mtime (blocking).

    A folder that does not exist (unplugged drive, deleted) scans as empty.
    Hidden files and folders (``.name``) are skipped: editors and sync tools put
    temporary copies there (see :func:`core.documents.formats.documents_under`).
    """
    found: Snapshot = {}
    root = Path(folder)
    if not root.is_dir():
        return found
    for path in documents_under(root):
        try:
            st = os.stat(path)
        except OSError:  # vanished between listing and stat
            continue
        found[os.path.abspath(path)] = (st.st_size, st.st_mtime_ns)
    return found


class FolderWatcher:
    """Polls a set of folders and yields :class:`FolderChanges`.

    A folder's existing PDFs are reported as ``added`` once they have settled
    (after the second poll): a watcher just started cannot know what changed
    while nobody was watching, and the engine skips unchanged files by
    checksum. Reporting them from the same scan as later changes leaves no gap
    in which a file could arrive unseen.
    """

    def __init__(self, folders: Iterable[str | Path] = (), interval_s: float = 3.0) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._folders: list[str] = []
        self._known: dict[str, Snapshot] = {}  # reported state per folder
        self._pending: dict[str, Snapshot] = {}  # last scan, waiting to settle
        self._stop = asyncio.Event()
        for folder in folders:
            self.add(folder)

    @property
    def folders(self) -> list[str]:
        """The folders being watched, as absolute paths."""
        with self._lock:
            return list(self._folders)

    def add(self, folder: str | Path) -> str:
        """Start watching ``folder``; returns its absolute path."""
        path = os.path.abspath(folder)
        with self._lock:
            if path not in self._folders:
                self._folders.append(path)
        return path

    def remove(self, folder: str | Path) -> None:
        """Stop watching ``folder``."""
        path = os.path.abspath(folder)
        with self._lock:
            if path in self._folders:
                self._folders.remove(path)
            self._known.pop(path, None)
            self._pending.pop(path, None)

    def poll(self) -> list[FolderChanges]:
        """Scan every folder once and return what settled since the last poll (blocking)."""
        out: list[FolderChanges] = []
        for folder in self.folders:
            now = scan_folder(folder)
            with self._lock:
                if folder not in self._folders:  # removed while scanning
                    continue
                known = self._known.setdefault(folder, {})
                previous = self._pending.get(folder, {})
                self._pending[folder] = now
                # settled: the same stamp as one interval ago
                settled = {p: s for p, s in now.items() if previous.get(p) == s}
                added = tuple(sorted(p for p in settled if p not in known))
                changed = tuple(
                    sorted(p for p, s in settled.items() if p in known and known[p] != s)
                )
                # a file must be gone for two scans in a row (it may be replaced atomically)
                removed = tuple(sorted(p for p in known if p not in now and p not in previous))
                for p in (*added, *changed):
                    known[p] = settled[p]
                for p in removed:
                    del known[p]
            if added or changed or removed:
                out.append(FolderChanges(folder, added, changed, removed))
        return out

    def stop(self) -> None:
        """End :meth:`changes` after its current sleep (call on the loop's thread)."""
        self._stop.set()

    async def changes(self) -> AsyncIterator[FolderChanges]:
        """Poll forever (until :meth:`stop`) in the ``"watch"`` executor, yielding changes."""
        self._stop.clear()
        while not self._stop.is_set():
            for change in await run_blocking("watch", self.poll):
                yield change
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval_s)
