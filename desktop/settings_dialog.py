"""The settings dialog: the typed settings of ``core.settings``, validated before saving.

Bounds and descriptions come from the pydantic models themselves (spin-box
ranges, tooltips), so the dialog and the settings file cannot disagree. What
a field cannot check alone (an overlap at least as large as the chunk, an
embedding or re-ranking model folder that holds no model) is checked here and shown next
to the buttons; nothing is saved until everything is valid. A change of
embedding model or chunking makes existing indexes stale: the dialog offers
to re-index (``reindex_requested``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.engine import Engine
from core.errors import LecternError
from core.settings import GenerationSettings, RetrievalSettings, Settings
from desktop.bridge import EngineBridge
from desktop.reranker_choice import RerankerChoice

STARTER_EMBEDDER = "starter:all-MiniLM-L6-v2"
_OTHER = "__other__"


def _bounds(model: type[BaseModel], name: str) -> tuple[float | None, float | None]:
    """(lower, upper) bound of a pydantic field, from its ge/gt/le/lt constraints."""
    lo: float | None = None
    hi: float | None = None
    for m in model.model_fields[name].metadata:
        for attr in ("ge", "gt"):
            if getattr(m, attr, None) is not None:
                lo = float(getattr(m, attr))
        for attr in ("le", "lt"):
            if getattr(m, attr, None) is not None:
                hi = float(getattr(m, attr))
    return lo, hi


def _describe(model: type[BaseModel], name: str) -> str:
    return model.model_fields[name].description or ""


def _int_box(model: type[BaseModel], name: str) -> QSpinBox:
    lo, hi = _bounds(model, name)
    box = QSpinBox()
    box.setRange(int(lo) if lo is not None else 0, int(hi) if hi is not None else 1_000_000)
    box.setToolTip(_describe(model, name))
    box.setAccessibleName(name)
    return box


def _float_box(model: type[BaseModel], name: str, decimals: int = 2) -> QDoubleSpinBox:
    lo, hi = _bounds(model, name)
    box = QDoubleSpinBox()
    box.setDecimals(decimals)
    box.setSingleStep(0.05)
    box.setRange(lo if lo is not None else -1e9, hi if hi is not None else 1e9)
    box.setToolTip(_describe(model, name))
    box.setAccessibleName(name)
    return box


def embedder_problem(choice: str) -> str:
    """Why ``choice`` is not a usable embedding model setting ("" when it is)."""
    if choice == STARTER_EMBEDDER:
        return ""
    path = Path(choice).expanduser()
    if not path.is_dir():
        return f"The embedding model folder {choice} does not exist."
    if not ((path / "modules.json").exists() or (path / "config.json").exists()):
        return (
            f"{path.name} is not a sentence-transformers model folder "
            "(it has no modules.json or config.json)."
        )
    return ""


def local_embedders(embedders_dir: Path) -> list[Path]:
    """Embedding model folders already in the data directory (besides the starter)."""
    if not embedders_dir.is_dir():
        return []
    found = []
    for d in sorted(embedders_dir.iterdir()):
        if d.is_dir() and not d.name.startswith(".") and not embedder_problem(str(d)):
            found.append(d)
    return found


class SettingsDialog(QDialog):
    """Edits ``engine.settings`` (retrieval and generation defaults) and saves them."""

    saved = Signal(object)  # the new Settings
    reindex_requested = Signal()

    def __init__(
        self, engine: Engine, parent: QWidget | None = None, bridge: EngineBridge | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings — Lectern")
        self.setObjectName("settingsDialog")
        self.engine = engine
        self.reindex_offer: QMessageBox | None = None
        s = engine.settings
        r, g = s.retrieval, s.generation

        # -- documents and search
        self.embedder = QComboBox()
        self.embedder.setAccessibleName("Embedding model")
        self.embedder.setToolTip(_describe(RetrievalSettings, "embedder"))
        self.embedder.addItem("all-MiniLM-L6-v2 (starter, offline)", STARTER_EMBEDDER)
        starter_dir = engine.paths.embedders_dir / "all-MiniLM-L6-v2"
        for d in local_embedders(engine.paths.embedders_dir):
            if d != starter_dir:
                self.embedder.addItem(d.name, str(d))
        if r.embedder != STARTER_EMBEDDER and self.embedder.findData(r.embedder) < 0:
            self.embedder.addItem(Path(r.embedder).name or r.embedder, r.embedder)
        self.embedder.addItem("Other folder…", _OTHER)
        self.embedder.setCurrentIndex(max(0, self.embedder.findData(r.embedder)))
        self._last_embedder = self.embedder.currentIndex()
        self.embedder.activated.connect(self._on_embedder_activated)

        self.chunk_tokens = _int_box(RetrievalSettings, "chunk_tokens")
        self.chunk_tokens.setSuffix(" tokens")
        self.chunk_tokens.setValue(r.chunk_tokens)
        self.chunk_overlap = _int_box(RetrievalSettings, "chunk_overlap_tokens")
        self.chunk_overlap.setSuffix(" tokens")
        self.chunk_overlap.setValue(r.chunk_overlap_tokens)
        self.top_k = _int_box(RetrievalSettings, "top_k")
        self.top_k.setSuffix(" passages")
        self.top_k.setValue(r.top_k)
        self.threshold = _float_box(RetrievalSettings, "relevance_threshold")
        self.threshold.setValue(r.relevance_threshold)
        self.rerank = QCheckBox(
            "Re-read the best passages with a cross-encoder (slower, more accurate)"
        )
        self.rerank.setAccessibleName("Re-rank passages for questions")
        self.rerank.setToolTip(_describe(RetrievalSettings, "rerank"))
        self.rerank.setChecked(r.rerank)
        if engine.documents.reranker_problem:
            self.rerank.setToolTip(f"Not available now: {engine.documents.reranker_problem}")
        self.spelling = QCheckBox("Correct misspelled words in questions (“buld” → “build”)")
        self.spelling.setAccessibleName("Correct misspelled words in questions")
        self.spelling.setToolTip(_describe(RetrievalSettings, "correct_spelling"))
        self.spelling.setChecked(r.correct_spelling)
        self.reranker = RerankerChoice(engine, bridge)
        self.reranker.problem.connect(self._show_error)
        self.reranker.installed.connect(self._hide_error)
        self.reranker.started.connect(self._hide_error)

        docs = QGroupBox("Documents and search")
        df = QFormLayout(docs)
        df.addRow("Embedding model", self.embedder)
        df.addRow("Chunk size", self.chunk_tokens)
        df.addRow("Chunk overlap", self.chunk_overlap)
        df.addRow("Passages per question", self.top_k)
        df.addRow("Relevance threshold", self.threshold)
        df.addRow("Spelling", self.spelling)
        df.addRow("Re-ranking", self.rerank)
        df.addRow("Re-ranking model", self.reranker)

        # -- answers
        self.system_prompt = QPlainTextEdit(g.system_prompt)
        self.system_prompt.setAccessibleName("Default system prompt")
        self.system_prompt.setToolTip(_describe(GenerationSettings, "system_prompt"))
        self.system_prompt.setMaximumHeight(90)
        self.threads = _int_box(GenerationSettings, "n_threads")
        self.threads.setMinimum(0)
        self.threads.setSpecialValueText("Automatic (physical cores)")
        self.threads.setValue(g.n_threads or 0)
        answers = QGroupBox("Answers")
        af = QFormLayout(answers)
        af.addRow("Default system prompt", self.system_prompt)
        af.addRow("CPU threads", self.threads)

        # -- where things are
        self.data_dir = QLineEdit(str(engine.paths.root))
        self.data_dir.setReadOnly(True)
        self.data_dir.setAccessibleName("Data directory")
        self.data_dir.setToolTip(
            "Everything Lectern keeps (models, indexes, conversations). Change it with "
            "--data-dir or the LECTERN_HOME environment variable."
        )
        show_dir = QPushButton("Show")
        show_dir.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(engine.paths.root)))
        )
        where_row = QHBoxLayout()
        where_row.addWidget(self.data_dir, 1)
        where_row.addWidget(show_dir)
        where = QGroupBox("Data")
        wf = QFormLayout(where)
        wf.addRow("Data directory", where_row)

        self.error = QLabel()
        self.error.setObjectName("settingsError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #cf222e;")
        self.error.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        for w in (docs, answers, where, self.error, self.buttons):
            layout.addWidget(w)
        self.resize(560, self.sizeHint().height())

    # -- choosing an embedder folder -----------------------------------------------
    def _on_embedder_activated(self, index: int) -> None:
        if self.embedder.itemData(index) != _OTHER:
            self._last_embedder = index
            return
        folder = QFileDialog.getExistingDirectory(
            self, "Choose a sentence-transformers model folder", str(self.engine.paths.root)
        )
        if folder:
            self.set_embedder(folder)
        else:
            self.embedder.setCurrentIndex(self._last_embedder)

    def set_embedder(self, choice: str) -> None:
        """Select ``choice`` (the starter id or a model folder), adding it to the list."""
        at = self.embedder.findData(choice)
        if at < 0:
            at = self.embedder.count() - 1  # before "Other folder…"
            self.embedder.insertItem(at, Path(choice).name or choice, choice)
        self.embedder.setCurrentIndex(at)
        self._last_embedder = at

    # -- validation and saving ----------------------------------------------------------
    def candidate(self) -> Settings:
        """The settings as entered; raises ``ValueError`` (incl. ValidationError) if invalid."""
        current = self.engine.settings
        embedder = str(self.embedder.currentData())
        problem = embedder_problem(embedder)
        if problem:
            raise ValueError(problem)
        problem = self.reranker.choice_problem()
        if problem:
            raise ValueError(problem)
        if self.chunk_overlap.value() >= self.chunk_tokens.value():
            raise ValueError(
                f"The chunk overlap ({self.chunk_overlap.value()} tokens) must be smaller than "
                f"the chunk size ({self.chunk_tokens.value()} tokens)."
            )
        if not self.system_prompt.toPlainText().strip():
            raise ValueError("The default system prompt cannot be empty.")
        raw: dict[str, Any] = json.loads(current.model_dump_json())
        raw["retrieval"].update(
            embedder=embedder,
            chunk_tokens=self.chunk_tokens.value(),
            chunk_overlap_tokens=self.chunk_overlap.value(),
            top_k=self.top_k.value(),
            relevance_threshold=round(self.threshold.value(), 4),
            rerank=self.rerank.isChecked(),
            reranker=self.reranker.choice(),
            correct_spelling=self.spelling.isChecked(),
        )
        raw["generation"].update(
            system_prompt=self.system_prompt.toPlainText().strip(),
            n_threads=self.threads.value() or None,
        )
        return Settings.model_validate(raw)

    def accept(self) -> None:
        """Validate, save, and offer re-indexing when the index would be stale."""
        try:
            new = self.candidate()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            self._show_error(f"{where}: {first['msg']}")
            return
        except ValueError as exc:
            self._show_error(str(exc))
            return
        old = self.engine.settings
        self.engine.settings = new
        try:
            self.engine.save_settings()
        except (OSError, LecternError) as exc:
            self.engine.settings = old
            self._show_error(f"The settings could not be saved: {exc}")
            return
        self.error.hide()
        self.saved.emit(new)
        stale = (
            old.retrieval.embedder != new.retrieval.embedder
            or old.retrieval.chunk_tokens != new.retrieval.chunk_tokens
            or old.retrieval.chunk_overlap_tokens != new.retrieval.chunk_overlap_tokens
        )
        if stale:
            self._offer_reindex(old.retrieval.embedder != new.retrieval.embedder)
        else:
            super().accept()

    def _offer_reindex(self, embedder_changed: bool) -> None:
        what = "embedding model" if embedder_changed else "chunking"
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Re-index documents?",
            f"The {what} changed. Documents indexed before still use the old one"
            + (" and cannot be searched together with new ones." if embedder_changed else ".")
            + "\n\nRe-index all libraries now? This runs in the background.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.button(QMessageBox.StandardButton.Yes).setText("Re-index now")
        box.button(QMessageBox.StandardButton.No).setText("Later")
        self.reindex_offer = box

        def answered(result: int) -> None:
            if result == QMessageBox.StandardButton.Yes:
                self.reindex_requested.emit()
            QDialog.accept(self)

        box.finished.connect(answered)
        box.open()

    def done(self, result: int) -> None:
        """Closing (saved or not) stops a re-ranker download still running."""
        self.reranker.close_download()
        super().done(result)

    def _hide_error(self, *_args: object) -> None:
        self.error.hide()

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()
