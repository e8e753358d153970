"""Indexing jobs, one after another, through the bridge.

Drops, the file dialog, watched folders and "re-index" all add jobs here.
The engine indexes one batch at a time per library, so jobs run in order;
jobs waiting for the same library are merged, which turns a burst of
watched-folder changes into a single run.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from core.documents.events import DocumentStatus, IndexSummary
from core.events import Event, Failed
from desktop.bridge import EngineBridge

TAG_PREFIX = "docs:index:"


@dataclass
class IndexJob:
    """Index ``paths`` (files or folders) into ``library``; ``reindex`` forces it."""

    library: str
    paths: list[str] = field(default_factory=list)
    reindex: bool = False  # paths empty + reindex: the whole library


class IndexingQueue(QObject):
    """Runs :class:`IndexJob` s one at a time and re-emits their events."""

    status = Signal(object)  # DocumentStatus
    summary = Signal(str, object)  # library, IndexSummary
    error = Signal(str, object)  # library, LecternError or exception
    busy_changed = Signal(bool)

    def __init__(self, bridge: EngineBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.pending: list[IndexJob] = []
        self.running: IndexJob | None = None
        self._tag = ""
        self._ids = itertools.count(1)
        bridge.engine_event.connect(self._on_event)
        bridge.finished.connect(self._on_finished)
        bridge.failed.connect(self._on_failed)

    def busy(self) -> bool:
        return self.running is not None

    def has_work(self, library: str) -> bool:
        """Whether a job for ``library`` runs or waits (it finishes the library's leftovers)."""
        jobs = ([self.running] if self.running is not None else []) + self.pending
        return any(job.library == library for job in jobs)

    def add(self, paths: list[str], library: str) -> None:
        """Queue files and folders for indexing (unchanged files are skipped by the engine)."""
        paths = [str(Path(p)) for p in paths]
        if not paths:
            return
        for p in paths:
            if Path(p).is_file():  # folders show their files once the engine lists them
                self.status.emit(DocumentStatus(library, p, Path(p).name, "queued"))
        last = self.pending[-1] if self.pending else None
        if last is not None and last.library == library and not last.reindex:
            last.paths.extend(p for p in paths if p not in last.paths)
        else:
            self.pending.append(IndexJob(library, list(paths)))
        self._next()

    def resume(self, library: str) -> None:
        """Finish the documents an interrupted run left half-indexed in ``library``.

        Every indexing run of a library finishes its leftovers first, so a job
        already waiting for that library does it too.
        """
        if any(job.library == library and not job.reindex for job in self.pending):
            return
        self.pending.append(IndexJob(library, []))
        self._next()

    def add_reindex(self, library: str, path: str | None = None) -> None:
        """Queue a forced re-index of one document, or of the whole library."""
        self.pending.append(IndexJob(library, [path] if path else [], reindex=True))
        self._next()

    def drop_waiting(self, library: str, paths: list[str]) -> set[str]:
        """Take ``paths`` out of the jobs still waiting for ``library``; returns those found.

        A file removed while it waits must not be indexed afterwards. A job left
        with nothing to do is dropped (a resume job, empty from the start, stays).
        """
        gone = set(paths)
        found: set[str] = set()
        kept: list[IndexJob] = []
        for job in self.pending:
            if job.library == library and job.paths:
                found |= gone.intersection(job.paths)
                job.paths = [p for p in job.paths if p not in gone]
                if not job.paths:
                    continue
            kept.append(job)
        self.pending = kept
        return found

    def rename_library(self, old: str, new: str) -> None:
        """Send the jobs waiting for ``old`` to ``new`` (they would make ``old`` again).

        The running job finishes under its old name: the engine renames the
        library after it, and the waiting jobs start after the rename.
        """
        for job in self.pending:
            if job.library == old:
                job.library = new

    def cancel_library(self, library: str) -> None:
        """Drop the jobs waiting for ``library`` and stop its running one (it is being deleted)."""
        self.pending = [job for job in self.pending if job.library != library]
        if self.running is not None and self.running.library == library:
            self.bridge.engine.cancel_indexing()

    def cancel_all(self) -> None:
        """Drop waiting jobs and stop the running one (what is indexed so far stays)."""
        self.pending.clear()
        if self.running is not None:
            self.bridge.engine.cancel_indexing()

    def _next(self) -> None:
        if self.running is not None or not self.pending:
            return
        job = self.running = self.pending.pop(0)
        self._tag = f"{TAG_PREFIX}{next(self._ids)}"
        engine = self.bridge.engine
        if job.reindex:
            events = engine.reindex(job.library, job.paths[0] if job.paths else None)
        else:
            events = engine.index(job.paths, job.library)
        self.busy_changed.emit(True)
        self.bridge.stream(self._tag, events)

    def _on_event(self, tag: str, ev: Event) -> None:
        if tag != self._tag or self.running is None:
            return
        if isinstance(ev, DocumentStatus):
            self.status.emit(ev)
        elif isinstance(ev, IndexSummary):
            self.summary.emit(self.running.library, ev)
        elif isinstance(ev, Failed):
            self.error.emit(self.running.library, ev.error)

    def _on_failed(self, tag: str, error: BaseException) -> None:
        if tag == self._tag and self.running is not None:
            self.error.emit(self.running.library, error)

    def _on_finished(self, tag: str) -> None:
        if tag != self._tag:
            return
        self.running = None
        self._tag = ""
        if self.pending:
            self._next()
        else:
            self.busy_changed.emit(False)
