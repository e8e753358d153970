"""The shipped catalog is well-formed and consistent with its own file names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.engine import Engine
from core.errors import LecternError
from core.models.catalog import load_catalog, resources_dir
from core.models.gguf_info import quantization_name
from core.models.splits import split_info


def test_catalog_spans_small_to_large_instruct_models(data_dir: Path) -> None:
    entries = Engine(data_dir).catalog()
    assert len(entries) >= 12
    assert {e.tier for e in entries} == {"small", "medium", "large"}
    families = {e.family for e in entries}
    assert {"llama3.2", "qwen2.5", "qwen3", "gemma3", "phi3", "mistral"} <= families
    assert [e.parameters_b for e in entries] == sorted(e.parameters_b for e in entries)
    assert len({e.id for e in entries}) == len(entries)


def test_every_entry_names_real_looking_files() -> None:
    for e in load_catalog():
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", e.repo_id), e.repo_id
        assert e.files, e.id
        assert e.recommended_file.quantization == e.recommended_quantization, e.id
        for f in e.files:
            assert f.filename.endswith(".gguf") and split_info(f.filename) is None
            # the label agrees with the file name the Hub will be asked for
            assert quantization_name(None, f.filename) == f.quantization, f.filename
            assert 100_000_000 < f.size_bytes < 50_000_000_000
        # official Google and Meta repositories are gated; community conversions are not
        official = e.repo_id.split("/")[0] in {"google", "meta-llama"}
        assert e.gated == official, e.id
        assert e.licence


def test_catalog_json_says_sizes_are_approximate() -> None:
    raw = json.loads((resources_dir() / "catalog.json").read_text())
    assert "approximate" in raw["note"]


def test_broken_catalog_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.json"
    bad.write_text('{"models": [{"id": "x"}]}')
    with pytest.raises(LecternError, match="catalog"):
        load_catalog(bad)
