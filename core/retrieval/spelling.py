"""Misspelled question words, corrected against the library's own vocabulary.

A typo is a word the library never uses ("How do I make pbuilder stop when a
buld fails?"): it finds nothing in the keyword index, the embedder reads it
as fragments, and it costs the question relevance (``unknown_term_penalty``),
so such a question was refused. Each such word that is not an English word
is replaced by the spelling one edit away (a letter left out, added, changed,
or two neighbours swapped) whose stem the library uses most, provided that
spelling is an English word or a word the library prints: "buld" becomes
"build", "pbuildr" "pbuilder". The question is then searched as corrected,
and the answer says what was searched for.

Only a question that reads as English is corrected (one word in five is an
English function word such as "how", "the", "when"), as the word list is
English. Names are corrected too ("Launchpda" becomes "Launchpad"). What is
left alone, so that a question the documents do not cover stays refused:
English words (a library about packaging that never says "salsa" does not
turn it into "salt"), words shorter than :data:`MIN_LENGTH` (one edit turns
most of them into another word), the part of a contraction before "'t"
("shouldn't"), words with digits or letters other than a-z ("HDF5"), and
words with no spelling one edit away that the library uses ("TikZ" in a
packaging guide). A name the library never uses that is one edit from a word
it does use is taken for a typo: the answer's "Searched for" shows it. A
misspelling that is itself a word ("form" for "from") is not seen.

The English words are pyspellchecker's list (``resources/spelling``), read
once, when a question first has a word the library does not know.
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Iterator
from functools import cache
from string import ascii_lowercase

from core.documents.store import LibraryStore
from core.models.catalog import resources_dir
from core.retrieval.fts import STOPWORDS, query_terms, whole_word

log = logging.getLogger(__name__)

MIN_LENGTH = 4  # "buld" -> "build"; shorter words are too often one edit from another word
MAX_WORDS = 4  # bounds the work per question (about 250 spellings to look up per word)
# chunks read to see whether the library prints a spelling (its stem is in the index)
_PRINTED_SAMPLE = 200
_PRINTED_TRIES = 8  # of a word's spellings, the most used this many are looked for in the text


# one word of the list a line: "aardvark": 106,
_LISTED = re.compile(r'^"([^"\\]+)":', re.MULTILINE)


@cache
def english_words() -> frozenset[str]:
    """The English words of ``resources/spelling/en.json.gz`` (empty if it is missing).

    The words are read a line at a time, not by one ``json.load``: that holds
    Python's interpreter lock for about 80 ms, and the first question with an
    unknown word froze the window for 100-127 ms (``bench indexing_responsiveness``).
    """
    try:
        with gzip.open(resources_dir() / "spelling" / "en.json.gz", "rt", encoding="utf-8") as f:
            text = f.read()
    except (OSError, ValueError) as exc:
        log.warning("no spelling correction: the English word list cannot be read: %s", exc)
        return frozenset()
    words = frozenset(m[1] for m in _LISTED.finditer(text))
    if not words:
        log.warning("no spelling correction: the English word list holds no words")
    return words


def one_edit(word: str) -> list[str]:
    """Every spelling one edit from ``word`` (Damerau: delete, swap, change, insert),
    without repeats, in that order."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    seen: dict[str, None] = {}
    for left, right in splits:
        if right:
            seen.setdefault(left + right[1:], None)
        if len(right) > 1:
            seen.setdefault(left + right[1] + right[0] + right[2:], None)
    for left, right in splits:
        for c in ascii_lowercase:
            if right and c != right[0]:
                seen.setdefault(left + c + right[1:], None)
            seen.setdefault(left + c + right, None)
    seen.pop(word, None)
    return list(seen)


# "shouldn't": the part before "'t" is no word; "Gri's" is Gri
_NOT = re.compile(r"([^\W_]+)['’]t\b", re.IGNORECASE)


def _correctable(question: str, unknown: list[str], english: frozenset[str]) -> list[str]:
    contracted = {m[1].lower() for m in _NOT.finditer(question)}
    return [
        w
        for w in unknown
        if len(w) >= MIN_LENGTH
        and w.isascii()
        and w.isalpha()
        and w not in english
        and w not in contracted
    ][:MAX_WORDS]


def prints(store: LibraryStore, word: str) -> bool:
    """Whether the library's text has ``word`` as a whole word (the index holds only
    stems: the chunks of its stem are read, at most :data:`_PRINTED_SAMPLE`)."""
    pattern = whole_word(re.escape(word), re.IGNORECASE)
    return any(pattern.search(text) for text in store.texts_with(word, _PRINTED_SAMPLE))


def is_english(question: str) -> bool:
    """Whether a question reads as English: at least one word in five (and one at least)
    is an English function word ("how", "do", "the"). The word list is English; in
    another language most words would look misspelled."""
    words = [m[0].lower() for m in _words(question)]
    return sum(w in STOPWORDS for w in words) >= max(1.0, len(words) / 5)


def corrections(question: str, store: LibraryStore) -> dict[str, str]:
    """Each misspelled word of ``question`` (lower case) with its correction."""
    if not is_english(question):
        return {}
    stats = store.term_frequencies(query_terms(question))
    unknown = [w for w, df in stats if df == 0]
    if not unknown:
        return {}
    english = english_words()
    if not english:
        return {}  # without the word list every unknown word would look misspelled
    out: dict[str, str] = {}
    for word in _correctable(question, unknown, english):
        known = [(w, df) for w, df in store.term_frequencies(one_edit(word)) if df > 0]
        # the most used stem first; among equals, one_edit's order (deletions, swaps first)
        known.sort(key=lambda x: -x[1])
        fix = next(
            (
                w
                for i, (w, _) in enumerate(known)
                if w in english or (i < _PRINTED_TRIES and prints(store, w))
            ),
            None,
        )
        if fix is not None:
            out[word] = fix
    return out


def _words(text: str) -> Iterator[re.Match[str]]:
    return re.finditer(r"[^\W_]+", text)  # letters and digits, as query_terms reads them


def respelled(question: str, fixes: dict[str, str]) -> str:
    """``question`` with each word of ``fixes`` replaced (case-insensitive, whole words),
    keeping a capital first letter or capitals throughout."""
    if not fixes:
        return question
    parts: list[str] = []
    at = 0
    for m in _words(question):
        fix = fixes.get(m.group(0).lower())
        if fix is None:
            continue
        if m.group(0).isupper() and len(m.group(0)) > 1:
            fix = fix.upper()
        elif m.group(0)[0].isupper():
            fix = fix[0].upper() + fix[1:]
        parts += [question[at : m.start()], fix]
        at = m.end()
    return "".join(parts) + question[at:]
