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

import re

_PHRASES = (
    r"hi|hello|hey|hiya|howdy|greetings|yo|"
    r"good\s+(?:morning|afternoon|evening|night)|"
    r"thanks?|thank\s+(?:you|u)|thanks\s+a\s+lot|many\s+thanks|thx|thnx|tnx|ty|cheers|"
    r"ok(?:ay)?|great|perfect|cool|nice|awesome|got\s+it|understood|"
    r"bye|goodbye|see\s+you|how\s+are\s+you|who\s+are\s+you|what'?s\s+up|sup"
)
# the words a slip is corrected to (five letters or more: shorter ones are too close to others)
_WORDS = ("thanks", "thank", "hello", "howdy", "greetings", "morning", "afternoon", "evening",
          "cheers", "great", "perfect", "awesome", "understood", "goodbye")  # fmt: skip
_TAIL = r"(?:\s+(?:so\s+much|very\s+much|again|a\s+lot|there|lectern|all))*"
_FILLER = r"(?:that\s+(?:helps|helped|works|worked)|(?:this|that)\s+is\s+(?:great|helpful))"
_SMALL_TALK = re.compile(
    rf"^(?:(?:{_PHRASES}){_TAIL}|{_FILLER})"
    rf"(?:\s*[,.!]*\s*(?:(?:{_PHRASES}){_TAIL}|{_FILLER}))*\s*[.!?:)]*$",
    re.IGNORECASE,
)


def _one_slip(a: str, b: str) -> bool:
    """Whether ``a`` is ``b`` with one letter wrong, missing, extra, or two swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        i = diff[0]
        return len(diff) == 2 and diff[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _mended(word: str) -> str:
    lower = word.lower()
    if len(lower) < 4 or not lower.isalpha():
        return word
    return next((w for w in _WORDS if _one_slip(lower, w)), word)


def is_small_talk(message: str) -> bool:
    """Whether ``message`` is a greeting, a thank-you or the like, not a question."""
    text = " ".join(message.split())
    if len(text) > 60:
        return False
    if _SMALL_TALK.match(text):
        return True
    mended = re.sub(r"[^\W\d_]+", lambda m: _mended(m.group()), text)
    return mended != text and bool(_SMALL_TALK.match(mended))
