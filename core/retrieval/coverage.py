"""Does a document cover a question? Names in the question that the document never uses.

A question that names something (a product, a tool, a file format: "Google
Classroom", "TikZ", "HDF5", "Python") is about that thing. If the document
the best passages come from never mentions it, the passages are at best
about something nearby, however similar their vectors are: a Gri manual that
never says "TikZ" does not explain how to export Gri graphs as TikZ.

Names are recognised by their spelling, the way a reader spots them: a word
capitalised inside a sentence, a word with a capital after its first letter
(``OpenPGP``, ``TikZ``), or letters mixed with digits (``HDF5``).
Neighbouring name words are one name ("LibreOffice Writer"); a name counts
as mentioned when any of its words is, so a paraphrased product name
("Writer" for "LibreOffice Writer") is not held against a question. The
first word of a sentence is not taken (it is capitalised anyway), nor the
pronoun "I" and its contractions.

The check reads FTS5 posting lists limited to the document's rowid range
(``LibraryStore.texts_with``), so it stays cheap in a library of 100,000 chunks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.documents.store import LibraryStore
from core.retrieval.fts import whole_word

_WORD = re.compile(r"[^\W_]+(?:[.'’-][^\W_]+)*", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.?!:;])\s+")
MAX_NAMES = 6  # bounds the work per question
MAX_CHUNKS_READ = 2000  # chunks with a name's stem whose text is read for the name itself


def _is_name(word: str, first_in_sentence: bool) -> bool:
    if len(word) < 2:
        return False
    has_alpha = any(c.isalpha() for c in word)
    if has_alpha and any(c.isdigit() for c in word):
        return True
    if any(c.isupper() for c in word[1:]):
        return True
    return word[0].isupper() and not first_in_sentence


def question_names(text: str) -> list[tuple[str, ...]]:
    """Runs of name-like words in a question, in order, without repeats (case ignored)."""
    names: list[tuple[str, ...]] = []
    seen: set[tuple[str, ...]] = set()
    for sentence in _SENTENCE_END.split(text.strip()):
        run: list[str] = []
        prev_end = -2
        for i, m in enumerate(_WORD.finditer(sentence)):
            # "Gri's" is Gri, "I'll" is I.
            word = re.split(r"['’]", m.group(0))[0]
            if _is_name(word, i == 0):
                if run and m.start() > prev_end + 1:
                    names.append(tuple(run))
                    run = []
                run.append(word)
            elif run:
                names.append(tuple(run))
                run = []
            prev_end = m.end()
        if run:
            names.append(tuple(run))
    out = []
    for name in names:
        key = tuple(w.lower() for w in name)
        if key not in seen:
            seen.add(key)
            out.append(name)
    return out[:MAX_NAMES]


def _forms(word: str) -> list[re.Pattern[str]]:
    """How a document may write a name: the word itself (any case, with a possessive), and
    for a plural-looking name its singular with the same capital ("Makefiles": "Makefile",
    "CVEs": "CVE"; "Windows" is not "window")."""

    def spelled(w: str) -> str:  # "pull-lp-source" may be broken across lines
        return r"[\s.\-]+".join(re.escape(p) for p in re.split(r"[.\-]+", w) if p)

    possessive = r"(?:['’]s)?"
    forms = [whole_word(spelled(word) + possessive, re.IGNORECASE)]
    if len(word) > 3 and word.endswith("s"):
        forms.append(whole_word(spelled(word[:-1]) + possessive))  # case kept
    return forms


def mentions(store: LibraryStore, word: str, sha: str) -> bool:
    """Whether the content with this sha256 uses ``word`` as a word.

    FTS5 finds the chunks with the word's stem; their text must then hold the
    word itself, since the stemmer makes one word of a name and a common noun
    ("Windows" and "window", which a manual about a graphical program uses all
    the time).
    """
    forms = _forms(word)
    # the first few chunks settle most names ("Gri" in Gri's manual: 1,399 chunks)
    for offset, limit in ((0, 16), (16, MAX_CHUNKS_READ - 16)):
        texts = store.texts_with(word, limit, offset, sha)
        if any(f.search(text) for text in texts for f in forms):
            return True
        if len(texts) < limit:
            return False
    return False


def missing_names(
    store: LibraryStore, names: Sequence[tuple[str, ...]], shas: Sequence[str]
) -> list[tuple[str, ...]]:
    """The names that none of the given contents mentions (by any of the name's words)."""
    if not shas:
        return list(names)
    return [
        name
        for name in names
        if not any(mentions(store, word, sha) for word in name for sha in shas)
    ]
