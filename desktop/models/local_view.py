"""GGUF models already on this computer: a file the user picks, or one other apps downloaded.

"Add a GGUF file…" opens a file dialog; below it, the models found in the
Hugging Face cache, LM Studio's and GPT4All's folders are listed by app, with
size and fit. Adding one registers the file where it is (nothing is copied).
The view only shows and asks: the models pane runs discovery and the import
through the bridge.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.models.importer import DiscoveredModel
from desktop.models.catalog_view import ROLE, file_tree
from desktop.models.formatting import human_size

SOURCE_NAMES = {
    "lm-studio": "LM Studio",
    "gpt4all": "GPT4All",
    "huggingface-cache": "Hugging Face cache",
}
ADDED = "added"


class LocalModelsView(QWidget):
    """Emits ``import_requested(path)`` and ``rescan_requested()``."""

    import_requested = Signal(str)
    rescan_requested = Signal()

    def __init__(self, fit: Callable[..., str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fit = fit
        self.scanned = False
        intro = QLabel(
            "Use a GGUF model that is already on this computer. Lectern uses the file "
            "where it is: nothing is copied, and deleting it here leaves the file alone."
        )
        intro.setWordWrap(True)
        self.browse_button = QPushButton("Add a GGUF file…")
        self.browse_button.setAccessibleName("Add a GGUF model file from disk")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Result of adding a model")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        found_title = QLabel("<b>Found in other apps' folders</b>")
        self.rescan_button = QPushButton("Look again")
        self.rescan_button.setAccessibleName("Look for models again")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Models found on this computer")
        self.tree = file_tree()
        self.tree.setAccessibleName("Models found in other apps' folders")
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # keep the quantisation
        self.add_button = QPushButton("Add")
        self.add_button.setAccessibleName("Add the selected model")
        self.add_button.setEnabled(False)

        top = QHBoxLayout()
        top.addWidget(self.browse_button)
        top.addStretch(1)
        found_row = QHBoxLayout()
        found_row.addWidget(found_title, 1)
        found_row.addWidget(self.rescan_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(intro)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addSpacing(6)
        layout.addLayout(found_row)
        layout.addWidget(self.status)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.add_button)

        self.browse_button.clicked.connect(self.browse)
        self.rescan_button.clicked.connect(self.rescan)
        self.tree.currentItemChanged.connect(self._on_current)
        self.tree.itemDoubleClicked.connect(lambda item, _c: self._add(item))
        self.add_button.clicked.connect(lambda: self._add(self.tree.currentItem()))

    # -- asking ----------------------------------------------------------------
    def browse(self) -> None:
        """Pick a .gguf file in a file dialog and ask for it to be added."""
        path, _filter = QFileDialog.getOpenFileName(
            self, "Add a GGUF model", str(Path.home()), "GGUF models (*.gguf);;All files (*)"
        )
        if path:
            self.import_requested.emit(path)

    def rescan(self) -> None:
        self.status.setText("Looking in the Hugging Face cache, LM Studio and GPT4All…")
        self.rescan_requested.emit()

    def _on_current(self, item: QTreeWidgetItem | None) -> None:
        target = item.data(0, ROLE) if item is not None else None
        self.add_button.setEnabled(target is not None and not target[1])

    def _add(self, item: QTreeWidgetItem | None) -> None:
        target = item.data(0, ROLE) if item is not None else None
        if target is not None and not target[1]:
            self.import_requested.emit(target[0])

    # -- showing -----------------------------------------------------------------
    def set_found(self, found: list[DiscoveredModel]) -> None:
        """List what discovery found, grouped by the app that downloaded it."""
        self.scanned = True
        self.tree.clear()
        groups: dict[str, QTreeWidgetItem] = {}
        for m in found:
            group = groups.get(m.source)
            if group is None:
                group = groups[m.source] = QTreeWidgetItem([SOURCE_NAMES[m.source], "", ""])
                self.tree.addTopLevelItem(group)
            # an added file says so where its fit would be: Installed shows the fit
            fits = ADDED if m.registered else self.fit(m.size_bytes, quantization=m.quantization)
            row = QTreeWidgetItem([Path(m.path).name, human_size(m.size_bytes), fits])
            row.setData(0, ROLE, (m.path, m.registered))
            where = f"{m.repo_id}\n{m.path}" if m.repo_id else m.path
            row.setToolTip(0, where)
            if m.registered:
                for col in range(3):
                    row.setForeground(col, self.palette().placeholderText())
            group.addChild(row)
        for group in groups.values():
            group.setExpanded(True)
        new = sum(not m.registered for m in found)
        if not found:
            self.status.setText(
                "None found. Models downloaded with LM Studio, GPT4All or huggingface_hub "
                "show up here."
            )
        elif new:
            self.status.setText(f"{len(found)} found, {new} not added yet.")
        else:
            self.status.setText(f"{len(found)} found, all added already.")
        self._on_current(self.tree.currentItem())

    def show_note(self, text: str) -> None:
        self.message.setStyleSheet("")
        self.message.setText(text)

    def show_added(self, name: str) -> None:
        self.show_note(f"Added {name}. It is in Installed, ready to load.")

    def show_error(self, text: str) -> None:
        """Why the last add failed, under the button, in the colour of failed documents."""
        self.message.setStyleSheet("color: #cf222e;")
        self.message.setText(text)
