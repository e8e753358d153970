"""kill -9 of a real ``lectern index`` process at three points; the next run resumes cleanly.

The indexing process is told (``LECTERN_TEST_PAUSE_AT``) to freeze at a named
point and say so on stderr; the test then sends SIGKILL, so the kill lands
exactly there: while a document is being extracted, between two embedding
batches, and between a Chroma write and the matching SQLite/FTS write.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.engine import Engine
from tests.conftest import REPO, docs_data_dir_with_embedder
from tests.core.documents.killing import index_until_killed
from tests.core.documents.pdfs import FACTS, collect_index, text_pdf

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


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
    index_until_killed(data, point, corpus, "crash")

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


async def test_leftovers_are_finished_when_other_files_are_indexed(
    corpus: list[Path], tmp_path: Path, starter_embedder: Path, docs_embedder: object
) -> None:
    """After a kill, the next run may be for another file: the leftovers are finished too."""
    data = docs_data_dir_with_embedder(tmp_path / "data", starter_embedder)
    index_until_killed(data, "embedding", corpus, "crash")
    other = text_pdf(tmp_path / "other.pdf", ["The ferry to the island leaves at nine."])
    command = ["docs", "list", "--library", "crash"]
    listed = subprocess.run(
        [sys.executable, "-m", "desktop.launcher", "--data-dir", str(data), *command],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert "2 documents were left half-indexed" in listed.stderr
    assert "--library crash' finishes them first" in listed.stderr

    engine = Engine(data)
    try:
        left = {d.file: d.state for d in await engine.list_documents("crash")}
        assert left["long.pdf"] == "embedding" and left["short.pdf"] == "queued"
        _statuses, summary = await collect_index(engine, [other], "crash")
        assert not summary.failed
        assert sorted(Path(p).name for p in summary.indexed) == [
            "long.pdf",
            "other.pdf",
            "short.pdf",
        ]
        assert {d.state for d in await engine.list_documents("crash")} == {"ready"}
        counts = engine.documents.manager.store("crash").counts()
        assert counts["chunks"] == counts["fts"] == counts["vectors"] == counts["journal_chunks"]
    finally:
        await engine.close()
