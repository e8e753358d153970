"""The curated catalog: models with their quantisations, sizes and fit labels."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHeaderView,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.models.catalog import CatalogEntry
from desktop.models.formatting import human_size

ROLE = Qt.ItemDataRole.UserRole


def file_tree() -> QTreeWidget:
    """A tree with the picker's columns: model (files by quantisation below it), size, fit."""
    tree = QTreeWidget()
    tree.setColumnCount(3)
    tree.setHeaderLabels(["Model", "Size", "Fits"])
    tree.setRootIsDecorated(True)
    tree.setUniformRowHeights(True)
    header = tree.header()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for col in (1, 2):
        header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(False)
    return tree


class CatalogView(QWidget):
    """Emits ``download_requested(repo_id, filename)``."""

    download_requested = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = file_tree()
        self.tree.setAccessibleName("Model catalog")
        self.download_button = QPushButton("Download")
        self.download_button.setAccessibleName("Download the selected file")
        self.download_button.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.download_button)
        self.tree.currentItemChanged.connect(self._on_current)
        self.tree.itemDoubleClicked.connect(lambda item, _col: self._download(item))
        self.download_button.clicked.connect(lambda: self._download(self.tree.currentItem()))

    def set_entries(self, entries: list[CatalogEntry], fit: Callable[..., str]) -> None:
        """Fill the tree; ``fit(size_bytes, **details) -> str`` labels each file."""
        expanded = {
            item.text(0)
            for i in range(self.tree.topLevelItemCount())
            if (item := self.tree.topLevelItem(i)) is not None and item.isExpanded()
        }
        self.tree.clear()
        for e in entries:
            top = QTreeWidgetItem([f"{e.name} ({e.parameters_b:g}B)", "", ""])
            top.setToolTip(0, f"{e.description}\n{e.repo_id} · {e.licence}")
            for f in e.files:
                label = f.quantization
                fits = fit(f.size_bytes, parameters_b=e.parameters_b, quantization=f.quantization)
                if f.quantization == e.recommended_quantization:
                    label += "  ★ recommended"
                    # the model's row shows its recommended file, so the list can be
                    # scanned for what fits without opening every model
                    top.setText(1, human_size(f.size_bytes))
                    top.setText(2, fits)
                child = QTreeWidgetItem([label, human_size(f.size_bytes), fits])
                child.setData(0, ROLE, (e.repo_id, f.filename))
                child.setToolTip(0, f"{e.repo_id}/{f.filename}")
                top.addChild(child)
            self.tree.addTopLevelItem(top)
            top.setExpanded(top.text(0) in expanded)

    def _on_current(self, item: QTreeWidgetItem | None) -> None:
        self.download_button.setEnabled(item is not None and item.data(0, ROLE) is not None)

    def _download(self, item: QTreeWidgetItem | None) -> None:
        if item is None:
            return
        target = item.data(0, ROLE)
        if target is not None:
            self.download_requested.emit(*target)
