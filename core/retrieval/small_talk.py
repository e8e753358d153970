"""Messages that are not questions for the documents: "Hi!", "Thanks, that helps."

With a library ticked, every message used to be searched, and a greeting or a
thank-you was answered "The documents in this library do not seem to cover
that". :func:`is_small_talk` recognises such short messages so that the model
answers them as a plain chat, without passages (and without a refusal).
Typed in a hurry ("Thnaks!", "helo", "thank u") they are still small talk: a
word of four letters or more one slip (a letter wrong, missing, extra or two
swapped) from one of the longer of these words is read as that word.
"""

from __future__ import annotations

import functools
import re

from core.retrieval.spelling import one_edit

_PHRASES = (
    r"hi|hello|hey|hiya|howdy|greetings|yo|"
    r"good\s+(?:morning|afternoon|evening|night)|"
    r"thanks?|thank\s+(?:you|u)|thanks\s+a\s+lot|many\s+thanks|thx|thnx|tnx|ty|cheers|"
    r"ok(?:ay)?|great|perfect|cool|nice|awesome|got\s+it|understood|"
    r"bye|goodbye|see\s+you|how\s+are\s+you|who\s+are\s+you|what['’]?s\s+up|sup|"
    # the same in French, German, Spanish, Italian and Portuguese
    r"merci(?:\s+beaucoup)?|bonjour|bonsoir|salut|au\s+revoir|"
    r"danke(?:\s+sch(?:ö|oe)n)?|vielen\s+dank|hallo|guten\s+(?:morgen|tag|abend)|tsch(?:ü|ue)ss|"
    r"(?:muchas\s+)?gracias|hola|buen[oa]s\s+(?:d[ií]as|tardes|noches)|adi[oó]s|"
    r"grazie(?:\s+mille)?|ciao|buongiorno|obrigad[oa]|ol[aá]"
)
# the words a slip is corrected to (five letters or more: shorter ones are too close to others)
_WORDS = ("thanks", "thank", "hello", "howdy", "greetings", "morning", "afternoon", "evening",
          "cheers", "great", "perfect", "awesome", "understood", "goodbye")  # fmt: skip
_TAIL = r"(?:\s+(?:so\s+much|very\s+much|again|a\s+lot|there|lectern|all))*"
_FILLER = r"(?:that\s+(?:helps|helped|works|worked)|(?:this|that)\s+is\s+(?:great|helpful))"
_SMALL_TALK = re.compile(
    rf"^[¡¿]?(?:(?:{_PHRASES}){_TAIL}|{_FILLER})"
    rf"(?:\s*[,.!]*\s*(?:(?:{_PHRASES}){_TAIL}|{_FILLER}))*\s*[.!?:)]*$",
    re.IGNORECASE,
)


@functools.cache
def _slips() -> dict[str, str]:
    """Each spelling one edit from a word of ``_WORDS``, mapped to that word."""
    out: dict[str, str] = {}
    for word in _WORDS:
        for slip in one_edit(word):
            out.setdefault(slip, word)
    for word in _WORDS:  # "thank" is no slip of "thanks"
        out.pop(word, None)
    return out


def _mended(word: str) -> str:
    lower = word.lower()
    return _slips().get(lower, word) if len(lower) >= 4 else word


def is_small_talk(message: str) -> bool:
    """Whether ``message`` is a greeting, a thank-you or the like, not a question."""
    text = " ".join(message.split())
    if len(text) > 60:
        return False
    if _SMALL_TALK.match(text):
        return True
    mended = re.sub(r"[^\W\d_]+", lambda m: _mended(m.group()), text)
    return mended != text and bool(_SMALL_TALK.match(mended))
