"""Import GGUF files in place; discover the ones other tools downloaded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from core.engine import Engine
from core.errors import ModelFileError, UsageError
from core.models.importer import discover
from tests.core.models.conftest import other_apps_models


async def test_import_registers_the_file_where_it_is(data_dir: Path, starter_gguf: Path) -> None:
    engine = Engine(data_dir)
    rec = await engine.import_model(starter_gguf)
    assert rec.source == "imported"
    assert Path(rec.path) == starter_gguf  # not moved, not copied
    assert rec.architecture == "gemma3" and rec.quantization == "Q4_K_M"
    assert rec.size_bytes == starter_gguf.stat().st_size
    assert not any(engine.paths.models_dir.rglob("*.gguf"))
    # importing again is a no-op
    assert (await engine.import_model(str(starter_gguf))).id == rec.id
    assert [r.id for r in engine.registry.list()] == [rec.id]
    # deleting an imported model forgets it but never touches the user's file
    await engine.delete_model(rec.id)
    assert starter_gguf.exists()
    assert engine.registry.list() == []


async def test_a_second_file_with_the_same_name_gets_its_own_id(
    data_dir: Path, tmp_path: Path, tiny_ggufs: dict[str, Path]
) -> None:
    engine = Engine(data_dir)
    copy = tmp_path / "other" / tiny_ggufs["single"].name
    copy.parent.mkdir()
    shutil.copy(tiny_ggufs["single"], copy)
    a = await engine.import_model(tiny_ggufs["single"])
    b = await engine.import_model(copy)
    assert a.id != b.id and b.id == f"{a.id}-2"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a GGUF model"),
        (b"PK\x03\x04" + b"\0" * 100, "wrong magic"),
        (None, "truncated"),
    ],
)
async def test_bad_files_are_refused_and_nothing_is_registered(
    data_dir: Path, tmp_path: Path, starter_gguf: Path, content: bytes | None, message: str
) -> None:
    bad = tmp_path / "bad.gguf"
    if content is None:  # the first megabyte of a real model
        with starter_gguf.open("rb") as fh:
            content = fh.read(1_000_000)
    bad.write_bytes(content)
    engine = Engine(data_dir)
    with pytest.raises(ModelFileError, match=message):
        await engine.import_model(bad)
    assert engine.registry.list() == []


async def test_split_model_is_imported_from_its_first_part(
    data_dir: Path, tmp_path: Path, tiny_ggufs: dict[str, Path]
) -> None:
    folder = tmp_path / "split"
    folder.mkdir()
    for n in (1, 2, 3):
        shutil.copy(tiny_ggufs[f"part{n}"], folder)
    engine = Engine(data_dir)
    with pytest.raises(ModelFileError, match="not the first part"):
        await engine.import_model(folder / "tiny-Q8_0-00002-of-00003.gguf")
    rec = await engine.import_model(folder / "tiny-Q8_0-00001-of-00003.gguf")
    assert len(rec.parts) == 3
    assert rec.size_bytes == sum(p.stat().st_size for p in folder.iterdir())
    (folder / "tiny-Q8_0-00003-of-00003.gguf").unlink()
    await engine.delete_model(rec.id)
    with pytest.raises(ModelFileError, match="missing"):
        await engine.import_model(folder / "tiny-Q8_0-00001-of-00003.gguf")


async def test_missing_file_and_folder_are_clear(data_dir: Path, tmp_path: Path) -> None:
    engine = Engine(data_dir)
    with pytest.raises(ModelFileError, match="No such file"):
        await engine.import_model(tmp_path / "nope.gguf")
    with pytest.raises(ModelFileError, match="folder"):
        await engine.import_model(tmp_path)


async def test_starter_model_cannot_be_deleted(starter_data_dir: Path) -> None:
    from core.models.starter import STARTER_MODEL_ID

    with pytest.raises(UsageError):
        await Engine(starter_data_dir).delete_model(STARTER_MODEL_ID)


def _hf_cache_entry(cache: Path, repo: str, file: Path) -> Path:
    """Lay out a file the way huggingface_hub caches it: a named link to a blob."""
    folder = cache / ("models--" + repo.replace("/", "--"))
    blob = folder / "blobs" / "0123abcd"
    blob.parent.mkdir(parents=True)
    shutil.copy(file, blob)
    link = folder / "snapshots" / ("e" * 40) / file.name
    link.parent.mkdir(parents=True)
    os.symlink(os.path.relpath(blob, link.parent), link)
    return link


async def test_discovery_finds_hf_cache_lm_studio_and_gpt4all_models(
    data_dir: Path, tmp_path: Path, tiny_ggufs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    lms, single = other_apps_models(tmp_path, tiny_ggufs, monkeypatch, tmp_path / "hf-cache")
    link = _hf_cache_entry(tmp_path / "hf-cache", "someone/tiny-GGUF", tiny_ggufs["single"])
    (single.parent / "notes.txt").write_text("not a model")

    engine = Engine(data_dir)
    found = {m.source: m for m in await engine.discover_local_models()}
    assert set(found) == {"huggingface-cache", "lm-studio", "gpt4all"}
    hf = found["huggingface-cache"]
    assert (hf.path, hf.repo_id, hf.registered) == (str(link), "someone/tiny-GGUF", False)
    split = found["lm-studio"]
    assert Path(split.path).name == "tiny-Q8_0-00001-of-00003.gguf"  # one entry for 3 parts
    assert split.repo_id == "publisher/tiny-split-GGUF" and split.quantization == "Q8_0"
    assert split.size_bytes == sum(p.stat().st_size for p in lms.iterdir())
    assert found["gpt4all"].quantization == "Q4_0"

    # importing keeps the cache's link (llama.cpp finds split parts by name next to it)
    rec = await engine.import_model(hf.path)
    assert rec.path == str(link) and rec.repo_id == "someone/tiny-GGUF"
    assert (tmp_path / "hf-cache").exists() and link.is_symlink()
    again = {m.source: m for m in discover(engine.registry)}
    assert again["huggingface-cache"].registered
    assert not again["gpt4all"].registered


async def test_discovery_with_nothing_installed_is_empty(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-cache"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert await Engine(data_dir).discover_local_models() == []
