"""Chunking with the real embedder tokenizer: limits, offsets, overlap, headings."""

from __future__ import annotations

import itertools

from core.documents.chunking import chunk_pages, embedding_text
from core.documents.embedder import Embedder
from core.documents.extraction import TocEntry

PAGE = (
    "Introduction\n"
    + " ".join(f"Sentence number {i} explains one more detail of the machine." for i in range(60))
    + "\n\nMaintenance\n"
    + " ".join(f"Step {i}: tighten bolt {i} by a quarter turn." for i in range(40))
)


def test_chunks_respect_the_token_limit_and_point_into_the_page(docs_embedder: Embedder) -> None:
    pages = ["", PAGE, "Short last page."]
    chunks = chunk_pages(pages, docs_embedder.token_offsets, max_tokens=64, overlap=16)
    assert chunks, "no chunks"
    assert {c.page for c in chunks} == {2, 3}  # 1-based, empty page skipped
    for i, c in enumerate(chunks):
        assert c.index == i
        assert c.text == pages[c.page - 1][c.char_start : c.char_end]
        assert docs_embedder.count_tokens(c.text) <= 64
        assert c.tokens <= 64


def test_neighbouring_chunks_overlap_and_cover_the_page(docs_embedder: Embedder) -> None:
    chunks = chunk_pages([PAGE], docs_embedder.token_offsets, max_tokens=64, overlap=16)
    assert len(chunks) > 4
    for a, b in itertools.pairwise(chunks):
        assert b.char_start < a.char_end, "no overlap"
        assert b.char_start > a.char_start, "no progress"
    assert chunks[0].char_start == 0
    assert chunks[-1].char_end == len(PAGE.rstrip())


def test_chunks_prefer_sentence_ends(docs_embedder: Embedder) -> None:
    chunks = chunk_pages([PAGE], docs_embedder.token_offsets, max_tokens=64, overlap=16)
    ends = [c.text.rstrip()[-1] for c in chunks[:-1]]
    assert sum(e in ".:" for e in ends) >= len(ends) - 1


def test_headings_come_from_the_outline(docs_embedder: Embedder) -> None:
    toc = [TocEntry(1, "Introduction", 1), TocEntry(1, "Maintenance", 1)]
    chunks = chunk_pages([PAGE, "Later page."], docs_embedder.token_offsets, 64, 16, toc)
    assert chunks[0].heading == "Introduction"
    assert any(c.heading == "Maintenance" and "bolt" in c.text for c in chunks)
    assert chunks[-1].heading == "Maintenance"  # carried to the next page
    text = embedding_text("Manual", chunks[0].heading, chunks[0].text)
    assert text.startswith("Manual — Introduction\n")


def test_a_word_longer_than_the_limit_is_still_split(docs_embedder: Embedder) -> None:
    page = "ab-" * 1000  # one "word" of 2000 tokens (no whitespace anywhere)
    chunks = chunk_pages([page], docs_embedder.token_offsets, max_tokens=32, overlap=8)
    assert len(chunks) > 1
    assert all(c.tokens <= 32 for c in chunks)


def test_a_section_that_starts_on_the_page_starts_a_chunk(docs_embedder: Embedder) -> None:
    toc = [TocEntry(1, "Introduction", 1), TocEntry(1, "Maintenance", 1)]
    chunks = chunk_pages([PAGE], docs_embedder.token_offsets, 64, 16, toc)
    at = PAGE.index("Maintenance")
    starting = [c for c in chunks if c.char_start == at]
    assert len(starting) == 1 and starting[0].heading == "Maintenance"
    for c in chunks:  # no chunk crosses the section start
        assert c.char_end <= at or c.char_start >= at
        assert c.heading == ("Introduction" if c.char_end <= at else "Maintenance")
        assert c.tokens <= 64
        assert c.text == PAGE[c.char_start : c.char_end]


def test_a_section_start_near_the_chunk_start_does_not_make_a_tiny_chunk(
    docs_embedder: Embedder,
) -> None:
    page = "Intro words.\n" + PAGE.split("\n\n", 1)[1]  # "Maintenance" after 4 tokens
    toc = [TocEntry(1, "Maintenance", 1)]
    chunks = chunk_pages([page], docs_embedder.token_offsets, 64, 16, toc)
    assert chunks[0].char_start == 0 and "bolt" in chunks[0].text
    assert chunks[0].heading == "Maintenance"  # the heading of most of the chunk
