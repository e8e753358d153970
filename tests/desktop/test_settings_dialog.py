"""The settings dialog saves typed settings, refuses invalid ones, and offers re-indexing."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from core.engine import Engine
from core.settings import load_settings
from desktop.settings_dialog import STARTER_EMBEDDER, SettingsDialog


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread() -> Iterator[None]:
    """Dialogs left for the garbage collector must die here, not later in a worker thread."""
    yield
    gc.collect()


def test_saves_typed_settings(qtbot: QtBot, data_dir: Path) -> None:
    engine = Engine(data_dir)
    dialog = SettingsDialog(engine)
    qtbot.addWidget(dialog)
    assert dialog.data_dir.isReadOnly()
    assert dialog.data_dir.text() == str(engine.paths.root)
    # spin-box bounds come from the pydantic fields
    assert dialog.top_k.maximum() == 50
    assert dialog.chunk_tokens.minimum() == 32
    dialog.top_k.setValue(9)
    dialog.threshold.setValue(0.35)
    dialog.system_prompt.setPlainText("Answer like a librarian.")
    dialog.threads.setValue(3)
    assert dialog.rerank.isChecked()  # re-ranking is on by default
    dialog.rerank.setChecked(False)
    assert dialog.spelling.isChecked()  # so is spelling correction
    dialog.spelling.setChecked(False)
    with qtbot.waitSignal(dialog.saved):
        dialog.accept()
    assert dialog.result() == dialog.DialogCode.Accepted
    saved = load_settings(engine.paths.settings_file)
    assert saved.retrieval.top_k == 9
    assert saved.retrieval.relevance_threshold == 0.35
    assert saved.generation.system_prompt == "Answer like a librarian."
    assert saved.generation.n_threads == 3
    assert saved.retrieval.rerank is False
    assert saved.retrieval.correct_spelling is False
    assert engine.documents.params().correct_spelling is False  # searches use it at once
    assert engine.settings == saved
    # "Automatic" threads is stored as no value, not 0
    again = SettingsDialog(engine)
    qtbot.addWidget(again)
    assert again.threads.value() == 3
    assert not again.rerank.isChecked() and not again.spelling.isChecked()
    again.threads.setValue(0)
    again.accept()
    assert load_settings(engine.paths.settings_file).generation.n_threads is None


def test_rejects_invalid_values(qtbot: QtBot, data_dir: Path, tmp_path: Path) -> None:
    engine = Engine(data_dir)
    engine.save_settings()
    before = engine.paths.settings_file.read_text()
    dialog = SettingsDialog(engine)
    qtbot.addWidget(dialog)

    dialog.chunk_tokens.setValue(100)
    dialog.chunk_overlap.setValue(150)
    dialog.accept()
    assert dialog.error.isVisibleTo(dialog)
    assert "overlap" in dialog.error.text()
    assert dialog.result() != dialog.DialogCode.Accepted
    dialog.chunk_overlap.setValue(20)

    dialog.set_embedder(str(tmp_path / "no-such-model"))
    dialog.accept()
    assert "does not exist" in dialog.error.text()
    not_a_model = tmp_path / "holiday-photos"
    not_a_model.mkdir()
    dialog.set_embedder(str(not_a_model))
    dialog.accept()
    assert "not a sentence-transformers model" in dialog.error.text()
    dialog.set_embedder(STARTER_EMBEDDER)

    dialog.system_prompt.setPlainText("   ")
    dialog.accept()
    assert "system prompt" in dialog.error.text()

    assert engine.paths.settings_file.read_text() == before  # nothing saved
    assert engine.settings.retrieval.chunk_tokens != 100


def test_changing_the_embedder_offers_reindexing(
    qtbot: QtBot, data_dir: Path, starter_embedder: Path
) -> None:
    engine = Engine(data_dir)
    dialog = SettingsDialog(engine)
    qtbot.addWidget(dialog)
    dialog.set_embedder(str(starter_embedder))  # the same model, as a folder: still a change
    requested: list[bool] = []
    dialog.reindex_requested.connect(lambda: requested.append(True))
    dialog.accept()
    assert dialog.reindex_offer is not None
    assert dialog.reindex_offer.isVisible()
    assert json.loads(engine.paths.settings_file.read_text())["retrieval"]["embedder"] == str(
        starter_embedder
    )
    dialog.reindex_offer.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: dialog.result() == dialog.DialogCode.Accepted)
    assert requested == [True]

    # changing only the top-k does not make indexes stale: no offer
    second = SettingsDialog(engine)
    qtbot.addWidget(second)
    second.top_k.setValue(4)
    second.accept()
    assert second.reindex_offer is None
