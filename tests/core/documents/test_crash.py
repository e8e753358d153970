"""kill -9 of a real ``lectern index`` process at three points; the next run resumes cleanly.

The indexing process is told (``LECTERN_TEST_PAUSE_AT``) to freeze at a named
point and say so on stderr; the test then sends SIGKILL, so the kill lands
exactly there: while a document is being extracted, between two embedding
batches, and between a Chroma write and the matching SQLite/FTS write.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.documents.faults import PAUSE_ENV
from core.engine import Engine
from tests.conftest import REPO, docs_data_dir_with_embedder
from tests.core.documents.pdfs import FACTS, collect_index, text_pdf

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def _lectern() -> list[str]:
    return [sys.executable, "-m", "desktop.launcher"]


def _run_until_paused(data: Path, point: str, paths: list[Path]) -> None:
    env = dict(os.environ, **{PAUSE_ENV: point})
    proc = subprocess.Popen(
        [*_lectern(), "--data-dir", str(data), "index", *map(str, paths), "--library", "crash"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 240
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if line.startswith(f"LECTERN-PAUSED {point}"):
                break
            assert time.monotonic() < deadline, "never reached the pause point"
        else:
            pytest.fail(f"index ended without pausing at {point}: {''.join(seen[-20:])}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("crash-corpus")
    # 70 one-paragraph pages: 70 chunks, so embedding takes two batches of 64.
    long = text_pdf(
        d / "long.pdf",
        [
            f"Record {i}: the pump in hall {i} was serviced and its filter replaced."
            for i in range(70)
        ],
    )
    short = text_pdf(d / "short.pdf", FACTS)
    return [long, short]


@pytest.mark.parametrize("point", ["extracting", "embedding", "between-chroma-and-fts"])
async def test_kill_9_then_resume(
    point: str, corpus: list[Path], tmp_path: Path, starter_embedder: Path, docs_embedder: object
) -> None:
    data = docs_data_dir_with_embedder(tmp_path / "data", starter_embedder)
    _run_until_paused(data, point, corpus)

    engine = Engine(data)
    try:
        store = engine.documents.manager.store("crash")
        before = store.counts()
        states = {d.file: d.state for d in await engine.list_documents("crash")}
        assert states["long.pdf"] in ("extracting", "embedding"), states
        if point == "between-chroma-and-fts":
            assert before["vectors"] > before["chunks"]  # the kill left Chroma ahead

        statuses, summary = await collect_index(engine, corpus, "crash")
        assert sorted(Path(p).name for p in summary.indexed) == ["long.pdf", "short.pdf"]
        assert not summary.failed
        if point == "embedding":  # resumed after the stored batch instead of starting over
            first = next(s for s in statuses if s.file == "long.pdf" and s.state == "embedding")
            assert first.done == 64 and first.total == 70

        after = store.counts()
        assert after["chunks"] == after["fts"] == after["vectors"] == after["journal_chunks"]
        assert after["chunks"] > 70
        ids = store.query("SELECT id FROM chunks")
        assert len(ids) == len({i for (i,) in ids})
        assert {d.state for d in await engine.list_documents("crash")} == {"ready"}

        hits = await engine.search("pump in hall 42 serviced filter", "crash", k=10)
        keys = [(h.file, h.page, h.char_start) for h in hits]
        assert len(keys) == len(set(keys))
        assert ("long.pdf", 43) in {(h.file, h.page) for h in hits}
    finally:
        await engine.close()
