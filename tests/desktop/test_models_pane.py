"""The model picker: catalog, Hub search and downloads against the local fake Hub."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QTreeWidget, QTreeWidgetItem
from pytestqt.qtbot import QtBot

from core.engine import Engine
from desktop.bridge import EngineBridge
from desktop.models.formatting import human_eta, progress_line
from desktop.models.settings_dialog import ModelSettingsDialog, sampling_for
from desktop.panes.models_pane import ModelsPane
from tests.core.models import conftest as models_fixtures
from tests.core.models.conftest import STARTER_FILE, STARTER_REPO, other_apps_models
from tests.core.models.fake_hub import FakeHub
from tests.desktop.conftest import AsyncQt

# the fake Hub and the files it serves, from the models tests
fake_hub = models_fixtures.fake_hub
tiny_ggufs = models_fixtures.tiny_ggufs
starter_sha256 = models_fixtures.starter_sha256


def top(tree: QTreeWidget, i: int) -> QTreeWidgetItem:
    item = tree.topLevelItem(i)
    assert item is not None
    return item


def child(item: QTreeWidgetItem, i: int) -> QTreeWidgetItem:
    c = item.child(i)
    assert c is not None
    return c


def make_pane(qtbot: QtBot, engine: Engine) -> ModelsPane:
    pane = ModelsPane(EngineBridge(engine))
    qtbot.addWidget(pane)
    pane.resize(420, 700)
    pane.show()
    pane.start()
    return pane


def test_progress_wording() -> None:
    assert progress_line(120_000_000, 253_000_000, 12_500_000, 10.6) == (
        "120 MB of 253 MB · 12 MB/s · 11 s left"
    )
    assert human_eta(3725) == "1 h 2 min left"
    assert human_eta(None) == ""


def test_catalog_lists_files_with_size_quant_and_fit(
    qtbot: QtBot, aqt: AsyncQt, data_dir: Path
) -> None:
    engine = Engine(data_dir)
    pane = make_pane(qtbot, engine)
    tree = pane.catalog.tree
    assert tree.topLevelItemCount() == len(engine.catalog()) > 0
    first = engine.catalog()[0]
    first_item = top(tree, 0)
    assert first.name in first_item.text(0)
    file_item = child(first_item, 0)
    assert file_item.text(0).startswith(first.files[0].quantization)
    assert first.files[0].filename in file_item.toolTip(0)
    assert file_item.text(1).endswith(("MB", "GB"))
    assert file_item.text(2)  # the planner's label, or "—" before the hardware is known
    # the model's own row shows its recommended file's size and fit
    recommended = next(
        child(first_item, i)
        for i, f in enumerate(first.files)
        if f.quantization == first.recommended_quantization
    )
    assert "recommended" in recommended.text(0)
    assert (first_item.text(1), first_item.text(2)) == (recommended.text(1), recommended.text(2))
    assert first_item.text(1).endswith(("MB", "GB"))
    # choosing a file and pressing Download asks for exactly that file
    asked: list[tuple[str, str]] = []
    pane.catalog.download_requested.connect(lambda r, f: asked.append((r, f)))
    tree.setCurrentItem(file_item)
    pane.catalog.download_button.click()
    assert asked == [(first.repo_id, first.files[0].filename)]


def test_hub_search_lists_repositories_and_their_files(
    qtbot: QtBot, aqt: AsyncQt, data_dir: Path, fake_hub: FakeHub
) -> None:
    pane = make_pane(qtbot, Engine(data_dir))
    hub = pane.hub
    hub.query.setText("gemma")
    hub.search_button.click()
    aqt.until(lambda: hub.tree.topLevelItemCount() > 0)
    repos = [top(hub.tree, i).text(0) for i in range(hub.tree.topLevelItemCount())]
    assert STARTER_REPO in repos
    item = top(hub.tree, repos.index(STARTER_REPO))
    item.setExpanded(True)

    def files() -> list[QTreeWidgetItem]:
        return [child(item, i) for i in range(item.childCount())]

    def is_starter(c: QTreeWidgetItem) -> bool:
        return c.data(0, Qt.ItemDataRole.UserRole) == (STARTER_REPO, STARTER_FILE)

    aqt.until(lambda: any(is_starter(c) for c in files()))
    (gguf,) = [c for c in files() if is_starter(c)]
    assert (gguf.text(0), gguf.text(1)) == ("Q4_K_M", "253 MB")
    assert gguf.toolTip(0) == STARTER_FILE


def test_download_shows_progress_cancels_and_resumes(
    qtbot: QtBot, aqt: AsyncQt, data_dir: Path, fake_hub: FakeHub, starter_gguf: Path
) -> None:
    engine = Engine(data_dir)
    pane = make_pane(qtbot, engine)
    fake_hub.switches.delay_per_block_s = 0.02  # slow enough to watch and cancel
    pane.download(STARTER_REPO, STARTER_FILE)
    row = pane.downloads.rows[(STARTER_REPO, STARTER_FILE)]
    assert pane.downloads_scroll.isVisible()
    aqt.until(lambda: row.bar.value() > 0 and "/s" in row.detail.text())
    assert " of 253 MB" in row.detail.text()
    first_value = row.bar.value()
    aqt.until(lambda: row.bar.value() > first_value)  # it moves
    assert row.action.text() == "Cancel"
    row.action.click()
    aqt.until(
        lambda: (
            row.state == "paused"
            and not pane.bridge.busy(f"download:{STARTER_REPO}/{STARTER_FILE}")
        )
    )
    assert row.action.text() == "Resume"
    partials = aqt.run(engine.partial_downloads())
    assert len(partials) == 1 and partials[0].bytes_done > 0  # type: ignore[arg-type, index]
    kept = partials[0].bytes_done  # type: ignore[index]

    # a restarted picker shows the interrupted download as paused
    again = make_pane(qtbot, Engine(data_dir))
    aqt.until(lambda: (STARTER_REPO, STARTER_FILE) in again.downloads.rows)
    restored = again.downloads.rows[(STARTER_REPO, STARTER_FILE)]
    assert restored.state == "paused" and "Interrupted" in restored.detail.text()

    fake_hub.switches.delay_per_block_s = 0.0
    row.action.click()  # Resume
    aqt.until(lambda: row.state == "done", timeout=120)
    assert "Installed" in row.detail.text()
    # it asked for the rest only
    ranges = [r["headers"].get("range") for r in fake_hub.requests("GET", "/cdn/")]
    assert ranges[-1] == f"bytes={kept}-"
    aqt.until(lambda: pane.list.count() == 1)
    assert "Q4_K_M" in pane.list.item(0).text()
    assert aqt.run(engine.partial_downloads()) == []


def test_per_model_settings_are_stored_and_used_for_sampling(
    qtbot: QtBot, aqt: AsyncQt, chat_data_dir: Path
) -> None:
    engine = Engine(chat_data_dir)
    pane = make_pane(qtbot, engine)
    pane.refresh()
    aqt.until(lambda: pane.list.count() == 1)
    rec = pane.current_record()
    assert rec is not None
    dialog = ModelSettingsDialog(rec, engine.settings.generation)
    qtbot.addWidget(dialog)
    dialog.fields["temperature"].check.setChecked(True)
    dialog.fields["temperature"].spin.setValue(0.3)  # type: ignore[arg-type]
    dialog.fields["dry_multiplier"].check.setChecked(True)
    dialog.fields["dry_multiplier"].spin.setValue(0.8)  # type: ignore[arg-type]
    dialog.fields["n_ctx"].check.setChecked(True)
    dialog.fields["n_ctx"].spin.setValue(2048)
    dialog.template.setPlainText("{{ messages }}")
    overrides = dialog.overrides()
    assert overrides == {
        "temperature": 0.3,
        "dry_multiplier": 0.8,
        "n_ctx": 2048,
        "chat_template": "{{ messages }}",
    }
    chosen: list[str] = []
    pane.model_chosen.connect(chosen.append)
    pane.save_overrides(rec.id, overrides)
    aqt.until(lambda: bool(chosen))
    saved = engine.registry.get(rec.id)
    assert saved.overrides == overrides
    sampling = sampling_for(saved, engine.settings.generation)
    assert (
        sampling.temperature == 0.3 and sampling.max_tokens == engine.settings.generation.max_tokens
    )
    assert sampling.dry_multiplier == 0.8 and engine.settings.generation.dry_multiplier == 0.0


def test_load_and_unload_the_starter_model(qtbot: QtBot, aqt: AsyncQt, chat_data_dir: Path) -> None:
    engine = Engine(chat_data_dir)
    pane = make_pane(qtbot, engine)
    loaded: list[object] = []
    pane.model_loaded.connect(loaded.append)
    pane.refresh()
    aqt.until(lambda: pane.list.count() == 1 and pane.load_button.isEnabled())
    pane.load_button.click()
    aqt.until(lambda: bool(loaded), timeout=120)
    assert engine.loaded_model is not None and pane.loaded_id == engine.loaded_model.record.id  # type: ignore[union-attr]
    assert "loaded" in pane.list.item(0).text()  # type: ignore[union-attr]
    assert not pane.load_button.isEnabled() and pane.unload_button.isEnabled()
    pane.unload_button.click()
    aqt.until(lambda: len(loaded) == 2)
    assert loaded[-1] is None and engine.loaded_model is None
    assert "loaded" not in pane.list.item(0).text()  # type: ignore[union-attr]
    aqt.run(engine.close())


def test_a_gguf_on_disk_is_added_and_a_bad_one_refused(
    qtbot: QtBot,
    aqt: AsyncQt,
    data_dir: Path,
    tmp_path: Path,
    tiny_ggufs: dict[str, Path],
    starter_gguf: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _lms, mine = other_apps_models(tmp_path, tiny_ggufs, monkeypatch, tmp_path / "no-hf-cache")

    engine = Engine(data_dir)
    pane = make_pane(qtbot, engine)
    local = pane.local
    assert not local.scanned
    pane.tabs.setCurrentWidget(local)  # opening the tab looks for models
    aqt.until(lambda: local.scanned)
    groups = {top(local.tree, i).text(0): top(local.tree, i) for i in range(2)}
    assert set(groups) == {"LM Studio", "GPT4All"}
    split = child(groups["LM Studio"], 0)
    assert split.text(0) == "tiny-Q8_0-00001-of-00003.gguf"  # one row for three parts
    assert "publisher/tiny-split-GGUF" in split.toolTip(0)
    row = child(groups["GPT4All"], 0)
    assert row.text(0) == mine.name and row.text(1).endswith("KB")
    assert local.status.text() == "2 found, 2 not added yet."

    # adding one registers it where it is and selects it in Installed
    local.tree.setCurrentItem(groups["GPT4All"])
    assert not local.add_button.isEnabled()  # an app's heading is not a model
    local.tree.setCurrentItem(row)
    local.add_button.click()
    aqt.until(lambda: pane.current_record() is not None)
    rec = pane.current_record()
    assert rec is not None and rec.path == str(mine) and rec.source == "imported"
    assert local.message.text() == f"Added {rec.name}. It is in Installed, ready to load."
    aqt.until(lambda: local.status.text() == "2 found, 1 not added yet.")
    row = child(top(local.tree, [top(local.tree, i).text(0) for i in range(2)].index("GPT4All")), 0)
    assert (row.text(0), row.text(2)) == (mine.name, "added")
    local.tree.setCurrentItem(row)
    assert not local.add_button.isEnabled()
    assert mine.exists() and [r.path for r in engine.registry.list()] == [str(mine)]

    # a file picked in the dialog that is not a whole model: refused, nothing registered
    bad = tmp_path / "half.gguf"
    bad.write_bytes(starter_gguf.read_bytes()[:1_000_000])
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    local.browse_button.click()
    aqt.until(lambda: "truncated" in local.message.text())
    assert local.message.styleSheet()  # shown as an error
    assert [r.path for r in engine.registry.list()] == [str(mine)]
    assert pane.list.count() == 1
