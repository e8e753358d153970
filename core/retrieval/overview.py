"""Questions about a document as a whole: "What is this manual about?", "Summarize the PDF."

No passage of a manual is *similar* to such a question, so the relevance rule
(see :mod:`core.retrieval.coverage`) refuses it, while the answer is plainly in
the document's opening pages: its title, preface, introduction and contents.
:func:`is_overview_question` recognises these questions (only the forms below,
so that a question about something the library lacks is still refused), and
the searcher then answers from the opening pages (``HybridSearcher.retrieve``).
"""

from __future__ import annotations

import re

_NOUN = (
    r"(?:document|manual|pdf|file|book|e-?book|epub|paper|guide|report|handbook|text|article|note)"
)
_REF = r"(?:this|the|these|that|those|my|our|attached)"
_THE_DOC = rf"{_REF}\s+(?:\w+\s+)?{_NOUN}s?\b"  # "this manual", "the attached PDF"
_END = r"\s*(?:in\s+(?:general|short|brief))?\s*[?.!]*\s*$"

_PATTERNS = [
    # "Summarize this document." / "Give me an overview of the manual" / "TL;DR of the PDF"
    rf"\b(?:summari[sz]e|summary\s+of|overview\s+of|outline\s+of|gist\s+of|tl;?\s?dr\s+of)"
    rf"\s+{_THE_DOC}{_END}",
    # "What is this manual about?" / "What are these documents about?"
    rf"\bwhat(?:'s|\s+is|\s+are)\s+{_THE_DOC}\s+(?:all\s+)?about{_END}",
    # "What does this document describe?" / "What do the PDFs cover?"
    rf"\bwhat\s+(?:does|do)\s+{_THE_DOC}\s+"
    rf"(?:describe|cover|contain|explain|discuss|deal\s+with|talk\s+about){_END}",
    # "What are the main topics of this book?"
    rf"\b(?:main|key)\s+(?:topics|points|ideas|themes|subjects)\s+(?:of|in)\s+{_THE_DOC}{_END}",
]
_OVERVIEW = [re.compile(p, re.IGNORECASE) for p in _PATTERNS]
_PLURAL = re.compile(rf"\b(?:these|those|the|my|our|all)\s+(?:\w+\s+)?{_NOUN}s\b", re.I)


def is_overview_question(question: str) -> bool:
    """Whether ``question`` asks what a document is about as a whole."""
    q = " ".join(question.split())
    return any(p.search(q) for p in _OVERVIEW)


def about_every_document(question: str) -> bool:
    """Whether an overview question is about several documents ("these PDFs")."""
    return bool(_PLURAL.search(question))
