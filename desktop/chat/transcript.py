"""The transcript: a scrolling column of message bubbles that follows a streaming answer."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QScrollArea, QVBoxLayout, QWidget

from core.types import Role
from desktop.chat.markdown import MarkdownRenderer
from desktop.chat.message_view import MessageView


class Transcript(QScrollArea):
    """Holds :class:`MessageView` bubbles, newest at the bottom."""

    def __init__(self, renderer: MarkdownRenderer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.renderer = renderer
        self.setAccessibleName("Transcript")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._column = QWidget()
        self._column.setObjectName("transcriptColumn")
        self._layout = QVBoxLayout(self._column)
        self._layout.setContentsMargins(12, 12, 12, 12)
        self._layout.setSpacing(10)
        self.placeholder = QLabel(
            "<h3>Ask anything</h3>"
            "<p>Type a question below and press <b>Ctrl+Enter</b>.<br>"
            "Pick a model on the left; add PDFs in Documents to ask about them.</p>"
        )
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setAccessibleName("Empty conversation")
        # the placeholder takes the free space while shown; then the trailing stretch does,
        # keeping the bubbles at the top
        self._layout.addWidget(self.placeholder, 1)
        self._layout.addStretch(0)
        self.setWidget(self._column)
        self.views: list[MessageView] = []
        self._follow = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range)

    def clear(self) -> None:
        for v in self.views:
            self._layout.removeWidget(v)
            v.deleteLater()
        self.views.clear()
        self.placeholder.show()
        self._follow = True

    def add(self, role: Role, text: str, message_id: int | None = None) -> MessageView:
        """Append a bubble and scroll to it."""
        self.placeholder.hide()
        view = MessageView(role, text, self.renderer, message_id=message_id)
        # insert before the trailing stretch so bubbles stay at the top when few
        self._layout.insertWidget(self._layout.count() - 1, view)
        self.views.append(view)
        self._follow = True
        QTimer.singleShot(0, self, self.scroll_to_end)
        return view

    def remove_from(self, view: MessageView) -> None:
        """Remove ``view`` and every bubble after it."""
        if view not in self.views:
            return
        i = self.views.index(view)
        for v in self.views[i:]:
            self._layout.removeWidget(v)
            v.deleteLater()
        del self.views[i:]
        self.placeholder.setVisible(not self.views)

    def scroll_to_end(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _on_scrolled(self, value: int) -> None:
        # follow the answer only while the reader is at the bottom
        self._follow = value >= self.verticalScrollBar().maximum() - 24

    def _on_range(self, _min: int, maximum: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(maximum)
