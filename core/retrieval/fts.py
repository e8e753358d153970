"""Keyword queries for the SQLite FTS5 index (BM25).

The index uses FTS5's ``porter`` tokenizer, so "compiling" finds "compile".
Questions are turned into an OR of their content words: common English words
are dropped (they would match most chunks and only slow BM25 down), and
every term is quoted so punctuation in a question can never make FTS5 fail.
"""

from __future__ import annotations

import re

# Question words and function words; short on purpose (content words must stay).
_STOPWORD_TEXT = """
a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing don done down during
    each else ever every few for from further get gets got had has have having he her here
    hers him his how i if in into is it its itself just let like ll me might mine more most
    much must my myself need no nor not now of off on once one only or other our ours out
    over own per please rather re same shall she should so some such than that the their
    them then there these they this those through to too under until up upon us use used
    using ve very via want was way we were what when where whether which while who whom
    whose why will with within without would yes yet you your yours"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_WORD = re.compile(r"[^\W_]+(?:[._'-][^\W_]+)*", re.UNICODE)


def whole_word(body: str, flags: int = 0) -> re.Pattern[str]:
    """A regular expression ``body`` that matches only as a whole word (not inside one)."""
    return re.compile(rf"(?<![^\W_]){body}(?![^\W_])", flags)


def query_terms(text: str) -> list[str]:
    """Content words of a question, lower-cased, in order, without repeats."""
    seen: dict[str, None] = {}
    for m in _WORD.finditer(text.lower()):
        for part in re.split(r"[._'-]", m.group(0)):
            if len(part) > 1 and part not in STOPWORDS:
                seen.setdefault(part, None)
    return list(seen)


def match_expression(text: str) -> str:
    """An FTS5 MATCH expression: the OR of the quoted content words ('' if none)."""
    return " OR ".join(f'"{t}"' for t in query_terms(text))
