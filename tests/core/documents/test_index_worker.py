"""The index worker: same vectors as in-process, Chroma there, errors, restart, priority."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from core.documents.embedder import LocalEmbedder
from core.documents.index_worker import IndexWorker, RemoteEmbedder, RemoteVectors
from core.errors import DocumentError
from core.priority import BACKGROUND_NICE
from tests.conftest import REPO

TEXTS = [
    "The lighthouse keeper trims the wick at dusk.",
    "Debian source packages are built with dpkg-buildpackage.",
]


@pytest.fixture(scope="module")
def worker() -> Iterator[IndexWorker]:
    w = IndexWorker()  # its own process, not the application's shared one
    yield w
    w.close()


@pytest.fixture(scope="module")
def embedder(worker: IndexWorker, starter_embedder: Path) -> RemoteEmbedder:
    return RemoteEmbedder(worker, starter_embedder, "all-MiniLM-L6-v2")


def test_worker_gives_the_same_vectors_and_offsets_as_the_model_in_process(
    embedder: RemoteEmbedder, docs_embedder: LocalEmbedder
) -> None:
    assert embedder.info == docs_embedder.info
    assert embedder.info.name == "all-MiniLM-L6-v2" and embedder.info.dimension == 384
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, docs_embedder.embed(TEXTS), atol=1e-5)
    np.testing.assert_allclose(embedder.embed_query(TEXTS[0]), vectors[0], atol=1e-5)
    assert embedder.token_offsets(TEXTS[1]) == docs_embedder.token_offsets(TEXTS[1])
    assert embedder.count_tokens(TEXTS[0]) == docs_embedder.count_tokens(TEXTS[0]) > 5
    assert embedder.embed([]).shape == (0, 384)


def test_vectors_are_stored_and_searched_in_the_worker(
    embedder: RemoteEmbedder, worker: IndexWorker, tmp_path: Path
) -> None:
    vectors = RemoteVectors(worker, tmp_path / "chroma")
    assert vectors.count() == 0
    vecs = embedder.embed(TEXTS)
    vectors.upsert(["a:0", "b:0"], vecs, [{"sha": "a", "page": 1}, {"sha": "b", "page": 3}])
    vectors.upsert(["a:0"], vecs[:1], [{"sha": "a", "page": 1}])  # same id: overwritten
    assert vectors.count() == 2
    hits = vectors.query(embedder.embed_query("who trims the wick?"), 2)
    assert [h[0] for h in hits] == ["a:0", "b:0"] and hits[0][1] > hits[1][1]
    assert vectors.stray_shas(["a"]) == {"b"}
    ids, got = vectors.embeddings()
    assert sorted(ids) == ["a:0", "b:0"] and got.shape == (2, 384)
    vectors.delete_sha("b")
    assert vectors.count() == 1
    vectors.close()
    assert (tmp_path / "chroma").is_dir()
    assert RemoteVectors(worker, tmp_path / "chroma").count() == 1  # reopened from disk


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX niceness")
def test_the_worker_runs_at_background_priority(
    worker: IndexWorker, embedder: RemoteEmbedder
) -> None:
    assert worker.pid is not None  # started by loading the model
    assert psutil.Process(worker.pid).nice() >= max(BACKGROUND_NICE, psutil.Process().nice())


def test_a_search_does_not_wait_for_a_whole_ingestion_batch(embedder: RemoteEmbedder) -> None:
    # 160 chunk-sized texts: 10 requests, about 10 s here (a machine 10x faster still needs
    # longer than the half second before the search)
    chunk = " ".join(TEXTS * 8)
    finished: dict[str, float] = {}

    def ingest() -> None:
        embedder.embed([f"{i}. {chunk}" for i in range(160)])
        finished["batch"] = time.monotonic()

    thread = threading.Thread(target=ingest)
    thread.start()
    time.sleep(0.5)
    vector = embedder.embed_query("who trims the wick?")
    finished["query"] = time.monotonic()
    thread.join(300)
    assert vector.shape == (384,)
    assert finished["query"] < finished["batch"]


def test_a_dead_worker_is_started_again_on_the_next_call(
    worker: IndexWorker, embedder: RemoteEmbedder
) -> None:
    before = worker.pid
    assert before is not None
    os.kill(before, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while worker.pid is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert embedder.embed(TEXTS).shape == (2, 384)  # the model is loaded again on demand
    assert worker.pid not in (None, before)


def test_a_worker_dying_during_a_call_fails_that_call_only(
    worker: IndexWorker, embedder: RemoteEmbedder
) -> None:
    pid = worker.pid
    assert pid is not None
    errors: list[BaseException] = []

    def embed_a_lot() -> None:
        try:
            embedder.embed([" ".join(TEXTS * 8)] * 400)  # about 25 s of work here
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    thread = threading.Thread(target=embed_a_lot)
    thread.start()
    time.sleep(1.0)  # well inside the batch
    os.kill(pid, signal.SIGKILL)
    thread.join(60)
    assert len(errors) == 1 and isinstance(errors[0], DocumentError), errors
    assert "stopped unexpectedly" in str(errors[0])
    assert embedder.embed(TEXTS).shape == (2, 384)


def test_a_folder_without_a_model_is_a_clear_error(worker: IndexWorker, tmp_path: Path) -> None:
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "not-a-model" / "readme.txt").write_text("nothing here")
    with pytest.raises(DocumentError, match="could not be loaded"):
        RemoteEmbedder(worker, tmp_path / "not-a-model")
    assert worker.pid is not None  # the worker itself is fine


@pytest.mark.slow
def test_indexing_and_search_never_load_torch_in_the_application_process(
    tmp_path: Path, starter_embedder: Path
) -> None:
    """The point of the worker: torch, chromadb and onnxruntime (the re-ranker), which hold
    the GIL, stay out of the app."""
    from tests.core.documents.pdfs import text_pdf

    pdf = text_pdf(tmp_path / "keeper.pdf", ["The keeper lights the lamp at dusk."] * 2)
    data = tmp_path / "data"
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from pathlib import Path
        from core.engine import Engine
        from tests.conftest import docs_data_dir_with_embedder

        root = docs_data_dir_with_embedder(Path({str(data)!r}), Path({str(starter_embedder)!r}))

        async def main():
            engine = Engine(root)
            try:
                async for _ev in engine.index([{str(pdf)!r}], "default"):
                    pass
                hits = await engine.search("when is the lamp lit", "default", 3)
                found = await engine.retrieve_for_question(
                    "When does the keeper light the lamp?", "default"
                )
            finally:
                await engine.close()
            heavy = [m for m in ("torch", "chromadb", "onnxruntime") if m in sys.modules]
            print(len(hits) > 0, found.covered, found.reranked, heavy or "none")

        asyncio.run(main())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=240
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "True", "True", "none"], out.stdout
