"""Misspelled question words corrected against the library's words (real Ubuntu guide)."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

from core.engine import Engine
from core.events import Done, Sources
from core.retrieval.grounding import NOT_COVERED_ANSWER
from core.retrieval.spelling import (
    corrections,
    english_words,
    is_english,
    one_edit,
    respelled,
)
from tests.conftest import REPO
from tests.core.retrieval.questions import benchmark_questions

TYPO = "How can I make pbuilder stop when a buld fails?"
FIXED = "How can I make pbuilder stop when a build fails?"


def test_spellings_one_edit_away() -> None:
    edits = one_edit("buld")
    assert len(edits) == len(set(edits)) and "buld" not in edits
    # a letter added, left out, changed, and two neighbours swapped
    assert {"build", "bud", "bold", "ubld"} <= set(edits)
    assert "xbuldx" not in edits and "blid" not in edits  # two edits
    assert edits.index("bud") < edits.index("bold")  # the fewest changes first


def test_respelling_keeps_the_question_as_typed() -> None:
    fixes = {"buld": "build", "pacakge": "package"}
    assert respelled("Buld the pacakge, then buld-test it.", fixes) == (
        "Build the package, then build-test it."
    )
    assert respelled("rebuld and buld5 stay", fixes) == "rebuld and buld5 stay"  # whole words
    assert respelled("BULD IT", fixes) == "BUILD IT"
    assert respelled(TYPO, {}) == TYPO


def test_only_questions_in_english_are_corrected() -> None:
    # the word list is English: in another language most words would look misspelled
    assert is_english(TYPO) and is_english("Why does pbuildr fail?")
    assert not is_english("Wie kann ich pbuilder anhalten, wenn ein Build fehlschlägt?")
    assert not is_english("Comment installer le paquet avec dpkg ?")
    assert not is_english("pbuilder buld failure")  # keywords alone: nothing to tell by
    assert all(is_english(q) for q in benchmark_questions())


def test_the_english_word_list_is_shipped() -> None:
    words = english_words()
    assert len(words) > 100_000
    assert {"build", "shades", "salsa"} <= words and "buld" not in words
    # read a line at a time (one json.load froze the window), yet every word is there
    with gzip.open(REPO / "resources" / "spelling" / "en.json.gz", "rt", encoding="utf-8") as f:
        assert words == frozenset(json.load(f))
    assert {"a's", "aardvark"} <= words


async def test_misspelled_words_take_the_librarys_spelling(ubuntu_library: Path) -> None:
    engine = Engine(ubuntu_library)
    try:
        store = engine.documents.manager.store("eval")

        def fixes(question: str) -> dict[str, str]:
            return corrections(question, store)

        assert fixes(TYPO) == {"buld": "build"}
        # a word the guide prints but English does not have
        assert fixes("Why does pbuildr fail?") == {"pbuildr": "pbuilder"}
        assert fixes("Which comand uploads the pacakge?") == {
            "comand": "command",
            "pacakge": "package",
        }
        # names and possessives too
        assert fixes("How do I upload to Launchpda with Ubunut's dput?") == {
            "launchpda": "launchpad",
            "ubunut": "ubuntu",
        }
        # left alone: words the guide uses, English words it does not use (a question it
        # does not cover stays refused), names with no spelling one edit away that it uses,
        # short words, the part of a contraction before 't
        assert fixes(FIXED) == {}
        assert fixes("How do I push the branch to salsa?") == {}
        assert fixes("Can I export my graphs to TikZ?") == {}
        assert fixes("Does bld work?") == {}
        assert fixes("Why buildn't it work?") == {}
        assert fixes("Wie installiere ich das pacakge?") == {}  # not English
    finally:
        await engine.close()


async def test_a_misspelled_question_is_answered_as_corrected(
    ubuntu_library: Path, starter_gguf: Path
) -> None:
    # the question was refused: "buld" matched nothing and cost it relevance
    engine = Engine(ubuntu_library)
    try:
        searcher = engine.documents.searcher("eval", questions=True)
        params = engine.documents.params()
        as_typed = searcher.retrieve(TYPO, 6, replace(params, correct_spelling=False))
        hits = await engine.retrieve_for_question(TYPO, "eval")
        sampling = engine.settings.generation.model_copy(
            update={"max_tokens": 3, "temperature": 0.0}
        )
        events = [
            ev
            async for ev in engine.ask(
                TYPO, library="eval", model=str(starter_gguf), sampling=sampling
            )
        ]
    finally:
        await engine.close()
    assert not as_typed.covered and as_typed.searched_for == ""
    assert hits.covered and hits.searched_for == FIXED
    assert hits.passages[0].page == 45  # "pause when it comes across a build failure"
    sources = next(ev for ev in events if isinstance(ev, Sources))
    assert sources.searched_for == FIXED and sources.passages[0].page == 45
    assert isinstance(events[-1], Done) and events[-1].text != NOT_COVERED_ANSWER
