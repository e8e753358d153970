"""The settings dialog's re-ranking model: chosen from the list, or downloaded from the
(fake) Hub with progress, cancel and resume; a model that is not a cross-encoder is
refused with the reason and changes nothing."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from core.engine import Engine
from core.models.rerankers import SUGGESTED_REPOS
from core.settings import load_settings
from desktop import reranker_choice
from desktop.bridge import EngineBridge
from desktop.reranker_choice import STARTER_RERANKER
from desktop.settings_dialog import SettingsDialog
from tests.core.models import conftest as models_fixtures
from tests.core.models import test_rerankers as reranker_fixtures
from tests.core.models.fake_hub import FakeHub
from tests.core.models.test_rerankers import EMBEDDER_REPO, RERANKER_REPO
from tests.desktop.conftest import SCREENSHOTS, AsyncQt

# the fake Hub and what it serves, from the models tests
fake_hub = models_fixtures.fake_hub
tiny_ggufs = models_fixtures.tiny_ggufs
starter_sha256 = models_fixtures.starter_sha256
starter_reranker = reranker_fixtures.starter_reranker
hub = reranker_fixtures.hub


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread() -> Iterator[None]:
    yield
    gc.collect()


def test_a_reranker_is_downloaded_from_the_dialog_and_saved(
    qtbot: QtBot, aqt: AsyncQt, data_dir: Path, hub: FakeHub
) -> None:
    engine = Engine(data_dir)
    bridge = EngineBridge(engine)
    dialog = SettingsDialog(engine, bridge=bridge)
    qtbot.addWidget(dialog)
    dialog.show()
    choice = dialog.reranker
    items = [choice.combo.itemText(i) for i in range(choice.combo.count())]
    assert items == [
        "ms-marco-MiniLM-L-12-v2 (starter, offline)",
        "Other folder…",
        "Download from Hugging Face…",
    ]
    assert choice.choice() == STARTER_RERANKER

    # 1. not a cross-encoder: refused with the reason, the choice unchanged
    choice.start_download(EMBEDDER_REPO)
    aqt.until(lambda: not choice.downloading())
    assert dialog.error.isVisible()
    assert "is not a re-ranking model Lectern can run" in dialog.error.text()
    assert choice.choice() == STARTER_RERANKER and choice.combo.isEnabled()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert dialog.grab().save(str(SCREENSHOTS / "settings-reranker-refused.png"))

    # 2. a slow download shows its progress and can be cancelled...
    hub.switches.delay_per_block_s = 0.03
    choice.start_download(RERANKER_REPO)
    assert not choice.combo.isEnabled()
    assert not dialog.error.isVisible()  # the refusal above no longer applies
    aqt.until(lambda: choice.bar.maximum() == 1000 and choice.bar.value() > 0)
    assert "MB" in choice.bar.format()
    assert dialog.grab().save(str(SCREENSHOTS / "settings-reranker-progress.png"))
    with pytest.raises(ValueError, match="Wait for the re-ranking model download"):
        dialog.candidate()  # nothing is saved while it runs
    choice.cancel_download()
    aqt.until(lambda: not choice.downloading())
    assert "cancelled" in choice.status.text()
    assert choice.choice() == STARTER_RERANKER

    # 3. ...and resumes: installed, selected, saved with the dialog
    hub.switches.delay_per_block_s = 0.0
    choice.start_download(RERANKER_REPO)
    aqt.until(lambda: not choice.downloading(), timeout=120)
    folder = engine.paths.rerankers_dir / "lectern-test--ms-marco-MiniLM-L-12-v2-onnx"
    assert choice.choice() == str(folder)
    assert "Save to use it" in choice.status.text()
    assert not dialog.error.isVisible()
    ranges = [r["headers"].get("range") for r in hub.requests("GET", "/cdn/")]
    assert any(r and not r.startswith("bytes=0-") for r in ranges)  # resumed, not restarted
    assert dialog.grab().save(str(SCREENSHOTS / "settings-reranker.png"))
    with qtbot.waitSignal(dialog.saved):
        dialog.accept()
    assert load_settings(engine.paths.settings_file).retrieval.reranker == str(folder)

    # the next dialog lists it by its repository and shows it chosen
    again = SettingsDialog(engine, bridge=bridge)
    qtbot.addWidget(again)
    assert again.reranker.combo.currentText() == RERANKER_REPO
    assert again.reranker.choice() == str(folder)
    again.reranker.select(STARTER_RERANKER)
    again.accept()
    assert load_settings(engine.paths.settings_file).retrieval.reranker == STARTER_RERANKER
    aqt.run(engine.close())


def test_a_folder_that_is_not_a_reranker_is_not_saved(
    qtbot: QtBot, data_dir: Path, tmp_path: Path
) -> None:
    engine = Engine(data_dir)
    dialog = SettingsDialog(engine)  # no bridge: no download entry
    qtbot.addWidget(dialog)
    texts = [dialog.reranker.combo.itemText(i) for i in range(dialog.reranker.combo.count())]
    assert "Download from Hugging Face…" not in texts
    half = tmp_path / "half-model"
    half.mkdir()
    (half / "model.onnx").write_bytes(b"x")
    dialog.reranker.select(str(half))
    dialog.accept()
    assert not dialog.error.isHidden() and "tokenizer.json" in dialog.error.text()
    assert not engine.paths.settings_file.exists() or (
        load_settings(engine.paths.settings_file).retrieval.reranker == STARTER_RERANKER
    )


def test_the_download_entry_offers_suggestions_and_starts_the_chosen_one(
    qtbot: QtBot, aqt: AsyncQt, data_dir: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[list[str]] = []

    def get_item(*args: object) -> tuple[str, bool]:
        items = args[3]
        assert isinstance(items, list)
        asked.append(items)
        return f"  {RERANKER_REPO} ", True  # typed over a suggestion

    monkeypatch.setattr(reranker_choice.QInputDialog, "getItem", get_item)
    engine = Engine(data_dir)
    dialog = SettingsDialog(engine, bridge=EngineBridge(engine))
    qtbot.addWidget(dialog)
    combo = dialog.reranker.combo
    combo.setCurrentIndex(combo.findText("Download from Hugging Face…"))
    combo.activated.emit(combo.currentIndex())
    assert asked == [list(SUGGESTED_REPOS)]
    assert dialog.reranker.downloading()
    assert dialog.reranker.choice() == STARTER_RERANKER  # the entry itself is never chosen
    aqt.until(lambda: not dialog.reranker.downloading(), timeout=120)
    assert dialog.reranker.combo.currentText() == RERANKER_REPO
    aqt.run(engine.close())
