"""Live search of GGUF repositories on the Hugging Face Hub.

A search lists repositories; expanding one lists its GGUF files (split files
as one entry) with size, quantisation and fit label. Both go through the
bridge, so a slow network never freezes the window.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.models.hub import HubRepo, RemoteModelFile
from desktop.bridge import EngineBridge
from desktop.errors import error_text
from desktop.models.catalog_view import ROLE, file_tree
from desktop.models.formatting import human_size

REPO_ROLE = Qt.ItemDataRole.UserRole + 1


class HubSearchView(QWidget):
    """Emits ``download_requested(repo_id, filename)``."""

    download_requested = Signal(str, str)

    def __init__(
        self, bridge: EngineBridge, fit: Callable[..., str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.fit = fit
        self.query = QLineEdit()
        self.query.setPlaceholderText("Search GGUF models on Hugging Face")
        self.query.setAccessibleName("Hub search")
        self.search_button = QPushButton("Search")
        self.search_button.setAccessibleName("Search the Hub")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Hub search status")
        self.tree = file_tree()
        self.tree.setAccessibleName("Hub search results")
        self.download_button = QPushButton("Download")
        self.download_button.setAccessibleName("Download the selected file")
        self.download_button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.query, 1)
        row.addWidget(self.search_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.download_button)
        self.query.returnPressed.connect(self.search)
        self.search_button.clicked.connect(self.search)
        self.tree.itemExpanded.connect(self._expand)
        self.tree.currentItemChanged.connect(self._on_current)
        self.tree.itemDoubleClicked.connect(lambda item, _c: self._download(item))
        self.download_button.clicked.connect(lambda: self._download(self.tree.currentItem()))
        bridge.failed.connect(self._on_failed)

    def search(self) -> None:
        q = self.query.text().strip()
        if not q:
            return
        self.status.setText(f"Searching for “{q}”…")
        self.bridge.submit("hub-search", self.bridge.engine.search_hub(q), on_done=self._results)

    def _results(self, repos: list[HubRepo]) -> None:
        self.tree.clear()
        self.status.setText(
            f"{len(repos)} repositories. Expand one to see its files."
            if repos
            else "Nothing found."
        )
        for r in repos:
            extra = " · gated" if r.gated else ""
            item = QTreeWidgetItem([r.repo_id, "", ""])
            item.setToolTip(0, f"{r.repo_id}\n{r.downloads:,} downloads · {r.likes} likes{extra}")
            item.setData(0, REPO_ROLE, r.repo_id)
            item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
            self.tree.addTopLevelItem(item)

    def _expand(self, item: QTreeWidgetItem) -> None:
        repo = item.data(0, REPO_ROLE)
        if repo is None or item.childCount():
            return
        loading = QTreeWidgetItem(["Listing files…", "", ""])
        item.addChild(loading)

        def show(files: list[RemoteModelFile]) -> None:
            item.takeChildren()
            for f in files:
                parts = f" ({len(f.parts)} parts)" if f.is_split else ""
                fits = self.fit(f.size_bytes, quantization=f.quantization)
                child = QTreeWidgetItem([f.quantization + parts, human_size(f.size_bytes), fits])
                child.setData(0, ROLE, (f.repo_id, f.filename))
                child.setToolTip(0, f.filename)
                item.addChild(child)
            if not files:
                item.addChild(QTreeWidgetItem(["No GGUF model files", "", ""]))

        self.bridge.submit(
            f"hub-files:{repo}", self.bridge.engine.list_repo_files(repo), on_done=show
        )

    def _on_current(self, item: QTreeWidgetItem | None) -> None:
        self.download_button.setEnabled(item is not None and item.data(0, ROLE) is not None)

    def _download(self, item: QTreeWidgetItem | None) -> None:
        target = item.data(0, ROLE) if item is not None else None
        if target is not None:
            self.download_requested.emit(*target)

    def _on_failed(self, tag: str, error: BaseException) -> None:
        if tag == "hub-search" or tag.startswith("hub-files:"):
            message, hint = error_text(error)
            self.status.setText(f"{message} {hint[:1].upper() + hint[1:]}".strip())
