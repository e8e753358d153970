"""Hybrid search: dense vectors (Chroma) and BM25 keywords (FTS5), fused, one passage per page.

Scoring (chosen by measurement on shared/eval, see the README): every
candidate chunk gets ``cosine + neighbour_weight × best neighbour's cosine +
keyword_weight × bm25 / best_bm25``; a chunk found only by BM25 is given the
lowest cosine among the dense candidates (a lower bound, so it is not
favoured over what the vectors saw). Results
keep the best chunk of each page, so the top k cover k different pages, and
each passage is widened by up to ``expand`` neighbouring chunks of the same
page so that a sentence cut by a chunk boundary is whole in what the reader
(and the model) sees. Chunks of a table of contents or an index (dot
leaders) lose ``listing_penalty``: they name many topics and explain none.

Other fusions were measured on shared/eval and did no better (all within one
or two of the 36 questions, i.e. noise): reciprocal rank fusion (k = 10-60),
min-max and z-score normalised sums, term-proximity and query-coverage
bonuses, page- and section-level aggregation (centroids of chunk vectors),
heading similarity, Rocchio feedback, and embedding question sentences
separately. With all-MiniLM-L6-v2 the ranking is limited by the model.

For a question (:meth:`HybridSearcher.retrieve`, what ``ask``, chat and
``eval`` use) that the library covers, the best ``rerank_candidates`` chunks
are then re-ordered by a
cross-encoder (:mod:`core.retrieval.reranker`), which reads the question and
each chunk (after its section heading) together; its 0-1 probability becomes
the passage's score. Its order is kept only when it reads one chunk as an
answer (probability >= ``rerank_sure``); otherwise the hybrid order and scores
stand (``Retrieval.reranker_order`` says which). For a question of several
sentences the best few chunks are also read against each sentence, keeping
each chunk's best score (the model was trained on short one-sentence queries).
Plain ``search`` (type-ahead, the 50 ms latency bar) does not re-rank.

A question's misspelled words (ones the library never uses, one edit from one
it does: "buld") are corrected first (:mod:`core.retrieval.spelling`), and
``Retrieval.searched_for`` says what was searched for. Plain ``search`` looks
for the words as typed.

"Nothing relevant" is decided on the best cosine similarity among the
candidates, lowered by ``unknown_term_penalty`` for each content word of the
question that occurs nowhere in the library, and by ``missing_name_penalty``
for each name in the question (a capitalised or mixed-case word: "TikZ",
"Python", see :mod:`core.retrieval.coverage`) that the document of the best
passage never uses: below the library's relevance threshold the question is
not covered by the documents.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from core.documents.embedder import Embedder
from core.documents.store import ChunkRow, LibraryStore
from core.errors import DocumentError
from core.executors import executor
from core.retrieval.coverage import missing_names, question_names
from core.retrieval.fts import query_terms
from core.retrieval.grounding import Retrieval
from core.retrieval.overview import about_every_document, is_overview_question
from core.retrieval.reranker import Reranker, probability, question_sentences
from core.retrieval.spelling import corrections, respelled
from core.types import Passage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchParams:
    """Knobs of hybrid search; the defaults are the measured ones."""

    candidates: int = 60  # from each of dense and BM25
    keyword_weight: float = 0.3
    neighbour_weight: float = 0.3
    expand: int = 1  # neighbouring chunks on each side, same page only
    one_per_page: bool = True
    threshold: float = 0.39  # relevance below this: the library does not cover the question
    unknown_term_penalty: float = 0.1  # per question word that occurs nowhere in the library
    missing_name_penalty: float = 0.35  # per name in the question the best document never uses
    name_documents: int = 1  # how many of the best passages' documents a name is looked up in
    listing_penalty: float = 0.3  # for table-of-contents and index chunks (dot leaders)
    rerank_candidates: int = 0  # chunks a question's cross-encoder re-orders; 0: none
    # The best chunks after re-ranking that are also read against each sentence of a
    # question of several sentences (best score kept); 0: never.
    sentence_candidates: int = 5
    # The cross-encoder's order is used only when it reads one chunk as this likely (its
    # 0-1 probability) to answer; below it, the hybrid order stands (chosen on bench/dev).
    rerank_sure: float = 0.73
    # a question's words that the library never uses are corrected when one edit away
    # from a word it does use ("buld" -> "build", see core.retrieval.spelling)
    correct_spelling: bool = True


# Two or more runs of dot leaders (". . . . ." or ".....") mark a table of contents or
# an index: such a chunk names many topics (so it matches many queries) but explains none.
_LEADERS = re.compile(r"(?:\.\s?){5,}")


def is_listing(text: str) -> bool:
    """Whether a chunk is part of a table of contents or an index."""
    return len(_LEADERS.findall(text, 0, 4000)) >= 2


@dataclass(frozen=True)
class Scored:
    chunk: ChunkRow
    score: float
    dense: float


def _merge_text(rows: Sequence[ChunkRow]) -> tuple[str, int, int]:
    """Text of consecutive chunks of one page, overlaps removed, gaps kept as spaces.

    The result has exactly ``char_end - char_start`` characters, so offsets into the
    page text stay valid for highlighting.
    """
    rows = sorted(rows, key=lambda r: r.char_start)
    text = rows[0].text
    start, end = rows[0].char_start, rows[0].char_end
    for r in rows[1:]:
        if r.char_end <= end:
            continue
        if r.char_start >= end:
            text += " " * (r.char_start - end) + r.text
        else:
            text += r.text[end - r.char_start :]
        end = r.char_end
    return text, start, end


def rerank_text(chunk: ChunkRow) -> str:
    """What the cross-encoder reads for a chunk: its section heading (from the PDF outline),
    then its text. The heading often names the topic a paraphrased question is about
    ("Numerical limitations"); the document title did not help (measured on shared/eval).

    The chunk alone, not with the end of the page before: a sentence cut by a page break
    read whole helped one question of shared/eval, but on bench/dev the carried words
    made the next page win with an answer printed on the page before (two questions)."""
    text = " ".join(chunk.text.split())
    return f"{chunk.heading}\n{text}" if chunk.heading else text


def _by_sentence(
    reranker: Reranker, question: str, texts: Sequence[str], logits: list[float], top: int
) -> list[float]:
    """``logits`` (one per text in ``texts``) with the ``top`` best texts also read against
    each sentence of a question of several sentences, each keeping its best score.

    Only the best few: they are already about the whole question, and among them the
    one that answers its ask should come first; a lone sentence ("What is the
    suggested fix?") read against every candidate would favour passages that match
    the ask and not the subject (measured: page hit@1 0.72 -> 0.78 on shared/eval with
    the best 5, and evidence hit@5 down from 0.97 to 0.94 when all 30 are read again).
    """
    sentences = question_sentences(question) if top > 0 else []
    if not sentences:
        return logits
    best = sorted(range(len(texts)), key=lambda i: -logits[i])[:top]
    out = list(logits)
    for sentence in sentences:
        for i, x in zip(best, reranker.scores(sentence, [texts[i] for i in best]), strict=True):
            out[i] = max(out[i], x)
    return out


class HybridSearcher:
    """Searches one library's store with one embedder."""

    def __init__(
        self,
        store: LibraryStore,
        embedder: Embedder,
        library: str,
        reranker: Reranker | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.library = library
        self.reranker = reranker

    def keyword_plan(self, query: str) -> tuple[str, list[str]]:
        """The FTS5 MATCH expression for a query, and its words the library never uses.

        Words are taken rarest first while their chunks add up to at most
        ``max(5000, chunks / 25)`` (at least two): the most common words carry almost
        no BM25 weight but make FTS5 read long posting lists (most of a query's time
        in a library of 100,000 chunks).
        """
        stats = self.store.term_frequencies(query_terms(query))
        unknown = [w for w, df in stats if df == 0]
        budget = max(5000, self.store.total_chunks() // 25)
        chosen: list[str] = []
        total = 0
        for w, df in sorted(((w, df) for w, df in stats if df > 0), key=lambda x: x[1]):
            if len(chosen) >= 2 and total + df > budget:
                break
            chosen.append(w)
            total += df
        return " OR ".join(f'"{w}"' for w in chosen), unknown

    def _dense(self, query: str, n: int) -> list[tuple[str, float]]:
        return self.store.dense_search(self.embedder.embed_query(query), n)

    def scored(self, query: str, params: SearchParams) -> tuple[list[Scored], int]:
        """Candidate chunks, best first, with fused and dense scores; and the number of
        query words the library never uses."""
        # The dense half (query vector and Chroma, in the index worker process) runs while
        # this thread does the keyword half (SQLite FTS5): both wait outside the GIL.
        dense_future = executor("dense-search").submit(self._dense, query, params.candidates)
        match, unknown = self.keyword_plan(query)
        keyword = self.store.keyword_search(match, params.candidates)
        dense = dense_future.result()
        rows = {r.id: r for r in self.store.chunks_by(ids=[i for i, _ in dense])}
        by_rowid = {r.rowid: r for r in rows.values()}
        missing = [rid for rid, _ in keyword if rid not in by_rowid]
        for r in self.store.chunks_by(rowids=missing):
            rows[r.id] = r
            by_rowid[r.rowid] = r
        dense_of = {cid: sim for cid, sim in dense if cid in rows}
        floor = min(dense_of.values(), default=0.0)
        scores = dict(dense_of)
        if params.neighbour_weight:
            # A chunk whose neighbours also match is more likely the right place: add a share
            # of the best neighbour's similarity (neighbours outside the candidates count as
            # the floor, so no extra vector look-ups are needed).
            at = {(r.sha, r.idx): dense_of[r.id] for r in rows.values() if r.id in dense_of}
            for cid, sim in dense_of.items():
                r = rows[cid]
                best = max(at.get((r.sha, r.idx - 1), floor), at.get((r.sha, r.idx + 1), floor))
                scores[cid] = sim + params.neighbour_weight * best
        if keyword:
            top = max(s for _, s in keyword) or 1.0
            for rid, s in keyword:
                row = by_rowid.get(rid)
                if row is None:
                    continue  # removed between the two queries
                base = scores.get(row.id, floor)
                scores[row.id] = base + params.keyword_weight * max(0.0, s) / top
        if params.listing_penalty:
            for cid in scores:
                if is_listing(rows[cid].text):
                    scores[cid] -= params.listing_penalty
        out = [Scored(rows[cid], sc, dense_of.get(cid, floor)) for cid, sc in scores.items()]
        out.sort(key=lambda s: -s.score)
        return out, len(unknown)

    def reranked(
        self, question: str, scored: Sequence[Scored], params: SearchParams
    ) -> list[Scored] | None:
        """The best ``rerank_candidates`` chunks re-ordered by the cross-encoder (score: its
        0-1 probability), then the others in their hybrid order with score 0; None when
        re-ranking is off or failed (the hybrid order stands: a question is never lost to
        the re-ranker)."""
        n = params.rerank_candidates
        if self.reranker is None or n <= 0 or not scored:
            return None
        head = list(scored[:n])
        try:
            texts = [rerank_text(s.chunk) for s in head]
            logits = self.reranker.scores(question, texts)
            logits = _by_sentence(
                self.reranker, question, texts, logits, params.sentence_candidates
            )
        except DocumentError as exc:
            log.warning("re-ranking failed, hybrid order kept: %s", exc)
            return None
        out = [Scored(s.chunk, probability(x), s.dense) for s, x in zip(head, logits, strict=True)]
        out.sort(key=lambda s: -s.score)
        return out + [Scored(s.chunk, 0.0, s.dense) for s in scored[n:]]

    def passages(self, scored: Sequence[Scored], k: int, params: SearchParams) -> list[Passage]:
        """The top ``k`` passages (one per page unless disabled), widened by neighbours."""
        picked: list[Scored] = []
        pages: set[tuple[str, int]] = set()
        for s in scored:
            key = (s.chunk.sha, s.chunk.page)
            if params.one_per_page and key in pages:
                continue
            pages.add(key)
            picked.append(s)
            if len(picked) == k:
                break
        out = []
        for s in picked:
            c = s.chunk
            rows = [c]
            if params.expand:
                rows = [
                    r
                    for r in self.store.neighbours(c.sha, c.idx, params.expand, params.expand)
                    if r.page == c.page
                ] or [c]
            text, start, end = _merge_text(rows)
            out.append(
                Passage(
                    file=c.file,
                    page=c.page,
                    text=text,
                    score=round(s.score, 4),
                    path=c.path,
                    library=self.library,
                    chunk_id=c.id,
                    char_start=start,
                    char_end=end,
                )
            )
        return out

    def opening_pages(
        self, scored: Sequence[Scored], k: int, score: float, every: bool
    ) -> list[Scored]:
        """The first chunk of each of the first pages of the document that matched best,
        or of every document that matched (``every``), sharing ``k`` pages between them."""
        docs: list[ChunkRow] = []  # the best chunk of each document, best first
        for s in scored:
            if all(d.sha != s.chunk.sha for d in docs):
                docs.append(s.chunk)
        docs = docs[:k] if every else docs[:1]
        per_doc = max(1, k // len(docs))
        out: list[Scored] = []
        for top in docs:
            pages: set[int] = set()
            for row in self.store.neighbours(top.sha, 0, 0, 4 * per_doc):
                if row.page not in pages and len(pages) < per_doc:
                    pages.add(row.page)
                    out.append(Scored(replace(row, file=top.file, path=top.path), score, score))
        return out

    def search(self, query: str, k: int, params: SearchParams | None = None) -> list[Passage]:
        params = params or SearchParams()
        return self.passages(self.scored(query, params)[0], k, params)

    def missing_names(
        self, question: str, scored: Sequence[Scored], params: SearchParams
    ) -> list[tuple[str, ...]]:
        """Names in the question (see :mod:`core.retrieval.coverage`) that none of the
        documents of the best passages mentions."""
        names = question_names(question)
        if not names or not params.missing_name_penalty:
            return []
        shas: list[str] = []
        for s in scored:
            if s.chunk.sha not in shas:
                shas.append(s.chunk.sha)
                if len(shas) == params.name_documents:
                    break
        return missing_names(self.store, names, shas)

    @staticmethod
    def relevance(
        scored: Sequence[Scored], unknown: int, params: SearchParams, missing: int = 0
    ) -> float:
        """How well the library covers a question: the best cosine similarity, lowered for
        every content word of the question that the library never uses (a question about
        "snapcraft" is not covered by a manual that never says it, however similar its
        vector is to packaging text) and for every name in the question that the best
        documents never use (a question about exporting Gri graphs to TikZ is not covered
        by a Gri manual that never says "TikZ", even though another manual does)."""
        best = max((s.dense for s in scored), default=0.0)
        return best - params.unknown_term_penalty * unknown - params.missing_name_penalty * missing

    def retrieve(self, question: str, k: int, params: SearchParams | None = None) -> Retrieval:
        """Passages for a question and whether the library covers it at all.

        The passages are returned even when not covered (a front end may show them
        as "closest matches"); answering must not use them then.
        """
        params = params or SearchParams()
        asked = question
        if params.correct_spelling:
            question = respelled(question, corrections(question, self.store))
        searched_for = question if question != asked else ""
        scored, unknown = self.scored(question, params)
        missing = self.missing_names(question, scored, params)
        relevance = self.relevance(scored, unknown, params, len(missing))
        covered = relevance >= params.threshold
        if not covered and scored and is_overview_question(question):
            # "What is this manual about?" resembles no passage; its opening pages answer it
            every = about_every_document(question)
            opening = self.opening_pages(scored, k, relevance, every)
            passages = self.passages(opening, k, params)
            return Retrieval(passages, True, relevance, searched_for=searched_for)
        # Not covered: nothing is given to the model, so re-ranking (~0.6 s) is spared.
        ranked = self.reranked(question, scored, params) if covered else None
        # A cross-encoder that reads no chunk as an answer is guessing between them: on the
        # held-out questions of bench/dev its order was then worse than the hybrid one
        # (page hit@1 0.72 -> 0.77, hit@5 0.88 -> 0.93 with the hybrid order kept there).
        sure = ranked if ranked and ranked[0].score >= params.rerank_sure else None
        passages = self.passages(sure or scored, k, params)
        return Retrieval(
            passages,
            covered,
            relevance,
            reranked=ranked is not None,
            reranker_order=sure is not None,
            searched_for=searched_for,
        )
