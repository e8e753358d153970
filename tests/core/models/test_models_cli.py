"""``lectern models search | files | pull | import | discover | delete`` against the fake Hub.

The real ``lectern`` runs in a subprocess with ``HF_ENDPOINT`` pointing at the
fake Hub served from this test process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.core.models.conftest import GATED_REPO, SPLIT_REPO, STARTER_FILE, STARTER_REPO
from tests.core.models.fake_hub import FakeHub

LECTERN = (sys.executable, "-m", "desktop")


@pytest.fixture
def hub_env(fake_hub: FakeHub, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(
        HF_ENDPOINT=fake_hub.endpoint,
        HF_HUB_OFFLINE="0",
        HF_HOME=str(tmp_path / "hf-home"),  # no real token file
        HOME=str(tmp_path / "home"),
    )
    return env


def lectern(data_dir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LECTERN, "--data-dir", str(data_dir), "models", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_search_and_files(data_dir: Path, hub_env: dict[str, str]) -> None:
    out = lectern(data_dir, "search", "gguf", "--json", env=hub_env)
    assert out.returncode == 0, out.stderr
    assert [r["repo_id"] for r in json.loads(out.stdout)] == [STARTER_REPO, GATED_REPO, SPLIT_REPO]
    out = lectern(data_dir, "search", "gemma", env=hub_env)
    assert out.returncode == 0 and STARTER_REPO in out.stdout
    out = lectern(data_dir, "files", SPLIT_REPO, env=hub_env)
    assert out.returncode == 0, out.stderr
    assert "tiny-Q8_0-00001-of-00003.gguf" in out.stdout and "(3 parts)" in out.stdout


def test_pull_by_quantisation_then_list(
    data_dir: Path, hub_env: dict[str, str], starter_sha256: str
) -> None:
    out = lectern(data_dir, "pull", STARTER_REPO, "--quant", "Q4_K_M", env=hub_env)
    assert out.returncode == 0, out.stderr
    model_id = out.stdout.strip()
    assert model_id == "lectern-test/gemma-3-270m-it-gguf/gemma-3-270m-it-q4_k_m"
    assert "100.0%" in out.stderr and "Verified" in out.stderr  # progress on stderr
    out = lectern(data_dir, "list", "--json", env=hub_env)
    models = {m["id"]: m for m in json.loads(out.stdout)}
    assert models[model_id]["source"] == "downloaded"
    assert models[model_id]["sha256"] == starter_sha256


def test_pull_errors_are_one_clear_line(data_dir: Path, hub_env: dict[str, str]) -> None:
    for args, expected, code in [
        ((GATED_REPO,), "token", 1),
        (("nobody/nothing-GGUF", "--file", "x.gguf"), "No repository", 1),
        ((STARTER_REPO, "--quant", "Q8_0"), "available: Q4_K_M", 1),
        (("not-a-repo",), "catalog", 2),
    ]:
        out = lectern(data_dir, "pull", *args, env=hub_env)
        assert out.returncode == code, (args, out.stderr)
        assert "Traceback" not in out.stderr
        assert expected in out.stderr.strip().splitlines()[-1], out.stderr


def test_import_discover_and_delete(
    data_dir: Path, hub_env: dict[str, str], tiny_ggufs: dict[str, Path], tmp_path: Path
) -> None:
    gpt4all = tmp_path / "home" / ".local" / "share" / "nomic.ai" / "GPT4All"
    gpt4all.mkdir(parents=True)
    model = gpt4all / "tiny-f16.gguf"
    model.write_bytes(tiny_ggufs["single"].read_bytes())
    env = {k: v for k, v in hub_env.items() if k != "XDG_DATA_HOME"}
    out = lectern(data_dir, "discover", "--json", env=env)
    assert out.returncode == 0, out.stderr
    (found,) = json.loads(out.stdout)
    assert (found["source"], found["path"], found["registered"]) == ("gpt4all", str(model), False)

    out = lectern(data_dir, "import", str(model), env=env)
    assert out.returncode == 0, out.stderr
    model_id = out.stdout.strip()
    out = lectern(data_dir, "list", "--json", env=env)
    imported = next(m for m in json.loads(out.stdout) if m["id"] == model_id)
    assert imported["source"] == "imported" and imported["path"] == str(model)

    out = lectern(data_dir, "delete", model_id, env=env)
    assert out.returncode == 0, out.stderr
    assert model.exists()  # never deletes a file Lectern did not download
    out = lectern(data_dir, "import", str(tmp_path / "missing.gguf"), env=env)
    assert out.returncode == 1 and "No such file" in out.stderr


def test_kill_during_pull_then_resume(
    data_dir: Path,
    hub_env: dict[str, str],
    fake_hub: FakeHub,
    starter_gguf: Path,
    starter_sha256: str,
) -> None:
    """``kill -9`` in the middle of a download: the next pull resumes from the partial file."""
    fake_hub.switches.delay_per_block_s = 0.02  # about 12 MB/s
    pull = ("models", "pull", STARTER_REPO, "--file", STARTER_FILE)
    proc = subprocess.Popen(
        [*LECTERN, "--data-dir", str(data_dir), *pull],
        cwd=REPO,
        env=hub_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    partial_dir = data_dir / "models" / ".partial"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            parts = list(partial_dir.glob("*.part")) if partial_dir.exists() else []
            if parts and parts[0].stat().st_size > 20_000_000:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the download did not start")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    (partial,) = partial_dir.glob("*.part")
    kept = partial.stat().st_size
    assert 20_000_000 < kept < starter_gguf.stat().st_size

    fake_hub.switches.delay_per_block_s = 0.0
    out = lectern(data_dir, "pull", STARTER_REPO, "--file", STARTER_FILE, "--json", env=hub_env)
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["sha256"] == starter_sha256
    assert fake_hub.requests("GET", "/cdn/")[-1]["headers"]["range"] == f"bytes={kept}-"
    assert not list(partial_dir.glob("*.part"))
