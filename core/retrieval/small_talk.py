"""Messages that are not questions for the documents: "Hi!", "Thanks, that helps."

With a library ticked, every message used to be searched, and a greeting or a
thank-you was answered "The documents in this library do not seem to cover
that". :func:`is_small_talk` recognises such short messages so that the model
answers them as a plain chat, without passages (and without a refusal).
"""

from __future__ import annotations

import re

_PHRASES = (
    r"hi|hello|hey|hiya|howdy|greetings|yo|"
    r"good\s+(?:morning|afternoon|evening|night)|"
    r"thanks?|thank\s+you|thanks\s+a\s+lot|many\s+thanks|thx|ty|cheers|"
    r"ok(?:ay)?|great|perfect|cool|nice|awesome|got\s+it|understood|"
    r"bye|goodbye|see\s+you|how\s+are\s+you|who\s+are\s+you"
)
_TAIL = r"(?:\s+(?:so\s+much|very\s+much|again|a\s+lot|there|lectern|all))*"
_FILLER = r"(?:that\s+(?:helps|helped|works|worked)|(?:this|that)\s+is\s+(?:great|helpful))"
_SMALL_TALK = re.compile(
    rf"^(?:(?:{_PHRASES}){_TAIL}|{_FILLER})"
    rf"(?:\s*[,.!]*\s*(?:(?:{_PHRASES}){_TAIL}|{_FILLER}))*\s*[.!?:)]*$",
    re.IGNORECASE,
)


def is_small_talk(message: str) -> bool:
    """Whether ``message`` is a greeting, a thank-you or the like, not a question."""
    text = " ".join(message.split())
    return len(text) <= 60 and bool(_SMALL_TALK.match(text))
