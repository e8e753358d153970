"""Splitting page text into overlapping chunks measured in embedder tokens.

Chunks never cross a page (a citation names one page) and keep the character
offsets of their text inside that page's ``page.get_text()``, so the viewer
can highlight them. Sizes are counted with the embedder's own tokenizer,
never in characters, so no chunk is silently truncated by the model. A chunk
ends at the best boundary available in the second half of its window:
paragraph, then sentence, then line, then word; the next chunk starts up to
``overlap`` tokens earlier, again on a boundary, so a phrase cut by one chunk
end is whole in the neighbour. A section of the outline that starts on a page
starts a new chunk (unless the chunk would be under a quarter of the size):
one chunk about two topics matches neither question well.

Each chunk carries the document title and the section heading in effect
where it starts (from the PDF outline); :func:`embedding_text` puts them in
front of the text that is embedded and keyword-indexed, which gives short
chunks the context their words lack.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.documents.extraction import TocEntry

# tokenize(text) -> [(char_start, char_end), ...] of the tokens, no special tokens.
Tokenize = Callable[[str], list[tuple[int, int]]]

_PARAGRAPH, _SENTENCE, _LINE, _WORD, _NONE = 4, 3, 2, 1, 0


@dataclass(frozen=True)
class Chunk:
    """A piece of one page: ``text == page_text[char_start:char_end]``."""

    index: int  # position in the document, from 0
    page: int  # 1-based physical page
    char_start: int
    char_end: int
    text: str
    heading: str
    tokens: int


def _boundary_levels(text: str, offs: Sequence[tuple[int, int]]) -> list[int]:
    """``levels[j]``: how good a cut is before token ``j`` (0 = inside a word)."""
    levels = [_NONE] * (len(offs) + 1)
    levels[0] = levels[len(offs)] = _PARAGRAPH
    for j in range(1, len(offs)):
        prev_end, start = offs[j - 1][1], offs[j][0]
        if start <= prev_end:
            continue
        gap = text[prev_end:start]
        prev = text[prev_end - 1] if prev_end > 0 else ""
        if "\n\n" in gap or ("\n" in gap and prev in ".!?:"):
            levels[j] = _PARAGRAPH
        elif prev in ".!?" and gap:
            levels[j] = _SENTENCE
        elif "\n" in gap:
            levels[j] = _LINE
        elif gap.isspace():
            levels[j] = _WORD
    return levels


def _best_cut(levels: list[int], lo: int, hi: int, prefer_late: bool) -> int:
    """The index in [lo, hi] with the best boundary level (latest or earliest among equals)."""
    best, best_level = hi if prefer_late else lo, -1
    rng = range(hi, lo - 1, -1) if prefer_late else range(lo, hi + 1)
    for j in rng:
        if levels[j] > best_level:
            best, best_level = j, levels[j]
            if best_level == _PARAGRAPH:
                break
    return best


def _headings_for_page(
    toc: Sequence[TocEntry], page: int, text: str
) -> tuple[str, list[tuple[int, str]]]:
    """The heading in effect at the page start, and (char offset, heading) changes on it.

    Outline titles are looked up in the page text in outline order (whitespace
    collapsed, case ignored); one that cannot be found is taken to start where
    the previous one did.
    """
    before = ""
    changes: list[tuple[int, str]] = []
    # Collapsed, lower-cased text plus a map from its positions back to ``text``.
    flat_chars: list[str] = []
    back: list[int] = []
    prev_space = True
    for i, ch in enumerate(text):
        if ch.isspace():
            if not prev_space:
                flat_chars.append(" ")
                back.append(i)
            prev_space = True
        else:
            flat_chars.append(ch.lower())
            back.append(i)
            prev_space = False
    flat = "".join(flat_chars)
    pos = 0
    for entry in toc:
        if entry.page < page:
            before = entry.title
        elif entry.page == page:
            needle = " ".join(entry.title.lower().split())[:60]
            found = flat.find(needle, pos) if needle else -1
            if found >= 0:
                pos = found
            changes.append((back[pos] if pos < len(back) else 0, entry.title))
    return before, changes


def chunk_pages(
    pages: Sequence[str],
    tokenize: Tokenize,
    max_tokens: int = 200,
    overlap: int = 40,
    toc: Sequence[TocEntry] = (),
) -> list[Chunk]:
    """Chunks of every page, numbered in reading order."""
    max_tokens = max(8, max_tokens)
    overlap = max(0, min(overlap, max_tokens // 2))
    chunks: list[Chunk] = []
    heading_before = ""
    for page_no, text in enumerate(pages, 1):
        offs = tokenize(text) if text.strip() else []
        start_heading, changes = _headings_for_page(toc, page_no, text)
        heading_before = start_heading or heading_before
        if not offs:
            if changes:
                heading_before = changes[-1][1]
            continue
        change_pos = [c[0] for c in changes]
        levels = _boundary_levels(text, offs)
        n = len(offs)
        # Token index where each section on this page starts: chunks are cut there.
        token_starts = [o[0] for o in offs]
        sections = sorted({bisect.bisect_left(token_starts, pos) for pos in change_pos} - {0, n})
        start = 0
        while start < n:
            section = next((j for j in sections if j > start + max_tokens // 4), n)
            if section - start <= max_tokens:
                end = section
            else:
                end = _best_cut(levels, start + max_tokens // 2, start + max_tokens, True)
            c_start, c_end = offs[start][0], offs[end - 1][1]
            # The heading in effect a quarter into the chunk: a section that starts within
            # that first quarter did not get a chunk boundary (too small a piece before it).
            k = bisect.bisect_right(change_pos, offs[min(end - 1, start + max_tokens // 4)][0]) - 1
            heading = changes[k][1] if k >= 0 else heading_before
            chunks.append(
                Chunk(
                    len(chunks), page_no, c_start, c_end, text[c_start:c_end], heading, end - start
                )
            )
            if end >= n:
                break
            # Step back up to ``overlap`` tokens, to the earliest good boundary there.
            # (never exactly at ``end``: even after a paragraph break, since PDF text marks
            # many line ends that are not real paragraph ends), but never back over the
            # start of a section: a new section starts a new chunk.
            lo = max(start + 1, end - overlap)
            in_reach = [j for j in sections if lo <= j <= end]
            if in_reach:
                start = in_reach[-1]
            else:
                start = _best_cut(levels, lo, end - 1, False) if overlap and lo < end else end
        if changes:
            heading_before = changes[-1][1]
    return chunks


def embedding_text(title: str, heading: str, text: str) -> str:
    """What is embedded and keyword-indexed for a chunk: context line, then the text."""
    context = title if not heading or heading == title else f"{title} — {heading}"
    return f"{context}\n{' '.join(text.split())}" if context else " ".join(text.split())
