"""``lectern hardware`` and ``lectern plan`` through the CLI's main()."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.cli import main
from core.models.starter import STARTER_MODEL_ID


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    assert main(argv) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_hardware_json(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    out = _json(capsys, ["--data-dir", str(data_dir), "hardware", "--json"])
    cpu = out["cpu"]
    assert isinstance(cpu, dict) and cpu["logical_cores"] >= 1 and cpu["model"]
    assert out["ram_total_bytes"] >= out["ram_available_bytes"] > 0
    llama = out["llama"]
    assert isinstance(llama, dict) and llama["installed"] and "CPU" in llama["backends"]
    assert out["gpu_offload_possible"] in (True, False) and isinstance(out["gpus"], list)


def test_hardware_in_words(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    assert main(["--data-dir", str(data_dir), "hardware"]) == 0
    text = capsys.readouterr().out
    assert "Processor:" in text and "Memory:" in text and "llama.cpp: llama-cpp-python" in text


PLAN_KEYS = {"n_gpu_layers", "n_ctx", "fit", "estimate"}
ESTIMATE_KEYS = {"weights_bytes", "kv_bytes", "compute_bytes", "vram_bytes", "ram_bytes"}


def test_plan_json_by_path_on_simulated_machines(
    capsys: pytest.CaptureFixture[str], data_dir: Path, starter_gguf: Path
) -> None:
    base = ["--data-dir", str(data_dir), "plan", str(starter_gguf), "--json"]
    gpu = _json(capsys, [*base, "--gpu-vram-gb", "6"])
    assert gpu.keys() >= PLAN_KEYS and gpu["estimate"].keys() >= ESTIMATE_KEYS
    assert (gpu["fit"], gpu["n_gpu_layers"], gpu["n_ctx"], gpu["simulated"]) == (
        "gpu",
        19,
        8192,
        True,
    )
    est = gpu["estimate"]
    assert isinstance(est, dict) and est["vram_bytes"] > est["ram_bytes"] > 0
    cpu = _json(capsys, [*base, "--gpu-vendor", "none", "--ram-gb", "8"])
    assert (cpu["fit"], cpu["n_gpu_layers"]) == ("cpu", 0)
    apple = _json(capsys, [*base, "--gpu-vendor", "apple", "--ram-gb", "8"])
    assert apple["fit"] == "gpu" and apple["unified_memory"] is True
    tiny = _json(capsys, [*base, "--ram-gb", "0.5"])
    assert tiny["fit"] == "too_large"
    longer = _json(capsys, [*base, "--ram-gb", "8", "--ctx", "32768"])
    assert longer["n_ctx"] == 32768


def test_plan_by_model_id_on_this_machine(
    capsys: pytest.CaptureFixture[str], starter_data_dir: Path
) -> None:
    out = _json(capsys, ["--data-dir", str(starter_data_dir), "plan", STARTER_MODEL_ID, "--json"])
    assert out["fit"] in ("gpu", "partial", "cpu") and out["simulated"] is False
    assert main(["--data-dir", str(starter_data_dir), "plan", STARTER_MODEL_ID]) == 0
    assert "GPU layers" in capsys.readouterr().out


def test_the_starter_model_id_works_in_a_fresh_data_directory(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    # it was "No model" until some other command (models list, a chat) had installed it
    out = _json(capsys, ["--data-dir", str(data_dir), "plan", STARTER_MODEL_ID, "--json"])
    assert out["fit"] in ("gpu", "partial", "cpu") and out["estimate"]["weights_bytes"] > 0


def test_plan_errors(capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path) -> None:
    assert main(["--data-dir", str(data_dir), "plan", "no-such-model"]) == 1
    assert "No model 'no-such-model'" in capsys.readouterr().err
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf at all" * 10)
    assert main(["--data-dir", str(data_dir), "plan", str(bad)]) == 1
    assert "not a GGUF" in capsys.readouterr().err
    argv = ["--data-dir", str(data_dir), "plan", str(bad), "--gpu-vendor", "nvidia"]
    assert main(argv) == 2
    assert "--gpu-vram-gb" in capsys.readouterr().err
