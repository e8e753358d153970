"""Indexing throughput: end-to-end pages/s against the embedder alone on the same chunks.

Corpus: two of shared/eval's PDFs (Ubuntu Packaging Guide, 51 pages; AMC
manual, 101 pages). The embedder is loaded before timing starts (it is loaded
once per process in the application too).

* *embedder alone*: the exact chunk texts the pipeline embeds, encoded in the
  pipeline's batch size by the same model in an index worker process of its
  own (the embedder as Lectern runs it: same process priority, same threads);
  pages / seconds.
* *end to end*: ``Engine.index`` into a fresh data directory: hashing,
  extraction in the worker process, chunking, embedding, Chroma and FTS5
  writes, journal; pages / seconds until the summary arrives.

The embedder-alone pass runs before and after the end-to-end pass and the mean
is used, so a change of machine load during the run hits both sides alike.
Bar (SPEC §3): end to end ≥ 0.9 × embedder alone. The load average is
reported: other work on the machine distorts both figures.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EVAL = REPO.parent / "shared" / "eval" / "pdfs"
FILES = ["ubuntu-packaging-guide.pdf", "auto-multiple-choice.en.pdf"]


def _embed_alone(embedder: Any, texts: list[str], batch: int) -> float:
    t0 = time.perf_counter()
    for i in range(0, len(texts), batch):
        embedder.embed(texts[i : i + batch])
    return time.perf_counter() - t0


def run() -> dict[str, Any]:
    from core.documents.chunking import chunk_pages, embedding_text
    from core.documents.events import IndexSummary
    from core.documents.extraction import extract_in_process
    from core.documents.index_worker import IndexWorker, RemoteEmbedder
    from core.documents.library import EMBED_BATCH, ChunkingConfig
    from core.engine import Engine
    from core.events import Failed

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lectern-bench-index-") as tmp:
        engine = Engine(Path(tmp) / "data")
        alone_worker = IndexWorker()  # not the engine's: the model alone, nothing else
        embedder = RemoteEmbedder(
            alone_worker, engine.starter_embedder_path().resolve(), "all-MiniLM-L6-v2"
        )
        chunking = ChunkingConfig(
            engine.settings.retrieval.chunk_tokens, engine.settings.retrieval.chunk_overlap_tokens
        )
        pdfs = [EVAL / f for f in FILES]

        # The same chunk texts the pipeline will embed (prepared outside any timing).
        texts: list[str] = []
        pages = 0
        for pdf in pdfs:
            doc = extract_in_process(str(pdf))
            pages += len(doc.pages)
            room = embedder.info.max_tokens - 2 - min(48, embedder.count_tokens(doc.title) + 24)
            for c in chunk_pages(
                doc.pages,
                embedder.token_offsets,
                min(chunking.max_tokens, room),
                chunking.overlap,
                doc.toc,
            ):
                texts.append(embedding_text(doc.title, c.heading, c.text))
        embedder.embed(texts[:8])  # warm-up

        alone_1 = _embed_alone(embedder, texts, EMBED_BATCH)

        async def index() -> tuple[float, IndexSummary]:
            t0 = time.perf_counter()
            summary = None
            async for ev in engine.index(pdfs, "bench"):
                if isinstance(ev, Failed):
                    raise ev.error
                if isinstance(ev, IndexSummary):
                    summary = ev
            assert summary is not None
            return time.perf_counter() - t0, summary

        e2e_s, summary = asyncio.run(index())
        alone_2 = _embed_alone(embedder, texts, EMBED_BATCH)
        stored = engine.documents.manager.store("bench").counts()
        asyncio.run(engine.close())
        alone_worker.close()

    alone_s = (alone_1 + alone_2) / 2
    e2e_pps = pages / e2e_s
    alone_pps = pages / alone_s
    ratio = e2e_pps / alone_pps
    return {
        "files": FILES,
        "pages": pages,
        "chunks": len(texts),
        "stored_chunks": stored["chunks"],
        "indexed": len(summary.indexed),
        "chunk_tokens": chunking.max_tokens,
        "overlap_tokens": chunking.overlap,
        "end_to_end_s": round(e2e_s, 2),
        "end_to_end_pages_per_s": round(e2e_pps, 2),
        "embedder_alone_s": [round(alone_1, 2), round(alone_2, 2)],
        "embedder_alone_pages_per_s": round(alone_pps, 2),
        "embedder_chunks_per_s": round(len(texts) / alone_s, 2),
        "ratio": round(ratio, 3),
        "bar": 0.9,
        "pass": ratio >= 0.9,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }
