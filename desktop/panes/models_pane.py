"""The models pane: installed models (the picker and downloads grow here)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from core.models.registry import ModelRecord


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


class ModelsPane(QWidget):
    """Lists installed models; emits ``model_chosen(id)``."""

    model_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsPane")
        title = QLabel("<b>Models</b>")
        self.list = QListWidget()
        self.list.setAccessibleName("Installed models")
        self.placeholder = QLabel("Preparing the starter model…")
        self.placeholder.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.placeholder)
        layout.addWidget(self.list, 1)
        self.list.currentItemChanged.connect(self._on_current)

    def set_models(self, models: list[ModelRecord]) -> None:
        self.list.clear()
        for m in models:
            item = QListWidgetItem(
                f"{m.name}\n{m.quantization} · {_size(m.size_bytes)} · {m.source}"
            )
            item.setData(Qt.ItemDataRole.UserRole, m.id)
            item.setToolTip(m.path)
            self.list.addItem(item)
        self.placeholder.setVisible(not models)
        if models and self.list.currentRow() < 0:
            self.list.setCurrentRow(0)

    def _on_current(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            self.model_chosen.emit(item.data(Qt.ItemDataRole.UserRole))
