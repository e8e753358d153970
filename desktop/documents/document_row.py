"""One document in the list: name, state, pages and chunks, a progress bar, the failure reason."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from desktop.elided_label import ElidedLabel

# (label shown, colour of the state badge)
STATE_LOOK: dict[str, tuple[str, str]] = {
    "queued": ("Queued", "#7a7a7a"),
    "extracting": ("Reading", "#1f6feb"),
    "embedding": ("Indexing", "#1f6feb"),
    "ready": ("Ready", "#1a7f37"),
    "unchanged": ("Ready", "#1a7f37"),
    "failed": ("Failed", "#cf222e"),
    "removing": ("Removing", "#7a7a7a"),
    # shown, not stored: queued, extracting or embedding with no run going (Stop, or closed)
    "stopped": ("Stopped", "#9a6700"),
}
BUSY_STATES = frozenset({"queued", "extracting", "embedding", "removing"})


@dataclass
class RowState:
    """What a row shows; filled from ``DocumentRecord``s and ``DocumentStatus`` events."""

    path: str
    file: str
    state: str = "queued"
    reason: str = ""
    pages: int = 0
    chunks: int = 0
    done: int = 0
    total: int = 0
    ocr: bool = False  # done/total count pages read by OCR


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


class DocumentRow(QWidget):
    """The widget for one document (inside the documents list)."""

    def __init__(self, state: RowState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.name = ElidedLabel()
        self.badge = QLabel()
        self.badge.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # wide enough for every state, so the name does not jump when the state changes
        bold = QFont(self.badge.font())
        bold.setWeight(QFont.Weight.DemiBold)
        metrics = QFontMetrics(bold)
        self.badge.setMinimumWidth(
            max(metrics.horizontalAdvance(label) for label, _c in STATE_LOOK.values()) + 4
        )
        self.details = ElidedLabel()
        self.details.setStyleSheet("color: palette(placeholder-text); font-size: 11px;")
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        self.reason.setStyleSheet("color: #cf222e;")
        self.reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setMaximumHeight(6)
        self.progress.setTextVisible(False)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.name, 1)
        top.addWidget(self.badge)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 5)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.details)
        layout.addWidget(self.progress)
        layout.addWidget(self.reason)
        self.apply(state)

    def apply(self, state: RowState) -> None:
        """Show ``state`` (called for every status event of this document)."""
        self.state = state
        self.name.set_full_text(state.file)
        self.setToolTip(state.path)
        label, colour = STATE_LOOK.get(state.state, (state.state.title(), "#7a7a7a"))
        # plain text styled by the sheet: its size hint then knows the bold font
        self.badge.setText(label)
        self.badge.setStyleSheet(f"color: {colour}; font-weight: 600;")
        parts = []
        if state.pages:
            parts.append(_count(state.pages, "page"))
        if state.chunks:
            parts.append(_count(state.chunks, "chunk"))
        if state.state == "extracting" and state.total:
            by = " by OCR (scanned)" if state.ocr else ""
            parts.append(f"reading page {state.done} of {state.total}{by}")
        elif state.state == "embedding" and state.total:
            parts.append(f"{state.done} of {state.total} chunks embedded")
        elif state.state == "queued":
            parts.append("waiting")
        elif state.state == "stopped":
            parts.append("resumes at the next start")
        self.details.set_full_text(" · ".join(parts))
        self.details.setVisible(bool(parts))
        working = state.state in ("extracting", "embedding")
        self.progress.setVisible(working)
        if working:
            if state.total > 0:
                self.progress.setRange(0, state.total)
                self.progress.setValue(min(state.done, state.total))
            else:
                self.progress.setRange(0, 0)  # busy indicator: how long is not known yet
        failed = state.state == "failed"
        self.reason.setVisible(failed and bool(state.reason))
        # engine messages may quote the whole path; the row already says which file
        self.reason.setText(state.reason.replace(state.path, state.file))
