"""The re-ranking model row of the settings dialog: choose one, or fetch one from the Hub.

The list holds the offline starter, the re-rankers already in the data directory
(``models/rerankers/``), the folder currently set if it is elsewhere, "Other
folder…" and, with a bridge, "Download from Hugging Face…". A download runs
through the bridge (``engine.download_reranker``) with a progress bar and a Cancel
button under the list; a model that installs is added and selected (the dialog's
Save makes it the setting), one that fails leaves the choice as it was and says why.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.engine import Engine
from core.events import Done, Event, Failed
from core.models.downloads import DownloadProgress
from core.models.rerankers import (
    STARTER_PREFIX,
    SUGGESTED_REPOS,
    RerankerInstalled,
    local_rerankers,
    reranker_problem,
)
from core.models.starter import STARTER_RERANKER_NAME
from desktop.bridge import EngineBridge

STARTER_RERANKER = f"{STARTER_PREFIX}{STARTER_RERANKER_NAME}"
_OTHER = "__other__"
_DOWNLOAD = "__download__"
TAG_PREFIX = "reranker-download:"


def _label(folder: Path) -> str:
    """``owner--name`` (a download) reads as the repository ``owner/name``."""
    return folder.name.replace("--", "/", 1)


class RerankerChoice(QWidget):
    """A combo box of re-ranking models, with a download row below it."""

    problem = Signal(str)  # a download failed: what to show the user
    started = Signal()  # a download began (an earlier failure no longer applies)
    installed = Signal(object)  # Path of a re-ranker just downloaded (and selected)

    def __init__(
        self, engine: Engine, bridge: EngineBridge | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self.bridge = bridge
        self._repo: str | None = None  # the repository being downloaded

        self.combo = QComboBox()
        self.combo.setAccessibleName("Re-ranking model")
        self.combo.setToolTip(
            "The cross-encoder that re-reads a question's best passages. The starter works "
            "offline; a larger one from Hugging Face (an ONNX export, e.g. of bge-reranker-base) "
            "may rank better and is slower."
        )
        self.combo.addItem(f"{STARTER_RERANKER_NAME} (starter, offline)", STARTER_RERANKER)
        starter_dir = engine.paths.rerankers_dir / STARTER_RERANKER_NAME
        for d in local_rerankers(engine.paths.rerankers_dir):
            if d != starter_dir:
                self.combo.addItem(_label(d), str(d))
        current = engine.settings.retrieval.reranker
        if self.combo.findData(current) < 0:
            self.combo.addItem(Path(current).name or current, current)
        self.combo.addItem("Other folder…", _OTHER)
        if bridge is not None:
            self.combo.addItem("Download from Hugging Face…", _DOWNLOAD)
        self.combo.setCurrentIndex(max(0, self.combo.findData(current)))
        self._last = self.combo.currentIndex()
        self.combo.activated.connect(self._on_activated)

        self.bar = QProgressBar()
        self.bar.setAccessibleName("Re-ranking model download")
        self.bar.setTextVisible(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_download)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        self.download_row = QWidget()
        self.download_row.setLayout(row)
        self.download_row.hide()
        self.status.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo)
        layout.addWidget(self.download_row)
        layout.addWidget(self.status)
        if bridge is not None:
            bridge.engine_event.connect(self._on_event)
            bridge.failed.connect(self._on_failed)

    # -- the choice ---------------------------------------------------------------------------
    def choice(self) -> str:
        """The setting as chosen: the starter id or a model folder."""
        return str(self.combo.currentData())

    def choice_problem(self) -> str:
        """Why the choice cannot be saved ("" when it can)."""
        if self.downloading():
            return "Wait for the re-ranking model download to finish, or cancel it."
        return reranker_problem(self.choice())

    def select(self, choice: str) -> None:
        """Select ``choice`` (the starter id or a folder), adding it to the list."""
        at = self.combo.findData(choice)
        if at < 0:
            at = self.combo.findData(_OTHER)  # before "Other folder…"
            self.combo.insertItem(at, _label(Path(choice)), choice)
        self.combo.setCurrentIndex(at)
        self._last = at

    def _on_activated(self, index: int) -> None:
        data = self.combo.itemData(index)
        if data not in (_OTHER, _DOWNLOAD):
            self._last = index
            return
        self.combo.setCurrentIndex(self._last)
        if data == _OTHER:
            folder = QFileDialog.getExistingDirectory(
                self, "Choose a folder with model.onnx and tokenizer.json", str(Path.home())
            )
            if folder:
                self.select(folder)
            return
        repo, ok = QInputDialog.getItem(
            self,
            "Download a re-ranking model",
            "Hugging Face repository (owner/name) holding a cross-encoder exported to ONNX\n"
            "(onnx/model.onnx or model.onnx, and tokenizer.json). Suggestions, not tested\n"
            "by Lectern; it tries the model before installing it:",
            list(SUGGESTED_REPOS),
            0,
            True,
        )
        if ok and repo.strip():
            self.start_download(repo.strip())

    # -- downloading --------------------------------------------------------------------------
    def downloading(self) -> bool:
        return self._repo is not None

    def start_download(self, repo_id: str) -> None:
        """Fetch ``repo_id`` through the bridge; progress shows under the list."""
        if self.bridge is None or self.downloading():
            return
        self._repo = repo_id
        self.bar.setRange(0, 0)  # busy until the first progress event
        self.bar.setFormat(f"{repo_id}: connecting…")
        self.download_row.show()
        self.status.hide()
        self.combo.setEnabled(False)
        self._fit()
        self.started.emit()
        self.bridge.stream(TAG_PREFIX + repo_id, self.engine.download_reranker(repo_id))

    def cancel_download(self) -> None:
        if self._repo is not None:
            self.engine.cancel_download(self._repo, None)

    def _end_download(self, status: str) -> None:
        self._repo = None
        self.download_row.hide()
        self.combo.setEnabled(True)
        self.status.setText(status)
        self.status.setVisible(bool(status))
        self._fit()

    def _fit(self) -> None:
        """Let the window grow for the download row or the status line (never squeeze)."""
        window = self.window()
        layout = window.layout()
        if layout is not None:
            layout.activate()
        window.resize(window.width(), max(window.height(), window.sizeHint().height()))

    def _on_event(self, tag: str, event: Event) -> None:
        if self._repo is None or tag != TAG_PREFIX + self._repo:
            return
        if isinstance(event, DownloadProgress):
            total = max(1, event.bytes_total)
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * event.bytes_done / total))
            self.bar.setFormat(
                f"{self._repo}: {event.bytes_done / 1e6:.0f} of {total / 1e6:.0f} MB"
            )
            if event.bytes_done >= total:
                self.bar.setRange(0, 0)
                self.bar.setFormat(f"{self._repo}: trying the model…")
        elif isinstance(event, RerankerInstalled):
            self._end_download(f"{_label(event.folder)} is installed: Save to use it.")
            self.select(str(event.folder))
            self.installed.emit(event.folder)
        elif isinstance(event, Failed):
            hint = f" ({event.error.hint})" if event.error.hint else ""
            self._end_download("")
            self.problem.emit(f"{event.error.message}{hint}")
        elif isinstance(event, Done) and event.cancelled:
            self._end_download("Download cancelled; downloading it again resumes it.")

    def _on_failed(self, tag: str, exc: object) -> None:
        if self._repo is not None and tag == TAG_PREFIX + self._repo:
            self._end_download("")
            self.problem.emit(f"The download failed: {exc}")

    def close_download(self) -> None:
        """The dialog closes: stop a running download (its partial files stay)."""
        self.cancel_download()
        bridge, self.bridge = self.bridge, None
        if bridge is not None:
            bridge.engine_event.disconnect(self._on_event)
            bridge.failed.disconnect(self._on_failed)
