"""Downloads: one row per file with a progress bar, speed, time left, cancel and resume.

A row's download is the bridge stream ``download:<repo>/<file>``. Cancel keeps
the partial file (the engine's downloader resumes it from the last byte);
partial files found at start-up (an earlier cancel, a crash, a closed
window) appear as paused rows with a Resume button.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.events import Done, Event, Failed
from core.models.downloads import DownloadFinished, DownloadProgress, PartialDownload
from core.models.registry import ModelRecord
from desktop.bridge import EngineBridge
from desktop.errors import error_text
from desktop.models.formatting import human_size, progress_line


def download_tag(repo_id: str, filename: str) -> str:
    return f"download:{repo_id}/{filename}"


class DownloadRow(QFrame):
    """One download's progress and its buttons."""

    def __init__(self, repo_id: str, filename: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.repo_id = repo_id
        self.filename = filename
        self.state = "starting"  # running | paused | failed | done
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(f"<b>{filename}</b>")
        self.title.setToolTip(f"{repo_id}/{filename}")
        self.title.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setAccessibleName(f"Download progress of {filename}")
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(10)
        self.detail = QLabel("Starting…")
        self.detail.setAccessibleName("Download status")
        self.detail.setWordWrap(True)
        self.detail.setStyleSheet("font-size: 11px;")
        self.action = QPushButton("Cancel")
        self.action.setAccessibleName(f"Cancel or resume {filename}")
        self.dismiss = QPushButton("Remove")
        self.dismiss.setAccessibleName(f"Remove {filename} from the list")
        self.dismiss.hide()
        row = QHBoxLayout()
        row.addWidget(self.detail, 1)
        row.addWidget(self.action)
        row.addWidget(self.dismiss)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.bar)
        layout.addLayout(row)

    def show_progress(self, ev: DownloadProgress) -> None:
        self.state = "running"
        total = max(ev.bytes_total, 1)
        self.bar.setValue(int(1000 * ev.bytes_done / total))
        self.detail.setText(progress_line(ev.bytes_done, ev.bytes_total, ev.speed_bps, ev.eta_s))
        self.action.setText("Cancel")
        self.action.setEnabled(True)

    def show_paused(self, done: int, total: int, note: str = "Paused") -> None:
        self.state = "paused"
        if total:
            self.bar.setValue(int(1000 * done / total))
        self.detail.setText(f"{note} at {human_size(done)} of {human_size(total)}")
        self.action.setText("Resume")
        self.action.setEnabled(True)

    def show_failed(self, message: str, hint: str) -> None:
        self.state = "failed"
        self.detail.setText(f"{message} {hint[:1].upper() + hint[1:]}".strip())
        self.action.setText("Retry")
        self.action.setEnabled(True)
        self.dismiss.show()

    def show_done(self, record: ModelRecord) -> None:
        self.state = "done"
        self.bar.setValue(1000)
        self.detail.setText(f"Installed: {record.name} ({human_size(record.size_bytes)})")
        self.action.hide()
        self.dismiss.show()


class DownloadsView(QWidget):
    """The list of downloads; emits ``model_installed(record)`` when one finishes."""

    model_installed = Signal(object)  # ModelRecord
    has_rows_changed = Signal(bool)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.rows: dict[tuple[str, str], DownloadRow] = {}
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.heading = QLabel("<b>Downloads</b>")
        self._layout.addWidget(self.heading)
        bridge.engine_event.connect(self._on_event)
        bridge.failed.connect(self._on_failed)
        bridge.finished.connect(self._on_finished)

    def start(self) -> None:
        """Show interrupted downloads as paused rows (after the window is shown)."""
        self.bridge.submit(
            "downloads-partials", self.bridge.engine.partial_downloads(), on_done=self._partials
        )

    def _partials(self, partials: list[PartialDownload]) -> None:
        grouped: dict[tuple[str, str], tuple[int, int]] = {}
        for p in partials:
            done, total = grouped.get((p.repo_id, p.filename), (0, 0))
            grouped[(p.repo_id, p.filename)] = (done + p.bytes_done, total + p.size)
        for (repo, name), (done, total) in grouped.items():
            if not self.bridge.busy(download_tag(repo, name)):
                self._row(repo, name).show_paused(done, total, "Interrupted")

    def download(self, repo_id: str, filename: str) -> DownloadRow:
        """Start (or resume) a download; returns its row."""
        row = self._row(repo_id, filename)
        tag = download_tag(repo_id, filename)
        if self.bridge.busy(tag):
            return row
        row.state = "running"
        row.detail.setText("Connecting…")
        row.action.setText("Cancel")
        row.dismiss.hide()
        row.action.show()
        self.bridge.stream(tag, self.bridge.engine.download_model(repo_id, filename))
        return row

    def cancel(self, repo_id: str, filename: str) -> None:
        """Stop a download; the partial file stays for Resume."""
        self.bridge.engine.cancel_download(repo_id, filename)
        row = self.rows.get((repo_id, filename))
        if row is not None:
            row.detail.setText("Cancelling…")
            row.action.setEnabled(False)

    def _row(self, repo_id: str, filename: str) -> DownloadRow:
        key = (repo_id, filename)
        row = self.rows.get(key)
        if row is None:
            row = DownloadRow(repo_id, filename)
            row.action.clicked.connect(lambda: self._on_action(key))
            row.dismiss.clicked.connect(lambda: self._remove(key))
            self.rows[key] = row
            self._layout.addWidget(row)
            self.has_rows_changed.emit(True)
        return row

    def _remove(self, key: tuple[str, str]) -> None:
        row = self.rows.pop(key, None)
        if row is not None:
            self._layout.removeWidget(row)
            row.deleteLater()
        self.has_rows_changed.emit(bool(self.rows))

    def _on_action(self, key: tuple[str, str]) -> None:
        row = self.rows[key]
        if row.state == "running":
            self.cancel(*key)
        else:
            self.download(*key)

    def _key(self, tag: str) -> tuple[str, str] | None:
        for key in self.rows:
            if download_tag(*key) == tag:
                return key
        return None

    def _on_event(self, tag: str, ev: Event) -> None:
        if not tag.startswith("download:"):
            return
        key = self._key(tag)
        if key is None:
            return
        row = self.rows[key]
        if isinstance(ev, DownloadProgress):
            row.show_progress(ev)
        elif isinstance(ev, DownloadFinished):
            row.show_done(ev.record)
            self.model_installed.emit(ev.record)
        elif isinstance(ev, Done) and ev.cancelled:
            row.state = "paused"
            row.detail.setText("Cancelled: the part already downloaded is kept.")
            row.action.setText("Resume")
            row.action.setEnabled(True)
        elif isinstance(ev, Failed):
            row.show_failed(ev.error.message, ev.error.hint)

    def _on_failed(self, tag: str, error: BaseException) -> None:
        key = self._key(tag)
        if key is not None:
            self.rows[key].show_failed(*error_text(error))

    def _on_finished(self, tag: str) -> None:
        key = self._key(tag)
        if key is not None and self.rows[key].state in ("running", "starting"):
            # the stream ended without a final event (it was cancelled from outside)
            self.rows[key].state = "paused"
            self.rows[key].action.setText("Resume")
            self.rows[key].action.setEnabled(True)
