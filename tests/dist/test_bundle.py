"""The PyInstaller bundle really runs: CLI answers, documents, and the GUI on a screen.

Marked ``dist``: run by ``make test-dist`` after ``make dist`` (not by ``make test``).
Each test starts ``dist/lectern/lectern`` as a user would, with its own data directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED_EVAL
from tests.core.documents.ebooks import make_epub

pytestmark = pytest.mark.dist

GAUGE = "The brass rain gauge is read at seven every morning and the figure goes in the red book."
HEDGE = "Hedges along the north path are trimmed with shears each April, never with a machine."

BUNDLE = REPO / "dist" / "lectern"
BINARY = BUNDLE / "lectern"


@pytest.fixture(scope="module", autouse=True)
def _bundle_built() -> None:
    if not BINARY.exists():
        pytest.fail("no bundle: run `make dist` first")


def lectern(data: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(
        [str(BINARY), "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd="/",  # nothing from the source tree may be picked up
    )


def test_version(tmp_path: Path) -> None:
    out = lectern(tmp_path, "--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("lectern ")


def test_ask_without_library_answers_with_the_starter_model(tmp_path: Path) -> None:
    out = lectern(tmp_path, "ask", "What is the capital of France?", "--no-library", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["stats"]["completion_tokens"] >= 1
    assert result["stats"]["decode_tps"] > 0
    assert result["sources"] == []


def test_index_and_search_a_real_manual(tmp_path: Path) -> None:
    pdf = SHARED_EVAL / "pdfs" / "gri.pdf"
    # an e-book and a Markdown file go through the bundled MuPDF's own page layout
    book = make_epub(tmp_path / "orchard.epub", [("Summer", [GAUGE])], title="Orchard")
    notes = tmp_path / "notes.md"
    notes.write_text(f"# Garden\n\n## Hedges\n\n{HEDGE}\n", encoding="utf-8")
    out = lectern(tmp_path, "index", str(pdf), str(book), str(notes), "--json")
    assert out.returncode == 0, out.stderr
    assert sorted(Path(p).name for p in json.loads(out.stdout)["indexed"]) == [
        "gri.pdf",
        "notes.md",
        "orchard.epub",
    ]
    out = lectern(tmp_path, "search", "draw a contour plot", "-k", "3", "--json")
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)
    assert hits and hits[0]["file"] == "gri.pdf" and hits[0]["page"] >= 1
    for query, file in (("When is the rain gauge read?", "orchard.epub"), ("hedges", "notes.md")):
        out = lectern(tmp_path, "search", query, "-k", "1", "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)[0]["file"] == file
    # questions are re-ranked by the cross-encoder (onnxruntime in the bundled index worker)
    qa = tmp_path / "qa.jsonl"
    lines = [ln for ln in (SHARED_EVAL / "qa.jsonl").read_text().splitlines() if "gri-" in ln]
    # and a misspelled one is corrected with the bundled English word list
    typo = {"id": "typo", "question": "How do I draw a contuor plot with Gri?"}
    qa.write_text("\n".join([*lines[:3], json.dumps(typo)]) + "\n")
    out = lectern(tmp_path, "eval", str(qa), "-k", "5", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["reranked"] == 4 and result["metrics"]["page_hit@5"] > 0
    assert result["searched_for"] == {"typo": "How do I draw a contour plot with Gri?"}


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb (make test-dist installs it)")
def test_gui_shows_the_main_window_under_xvfb(tmp_path: Path) -> None:
    display = ":57"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1440x900x24", "-nolisten", "tcp"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", HF_HUB_OFFLINE="1")
    app = None
    try:
        time.sleep(1.0)
        app = subprocess.Popen(
            [str(BINARY), "--data-dir", str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        tree = ""
        while time.monotonic() < deadline:
            assert app.poll() is None, app.communicate()[0]
            tree = subprocess.run(
                ["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True
            ).stdout
            if '"Lectern"' in tree:
                break
            time.sleep(0.5)
        assert '"Lectern"' in tree, "the main window never appeared"
        time.sleep(3.0)  # still up a few seconds later (starter models prepared meanwhile)
        assert app.poll() is None
        shot = tmp_path / "bundle-gui.png"
        subprocess.run(["import", "-window", "root", str(shot)], env=env, check=True)
        assert shot.stat().st_size > 10_000
        shutil.copy(shot, Path(os.environ.get("LECTERN_SHOT_DIR", "/tmp")) / "bundle-gui.png")
    finally:
        if app is not None:
            app.terminate()
            app.wait(20)
        xvfb.terminate()
        xvfb.wait(10)
