"""Dropped files and folders: which of them Lectern can index or add as a model, and drops
onto the whole window."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, QObject
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent

from core.documents.formats import is_document


def dropped_paths(mime: QMimeData) -> list[Path]:
    """Local files and folders among the dropped URLs (web links and the like are ignored)."""
    if not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]


def is_indexable(path: Path) -> bool:
    """A folder (its documents are indexed) or a PDF, EPUB, HTML, text or Markdown file."""
    return path.is_dir() or is_document(path)


def is_model_file(path: Path) -> bool:
    """A file named ``*.gguf``: dropped, it is added to the models, not indexed."""
    return path.suffix.lower() == ".gguf" and not path.is_dir()


def accepts(mime: QMimeData) -> bool:
    """Whether a drag carries at least one document, folder or GGUF model."""
    return any(is_indexable(p) or is_model_file(p) for p in dropped_paths(mime))


class DropForwarder(QObject):
    """Event filter that lets a whole window take PDF (and GGUF) drops and hands them to
    ``on_drop``.

    Installed on the main window (``DocumentsPane.accept_drops_on``) so a user
    can drop anywhere, not only on the documents pane. ``on_hover(True/False)``
    lets the pane show that it will take the drop.
    """

    def __init__(
        self,
        on_drop: Callable[[QMimeData], bool],
        on_hover: Callable[[bool], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.on_drop = on_drop
        self.on_hover = on_hover

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            assert isinstance(event, QDragEnterEvent | QDragMoveEvent)
            if accepts(event.mimeData()):
                event.acceptProposedAction()
                self.on_hover(True)
                return True
        elif kind == QEvent.Type.DragLeave:
            self.on_hover(False)
        elif kind == QEvent.Type.Drop:
            assert isinstance(event, QDropEvent)
            self.on_hover(False)
            if self.on_drop(event.mimeData()):
                event.acceptProposedAction()
                return True
        return False
