"""Bad GGUF files get a clear ModelFileError before llama.cpp ever sees them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import ModelFileError
from core.models.gguf_info import quantization_name, read_info, validate_header


def test_reads_the_real_starter_model(starter_gguf: Path) -> None:
    info = read_info(starter_gguf)
    assert info.architecture == "gemma3"
    assert info.context_length == 32768
    assert info.metadata["gemma3.block_count"] == 18


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a GGUF model"),
        (b"GGUF", "not a GGUF model"),
        (b"PK\x03\x04" + b"\0" * 100, "wrong magic"),
    ],
)
def test_bad_headers(tmp_path: Path, content: bytes, message: str) -> None:
    f = tmp_path / "bad.gguf"
    f.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        validate_header(f)


def test_random_bytes(tmp_path: Path) -> None:
    f = tmp_path / "random.gguf"
    f.write_bytes(os.urandom(4096))
    with pytest.raises(ModelFileError):
        read_info(f)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        read_info(tmp_path / "absent.gguf")


@pytest.mark.parametrize("keep", [64, 1_000_000, 100_000_000])
def test_truncated_real_model(tmp_path: Path, starter_gguf: Path, keep: int) -> None:
    f = tmp_path / "truncated.gguf"
    with starter_gguf.open("rb") as src:
        f.write_bytes(src.read(keep))
    with pytest.raises(ModelFileError, match=r"truncated|damaged|corrupt"):
        read_info(f)


def test_quantization_from_file_name_when_metadata_lacks_it() -> None:
    assert quantization_name(None, "Llama-3.2-1B-Instruct-Q4_K_M.gguf") == "Q4_K_M"
    assert quantization_name(None, "qwen2.5-0.5b-instruct-iq3_xxs.gguf") == "IQ3_XXS"
    assert quantization_name(None, "model-f16.gguf") == "F16"
    assert quantization_name(None, "model.gguf") == "unknown"
