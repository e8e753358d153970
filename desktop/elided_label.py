"""A one-line label that ends in “…” when its text does not fit.

Its width is the layout's to give: a long file name or conversation title never
widens the pane it sits in (a plain QLabel's minimum width is its whole text).
With ``tooltip``, the full text is its tooltip (otherwise a parent's shows, such as a
document row's path).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """Shows as much of its text as fits, with “…” where it is cut."""

    def __init__(
        self,
        text: str = "",
        parent: QWidget | None = None,
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle,
        tooltip: bool = False,
    ) -> None:
        super().__init__(parent)
        self._full = ""
        self._mode = mode
        self._tooltip = tooltip
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self._full = text
        if self._tooltip:
            self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, self._mode, max(20, self.width()))
        self.setText(shown)
