"""Names in questions, and whether a real document mentions them (shared/eval's Ubuntu guide)."""

from __future__ import annotations

from pathlib import Path

import pymupdf

from core.engine import Engine
from core.retrieval.coverage import mentions, missing_names, question_names
from core.retrieval.hybrid import is_listing
from tests.conftest import SHARED_EVAL


def test_names_are_capitalised_mixed_case_or_alphanumeric_words() -> None:
    assert question_names("How can I export a Gri graph as TikZ code for a LaTeX document?") == [
        ("Gri",),
        ("TikZ",),
        ("LaTeX",),
    ]
    assert question_names("Can AMC send marks into a Google Classroom course?") == [
        ("AMC",),
        ("Google", "Classroom"),
    ]
    assert question_names("How do I read an hdf5 file?") == [("hdf5",)]
    # Sentence starts, the pronoun I and its contractions, possessives.
    assert question_names("Gri's manual. I'll ask: Why does it fail? I do not know.") == []
    assert question_names("Is Python fine? Python is not in Debian.") == [("Python",), ("Debian",)]


async def test_contents_that_do_not_mention_a_name(ubuntu_library: Path) -> None:
    engine = Engine(ubuntu_library)
    try:
        store = engine.documents.manager.store("eval")
        sha = store.query("SELECT sha FROM chunks LIMIT 1")[0][0]
        assert mentions(store, "Launchpad", sha)
        assert mentions(store, "pull-lp-source", sha)  # tokenised like the index
        assert not mentions(store, "Salsa", sha)
        assert not mentions(store, "Launchpad", "0" * 64)  # no such content
        names = question_names("Can pbuilder use a Docker image or the builders of Launchpad?")
        assert names == [("Docker",), ("Launchpad",)]
        assert missing_names(store, names, [sha]) == [("Docker",)]
        # A name counts as mentioned when any of its words is.
        assert missing_names(store, [("Launchpad", "Builders")], [sha]) == []
        # the word itself, not its stem: the guide says "window" but never "Windows"
        stem_hits = store.query("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'windows'")[
            0
        ][0]
        assert stem_hits > 0 and not mentions(store, "Windows", sha)
        # a plural name is mentioned by its singular written with the same capital(s)
        assert mentions(store, "CVEs", sha) and mentions(store, "Makefiles", sha)
        assert not mentions(store, "Dockers", sha)
    finally:
        await engine.close()


async def test_a_question_about_something_the_document_never_names(ubuntu_library: Path) -> None:
    engine = Engine(ubuntu_library)
    try:
        plain = await engine.retrieve_for_question(
            "How do I build my package in a clean chroot with pbuilder?", "eval"
        )
        named = await engine.retrieve_for_question(
            "How do I build my package in a clean Docker container?", "eval"
        )
    finally:
        await engine.close()
    assert plain.covered
    assert not named.covered and named.relevance < plain.relevance - 0.3


def test_tables_of_contents_and_indexes_are_listings() -> None:
    with pymupdf.open(SHARED_EVAL / "pdfs" / "gri.pdf") as doc:
        index_page = doc[273].get_text()  # "Index, general"
        prose_page = doc[160].get_text()  # "Long Command Lines"
    assert is_listing(index_page[:1200])
    assert not is_listing(prose_page)
