"""Hybrid search on a real manual (shared/eval's Ubuntu Packaging Guide), through the engine."""

from __future__ import annotations

from pathlib import Path

import pymupdf

from core.engine import Engine
from core.events import Done, Progress, Sources, Token
from core.retrieval.grounding import NOT_COVERED_ANSWER
from core.storage.recording import stats_summary
from core.types import Message
from tests.conftest import SHARED_EVAL

UBUNTU = SHARED_EVAL / "pdfs" / "ubuntu-packaging-guide.pdf"


def _page_texts() -> list[str]:
    with pymupdf.open(UBUNTU) as doc:
        return [p.get_text() for p in doc]


async def test_passages_point_at_their_page_text(ubuntu_library: Path) -> None:
    engine = Engine(ubuntu_library)
    try:
        hits = await engine.search("pbuilder hook to pause on a build failure", "eval", k=5)
    finally:
        await engine.close()
    assert len(hits) == 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    pages = _page_texts()
    for h in hits:
        assert h.file == "ubuntu-packaging-guide.pdf" and h.path == str(UBUNTU)
        assert h.library == "eval" and h.chunk_id
        span = pages[h.page - 1][h.char_start : h.char_end]
        assert len(span) == len(h.text)
        assert span.split() == h.text.split()  # same words (gaps between chunks are spaces)
    assert len({h.page for h in hits}) == 5  # one passage per page
    assert 45 in [h.page for h in hits[:3]]  # "pause when it comes across a build failure"


async def test_a_covered_question_and_an_uncovered_one(ubuntu_library: Path) -> None:
    engine = Engine(ubuntu_library)
    try:
        yes = await engine.retrieve_for_question(
            "In which pocket does a stable release update wait before it is moved to updates?",
            "eval",
        )
        no = await engine.retrieve_for_question(
            "What is the best temperature for baking sourdough bread?", "eval"
        )
    finally:
        await engine.close()
    assert yes.covered and yes.passages
    assert 25 in [p.page for p in yes.passages]
    assert not no.covered and no.relevance < yes.relevance
    assert "do not" in NOT_COVERED_ANSWER


async def test_a_question_about_the_whole_guide_is_answered_from_its_opening_pages(
    ubuntu_library: Path,
) -> None:
    # "Summarize this document." resembles no passage: it was refused as not covered
    engine = Engine(ubuntu_library)
    try:
        about = await engine.retrieve_for_question("Summarize this document.", "eval")
        specific = await engine.retrieve_for_question(
            "What does the guide say about baking sourdough bread?", "eval"
        )
    finally:
        await engine.close()
    assert about.covered and about.relevance < 0.39  # below the threshold, yet answered
    pages = _page_texts()
    with_text = [n for n, text in enumerate(pages, 1) if text.strip()]
    assert [p.page for p in about.passages] == with_text[:6]  # its first six pages of text
    assert "Ubuntu Packaging Guide" in about.passages[0].text
    for p in about.passages:  # citations that open their page and highlight the passage
        assert pages[p.page - 1][p.char_start : p.char_end].split() == p.text.split()
    assert not specific.covered  # a question about something in it is not an overview


async def test_keyword_only_terms_are_found(ubuntu_library: Path) -> None:
    """An exact command name that the embedder knows nothing about still ranks its page."""
    engine = Engine(ubuntu_library)
    try:
        hits = await engine.search("C10shell hookdir", "eval", k=3)
    finally:
        await engine.close()
    assert hits[0].page == 45 and "C10shell" in hits[0].text


async def test_term_statistics_use_the_index_tokenizer(ubuntu_library: Path) -> None:
    engine = Engine(ubuntu_library)
    try:
        store = engine.documents.manager.store("eval")
        stats = dict(store.term_frequencies(["pbuilder", "snapcraft", "packaging", "Packages"]))
        match, unknown = engine.documents.searcher("eval").keyword_plan(
            "How do I publish a snapcraft package with pbuilder?"
        )
    finally:
        await engine.close()
    assert stats["snapcraft"] == 0 and stats["pbuilder"] > 0
    assert stats["packaging"] == stats["Packages"] > stats["pbuilder"]  # same porter stem
    assert unknown == ["snapcraft"]
    assert '"pbuilder"' in match and "snapcraft" not in match


async def test_ask_with_a_library_says_what_it_does_and_when_it_cannot_answer(
    ubuntu_library: Path, starter_gguf: Path
) -> None:
    engine = Engine(ubuntu_library)
    # short answers: what is checked is the events around them, not their length
    short = engine.settings.generation.model_copy(update={"max_tokens": 16})
    try:
        no = [
            ev
            async for ev in engine.ask(
                "What is the best temperature for baking sourdough bread?",
                library="eval",
                model=str(starter_gguf),
                sampling=short,
            )
        ]
        loaded_after_refusal = engine.loaded_model
        yes = [
            ev
            async for ev in engine.ask(
                "How can I make pbuilder stop when a build fails?",
                library="eval",
                model=str(starter_gguf),
                sampling=short,
            )
        ]
        thanks = [
            ev
            async for ev in engine.ask(
                "Thanks, that helps!", library="eval", model=str(starter_gguf), sampling=short
            )
        ]
    finally:
        await engine.close()
    searching = Progress("search", 0, 0, "Searching the documents")
    assert no[:2] == [searching, Progress("search", 1, 0, "Thinking")]
    assert no[2:] == [
        Sources(()),
        Token(NOT_COVERED_ANSWER),
        Done(NOT_COVERED_ANSWER, no[-1].stats),
    ]
    assert loaded_after_refusal is None  # no model runs for a question the library cannot answer
    # so no zero timings are shown for it
    assert stats_summary(no[-1].stats) == "no model ran"
    assert yes[0] == searching
    sources = next(ev for ev in yes if isinstance(ev, Sources))
    assert sources.passages and sources.passages[0].page == 45
    assert isinstance(yes[-1], Done) and yes[-1].text
    assert "tok/s" in stats_summary(yes[-1].stats)
    assert any(isinstance(ev, Token) for ev in yes)
    # a thank-you is not searched for and refused ("do not seem to cover that"): the
    # model answers it, without passages
    assert not any(isinstance(ev, Progress) and ev.task == "search" for ev in thanks)
    assert not any(isinstance(ev, Sources) and ev.passages for ev in thanks)
    assert isinstance(thanks[-1], Done) and thanks[-1].text != NOT_COVERED_ANSWER
    assert thanks[-1].stats is not None and thanks[-1].stats.completion_tokens > 0


async def test_a_models_own_sampling_reaches_answers_from_documents(
    ubuntu_library: Path, starter_gguf: Path
) -> None:
    # the desktop chat passes a model's own settings (Models → Settings…); an answer from
    # documents was written with the global ones instead
    engine = Engine(ubuntu_library)
    try:
        conv = await engine.create_conversation()
        sampling = engine.settings.generation.model_copy(
            update={"max_tokens": 3, "temperature": 0.0}
        )
        events = [
            ev
            async for ev in engine.send_message(
                conv.id,
                "How can I make pbuilder stop when a build fails?",
                libraries=["eval"],
                model=str(starter_gguf),
                sampling=sampling,
            )
        ]
    finally:
        await engine.close()
    assert any(isinstance(ev, Sources) and ev.passages for ev in events)
    done = events[-1]
    assert isinstance(done, Done) and done.stats is not None
    assert 0 < done.stats.completion_tokens <= 3


async def test_a_follow_up_question_is_searched_with_the_one_before(
    ubuntu_library: Path, starter_gguf: Path
) -> None:
    # "Where is it configured?" alone was refused: the search did not know what "it" is
    first = "How can I make pbuilder stop when a build fails?"
    follow_up = "Where is it configured?"
    engine = Engine(ubuntu_library)
    short = engine.settings.generation.model_copy(update={"max_tokens": 16})
    try:
        alone = await engine.retrieve_for_question(follow_up, "eval")
        history = [Message("user", first), Message("assistant", "Use a hook.")]
        events = [
            ev
            async for ev in engine.ask(
                follow_up,
                library="eval",
                model=str(starter_gguf),
                history=history,
                sampling=short,
            )
        ]
    finally:
        await engine.close()
    assert not alone.covered
    sources = next(ev for ev in events if isinstance(ev, Sources))
    assert sources.passages and sources.passages[0].page == 45
    assert isinstance(events[-1], Done) and events[-1].text != NOT_COVERED_ANSWER
