"""Keyword query building, rank fusion and passage merging (pure functions)."""

from __future__ import annotations

import sqlite3

import pytest

from core.documents.store import ChunkRow
from core.retrieval.fts import match_expression, query_terms
from core.retrieval.fusion import max_normalised, reciprocal_rank_fusion, weighted_sum
from core.retrieval.hybrid import _merge_text


def test_query_terms_drop_stopwords_and_split_punctuation() -> None:
    assert query_terms("How do I set up the pbuilder-dist chroot?") == [
        "set",
        "pbuilder",
        "dist",
        "chroot",
    ]
    assert query_terms("What is it?") == []
    assert match_expression("What is it?") == ""


@pytest.mark.parametrize(
    "query", ['a "quoted" OR (weird) NEAR/3 * query -- ; DROP', "C++ & co.", "ümlaut ß 日本語"]
)
def test_match_expressions_never_break_fts5(query: str) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(body, tokenize='porter unicode61')")
    db.execute("INSERT INTO f VALUES ('quoted weird query ümlaut co')")
    expr = match_expression(query)
    assert expr
    db.execute("SELECT rowid FROM f WHERE f MATCH ?", (expr,)).fetchall()


def test_porter_stemming_matches_word_forms() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(body, tokenize='porter unicode61')")
    db.execute("INSERT INTO f VALUES ('the package compiles')")
    assert (
        db.execute(
            "SELECT count(*) FROM f WHERE f MATCH ?", (match_expression("compiling packages"),)
        ).fetchone()[0]
        == 1
    )


def test_reciprocal_rank_fusion() -> None:
    scores = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], k=60)
    assert max(scores, key=scores.__getitem__) == "a"
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    weighted = reciprocal_rank_fusion([["a"], ["b"]], weights=[1.0, 2.0])
    assert weighted["b"] > weighted["a"]


def test_normalisation_and_weighted_sum() -> None:
    assert max_normalised({"a": 4.0, "b": 2.0}) == {"a": 1.0, "b": 0.5}
    assert weighted_sum([({"a": 1.0}, 0.5), ({"a": 1.0, "b": 1.0}, 1.0)]) == {"a": 1.5, "b": 1.0}


def _row(start: int, text: str) -> ChunkRow:
    return ChunkRow(0, "id", "sha", 0, 1, start, start + len(text), "", text)


def test_merged_passages_keep_page_offsets() -> None:
    page = "Alpha beta gamma.  Delta epsilon zeta. Eta theta."
    a = _row(0, page[0:24])  # overlaps b
    b = _row(19, page[19:38])
    c = _row(39, page[39:])  # after a one-character gap
    text, start, end = _merge_text([c, a, b])
    assert (start, end) == (0, len(page))
    assert len(text) == len(page) and text.split() == page.split()
