"""The documents pane: libraries and their PDFs (filled by the document-library GUI)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QListWidget, QVBoxLayout, QWidget


class DocumentsPane(QWidget):
    """Libraries and documents."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("documentsPane")
        self.list = QListWidget()
        self.list.setAccessibleName("Documents")
        hint = QLabel("Drop PDF files or folders here to add them to your library.")
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Documents</b>"))
        layout.addWidget(hint)
        layout.addWidget(self.list, 1)
