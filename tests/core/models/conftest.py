"""Fixtures for the models tests: tiny real GGUF files and the fake Hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.engine import Engine
from core.models.starter import STARTER_MODEL_ID
from tests.core.models.fake_hub import FakeFile, FakeHub, FakeRepo

STARTER_REPO = "lectern-test/gemma-3-270m-it-GGUF"
STARTER_FILE = "gemma-3-270m-it-Q4_K_M.gguf"
SPLIT_REPO = "lectern-test/tiny-split-GGUF"
GATED_REPO = "lectern-test/gated-GGUF"
GRANTED_TOKEN = "hf_granted_token"
PENDING_TOKEN = "hf_pending_token"


def make_gguf(path: Path, name: str, n: int, split: tuple[int, int] | None = None) -> Path:
    """Write a small but real GGUF (one F16 tensor of ``n`` elements) with the gguf package."""
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(name)
    w.add_context_length(256)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    if split is not None:
        w.add_uint16("split.no", split[0] - 1)
        w.add_uint16("split.count", split[1])
        w.add_int32("split.tensors.count", split[1])
    w.add_tensor(f"blk.{split[0] if split else 0}.weight", np.ones((n,), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture(scope="session")
def tiny_ggufs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny real GGUF files: a single one and a model split in three parts."""
    d = tmp_path_factory.mktemp("tiny-gguf")
    out = {"single": make_gguf(d / "tiny-F16.gguf", "Tiny", 4096)}
    for no in (1, 2, 3):
        name = f"tiny-Q8_0-{no:05d}-of-00003.gguf"
        out[f"part{no}"] = make_gguf(d / name, "Tiny split", 1000 * no, (no, 3))
    return out


def other_apps_models(
    tmp_path: Path,
    tiny_ggufs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    hf_cache: Path,
) -> tuple[Path, Path]:
    """A home folder where LM Studio holds a split model and GPT4All a single one.

    ``HOME`` points at it and ``HF_HUB_CACHE`` at ``hf_cache``. Returns the LM
    Studio model folder and the GPT4All model file.
    """
    import shutil

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(hf_cache))
    lms = home / ".lmstudio" / "models" / "publisher" / "tiny-split-GGUF"
    lms.mkdir(parents=True)
    for n in (1, 2, 3):
        shutil.copy(tiny_ggufs[f"part{n}"], lms)
    gpt4all = home / ".local" / "share" / "nomic.ai" / "GPT4All"
    gpt4all.mkdir(parents=True)
    single = gpt4all / "tiny-q4_0.gguf"
    shutil.copy(tiny_ggufs["single"], single)
    return lms, single


@pytest.fixture(scope="session")
def starter_sha256(starter_data_dir: Path) -> str:
    return Engine(starter_data_dir).registry.get(STARTER_MODEL_ID).sha256


@pytest.fixture
def fake_hub(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    starter_gguf: Path,
    starter_sha256: str,
    tiny_ggufs: dict[str, Path],
) -> Iterator[FakeHub]:
    """A fake Hub on 127.0.0.1 serving the real starter GGUF, split files and a gated repo.

    ``HF_ENDPOINT`` points at it; Hub access is switched on (the suite runs with
    ``HF_HUB_OFFLINE=1``) and no real token can leak in: the standard token
    file is moved to a temporary folder.
    """
    import huggingface_hub.constants as hf_constants

    hub = FakeHub()
    hub.add_repo(
        FakeRepo(
            STARTER_REPO,
            commit="a1" * 20,
            files={
                STARTER_FILE: FakeFile(STARTER_FILE, path=starter_gguf, sha256=starter_sha256),
                "README.md": FakeFile("README.md", data=b"# Gemma 3 270M\n", lfs=False),
            },
            downloads=1200,
            likes=10,
        )
    )
    split_files = {
        p.name: FakeFile(p.name, path=p) for k, p in tiny_ggufs.items() if k.startswith("part")
    }
    split_files["tiny-F16.gguf"] = FakeFile("tiny-F16.gguf", path=tiny_ggufs["single"])
    # an upload whose second part is missing, and a vision projector: neither is a model
    split_files["broken-Q2_K-00001-of-00002.gguf"] = FakeFile(
        "broken-Q2_K-00001-of-00002.gguf", path=tiny_ggufs["part1"]
    )
    split_files["mmproj-tiny-f16.gguf"] = FakeFile("mmproj-tiny-f16.gguf", data=b"GGUF" * 10)
    hub.add_repo(FakeRepo(SPLIT_REPO, commit="b2" * 20, files=split_files, downloads=50))
    hub.add_repo(
        FakeRepo(
            GATED_REPO,
            commit="c3" * 20,
            files={"tiny-F16.gguf": FakeFile("tiny-F16.gguf", path=tiny_ggufs["single"])},
            gated=True,
            allowed_tokens={GRANTED_TOKEN},
            downloads=300,
        )
    )
    hub.add_repo(
        FakeRepo("someone/gemma-safetensors", commit="d4" * 20, files={}, tags=["transformers"])
    )
    hub.start()
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    try:
        yield hub
    finally:
        hub.stop()
