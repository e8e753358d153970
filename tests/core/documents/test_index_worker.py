"""The embedding model in its worker process: same results as in-process, errors, restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from core.documents.embedder import LocalEmbedder
from core.documents.embedder_process import EmbedderProcess
from core.errors import DocumentError
from core.priority import BACKGROUND_NICE
from tests.conftest import REPO

TEXTS = [
    "The lighthouse keeper trims the wick at dusk.",
    "Debian source packages are built with dpkg-buildpackage.",
]


@pytest.fixture(scope="module")
def worker(starter_embedder: Path):  # type: ignore[no-untyped-def]
    proc = EmbedderProcess(starter_embedder, "all-MiniLM-L6-v2")
    yield proc
    proc.close()


def test_worker_gives_the_same_vectors_and_offsets_as_the_model_in_process(
    worker: EmbedderProcess, docs_embedder: LocalEmbedder
) -> None:
    assert worker.info == docs_embedder.info
    assert worker.info.name == "all-MiniLM-L6-v2" and worker.info.dimension == 384
    vectors = worker.embed(TEXTS)
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, docs_embedder.embed(TEXTS), atol=1e-5)
    np.testing.assert_allclose(worker.embed_query(TEXTS[0]), vectors[0], atol=1e-5)
    assert worker.token_offsets(TEXTS[1]) == docs_embedder.token_offsets(TEXTS[1])
    assert worker.count_tokens(TEXTS[0]) == docs_embedder.count_tokens(TEXTS[0]) > 5
    assert worker.embed([]).shape == (0, 384)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX niceness")
def test_the_worker_runs_at_background_priority(worker: EmbedderProcess) -> None:
    assert worker.pid is not None
    assert psutil.Process(worker.pid).nice() >= BACKGROUND_NICE > psutil.Process().nice()


def test_a_dead_worker_is_started_again_on_the_next_call(worker: EmbedderProcess) -> None:
    before = worker.pid
    assert before is not None
    os.kill(before, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while worker.pid is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.embed(TEXTS).shape == (2, 384)
    assert worker.pid not in (None, before)


def test_a_worker_dying_during_a_call_fails_that_call_only(worker: EmbedderProcess) -> None:
    pid = worker.pid
    assert pid is not None
    errors: list[BaseException] = []

    def embed_a_lot() -> None:
        try:
            worker.embed(TEXTS * 2000)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    thread = threading.Thread(target=embed_a_lot)
    thread.start()
    time.sleep(1.0)  # well inside the 4000-text batch (several seconds here)
    os.kill(pid, signal.SIGKILL)
    thread.join(60)
    assert len(errors) == 1 and isinstance(errors[0], DocumentError), errors
    assert "stopped unexpectedly" in str(errors[0])
    assert worker.embed(TEXTS).shape == (2, 384)


def test_a_folder_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "not-a-model" / "readme.txt").write_text("nothing here")
    with pytest.raises(DocumentError, match="could not be loaded"):
        EmbedderProcess(tmp_path / "not-a-model")


@pytest.mark.slow
def test_indexing_and_search_never_load_torch_in_the_application_process(
    tmp_path: Path, starter_embedder: Path
) -> None:
    """The point of the worker: torch (and its GIL-holding start-up) stays out of the app."""
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
            finally:
                await engine.close()
            print(len(hits) > 0, "torch" in sys.modules, "sentence_transformers" in sys.modules)

        asyncio.run(main())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=240
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "False", "False"], out.stdout
