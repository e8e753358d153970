"""``lectern index``, ``docs list``, ``docs remove``, ``search`` and ``eval`` (SPEC §2).

Progress (one line per document state) goes to stderr; results to stdout.
A batch in which some files fail still exits 0: each failure is listed with
its reason (in ``--json`` under ``failed``).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from core.cli.output import open_engine, print_json, progress
from core.documents.events import DocumentStatus, IndexSummary
from core.documents.formats import READABLE
from core.documents.library import PENDING_STATES
from core.engine import Engine
from core.events import Event, Failed
from core.retrieval.evaluation import intervals, judge, load_questions, metrics, per_file


def register(sub: Any) -> None:
    """Add the document commands to the parser."""
    ix = sub.add_parser(
        "index", help="add documents or folders to a library (PDF, EPUB, HTML, text, Markdown)"
    )
    ix.add_argument("paths", nargs="+", metavar="PATH")
    ix.add_argument("--library", default="default", metavar="NAME", help="(default: default)")
    ix.add_argument("--json", action="store_true", help="print the summary as JSON")
    ix.set_defaults(func=cmd_index)

    docs = sub.add_parser("docs", help="list or remove the documents of a library")
    dsub = docs.add_subparsers(dest="docs_command", metavar="<action>", required=True)
    ls = dsub.add_parser("list", help="documents and their state")
    ls.add_argument("--library", default="default", metavar="NAME")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=cmd_list)
    rm = dsub.add_parser("remove", help="remove a document (by file name or path)")
    rm.add_argument("file", metavar="FILE")
    rm.add_argument("--library", default="default", metavar="NAME")
    rm.set_defaults(func=cmd_remove)
    ri = dsub.add_parser(
        "reindex", help="index one document, or the whole library, again (e.g. new embedder)"
    )
    ri.add_argument("file", metavar="FILE", nargs="?", help="file name or path (default: all)")
    ri.add_argument("--library", default="default", metavar="NAME")
    ri.add_argument("--json", action="store_true", help="print the summary as JSON")
    ri.set_defaults(func=cmd_index, reindex=True)
    libs = dsub.add_parser("libraries", help="all libraries")
    libs.add_argument("--json", action="store_true", help="print JSON")
    libs.set_defaults(func=cmd_libraries)

    se = sub.add_parser("search", help="search a document library")
    se.add_argument("query", metavar="QUERY")
    se.add_argument("--library", default="default", metavar="NAME")
    se.add_argument("-k", type=int, default=6, metavar="N", help="passages (default 6)")
    se.add_argument("--json", action="store_true", help="print JSON")
    se.set_defaults(func=cmd_search)

    ev = sub.add_parser("eval", help="measure retrieval on a question set (JSONL)")
    ev.add_argument("qa", metavar="QA.jsonl")
    ev.add_argument("--library", default="default", metavar="NAME")
    ev.add_argument("-k", type=int, default=10, metavar="N", help="passages per question")
    ev.add_argument("--json", action="store_true", help="print JSON")
    ev.set_defaults(func=cmd_eval)


def _check_k(k: int) -> None:
    if not 1 <= k <= 100:
        from core.errors import UsageError

        raise UsageError("-k must be between 1 and 100.")


class _Reporter:
    """Prints one stderr line per document state change (embedding progress throttled)."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[str, float]] = {}

    def __call__(self, ev: Event) -> None:
        if not isinstance(ev, DocumentStatus):
            return
        prev = self._last.get(ev.path)
        now = time.monotonic()
        if prev is not None and prev[0] == ev.state and now - prev[1] < 2.0:
            return
        self._last[ev.path] = (ev.state, now)
        detail = ""
        if ev.state == "failed":
            detail = f": {ev.reason}"
        elif ev.total:
            detail = f" {ev.done}/{ev.total}" + (" pages by OCR" if ev.ocr else "")
        progress(f"{ev.file}: {ev.state}{detail}")


async def _index(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    try:
        report = _Reporter()
        summary: IndexSummary | None = None
        reindexing = getattr(args, "reindex", False)
        stream = (
            engine.reindex(args.library, args.file)
            if reindexing
            else engine.index(args.paths, args.library)
        )
        async for ev in stream:
            if isinstance(ev, Failed):
                raise ev.error
            if isinstance(ev, IndexSummary):
                summary = ev
            else:
                report(ev)
        assert summary is not None
        if args.json:
            print_json(
                {
                    "indexed": summary.indexed,
                    "unchanged": summary.unchanged,
                    "failed": [{"file": f, "reason": r} for f, r in summary.failed],
                }
            )
        else:
            print(
                f"{len(summary.indexed)} indexed, {len(summary.unchanged)} unchanged, "
                f"{len(summary.failed)} failed"
            )
            for f, r in summary.failed:
                print(f"failed: {f}: {r}")
        nothing = not (summary.indexed or summary.unchanged or summary.failed)
        if nothing and not summary.cancelled and not reindexing:
            kinds = READABLE.replace(" and ", " or ")
            progress(f"No {kinds} found in " + ", ".join(args.paths) + ".")
        return 130 if summary.cancelled else 0
    finally:
        await engine.close()


def cmd_index(args: argparse.Namespace) -> int:
    return asyncio.run(_index(args))


async def _with_engine(args: argparse.Namespace, fn: Any) -> Any:
    engine = open_engine(args)
    try:
        return await fn(engine)
    finally:
        await engine.close()


def cmd_list(args: argparse.Namespace) -> int:
    docs = asyncio.run(_with_engine(args, lambda e: e.list_documents(args.library)))
    if args.json:
        print_json(
            [
                {
                    "file": d.file,
                    "path": d.path,
                    "state": d.state,
                    "reason": d.reason,
                    "pages": d.pages,
                    "chunks": d.chunks,
                    "sha256": d.sha256,
                }
                for d in docs
            ]
        )
    else:
        names = [d.file for d in docs]
        for d in docs:
            why = f" ({d.reason})" if d.reason else ""
            shown = d.path if names.count(d.file) > 1 else d.file  # which of the same name
            print(f"{d.state:<10} {d.pages:>5} p {d.chunks:>6} ch  {shown}{why}")
        left = sum(1 for d in docs if d.state in PENDING_STATES)
        if left:
            progress(_half_indexed(left, args.library))
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _half_indexed(n: int, library: str) -> str:
    return (
        f"{n} document{'s were' if n != 1 else ' was'} left half-indexed by an interrupted run; "
        f"the next 'lectern index ... --library {library}' finishes "
        f"{'them' if n != 1 else 'it'} first."
    )


def cmd_remove(args: argparse.Namespace) -> int:
    asyncio.run(_with_engine(args, lambda e: e.remove_document(args.file, args.library)))
    progress(f"removed {args.file}")
    return 0


def cmd_libraries(args: argparse.Namespace) -> int:
    libs = asyncio.run(_with_engine(args, lambda e: e.list_libraries()))
    if args.json:
        print_json([lib.__dict__ for lib in libs])
    else:
        if not libs:
            progress("No libraries yet: lectern index PATH --library NAME makes one.")
        for lib in libs:
            if lib.damaged:
                print(f"{lib.name}: damaged ({lib.damaged})")
                progress(
                    f"The library '{lib.name}' cannot be read: delete its folder and index "
                    "its PDFs again (your PDF files are not affected)."
                )
                continue
            flag = "  (needs re-index)" if lib.needs_reindex else ""
            if lib.unfinished:
                flag += f"  ({lib.unfinished} half-indexed)"
            print(
                f"{lib.name}: {_count(lib.documents, 'document')}, "
                f"{_count(lib.chunks, 'chunk')}{flag}"
            )
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    _check_k(args.k)
    hits = asyncio.run(_with_engine(args, lambda e: e.search(args.query, args.library, args.k)))
    if args.json:
        print_json([p.to_json() for p in hits])
    else:
        for i, p in enumerate(hits, 1):
            text = " ".join(p.text.split())
            print(f"[{i}] {p.file} p.{p.page} ({p.score:.3f})\n    {text[:300]}")
    return 0


def _evaluate(engine: Engine, path: str, library: str, k: int) -> dict[str, Any]:
    questions = load_questions(path)
    svc = engine.documents
    results = []
    reranked = in_its_order = 0
    searched_for: dict[str, str] = {}
    for q in questions:
        r = svc.retrieve(q.question, library, k)
        reranked += r.reranked
        in_its_order += r.reranker_order
        if r.searched_for:
            searched_for[q.id] = r.searched_for
        results.append(judge(q, r.passages, r.covered))
    return {
        "metrics": metrics(results),
        # 95 % bootstrap intervals: how far a metric could move on another sample of questions
        "interval_95": intervals(results),
        # which cross-encoder read them (the setting: the starter or a folder), if any
        "reranker": svc.settings.reranker if svc.settings.rerank else None,
        "reranked": reranked,  # covered questions whose passages the cross-encoder read
        # ... and of those, the ones left in its order (it read a passage as an answer)
        "reranker_order": in_its_order,
        "per_file": per_file(results),
        # questions searched with a misspelled word corrected, as searched
        "searched_for": searched_for,
        "results": [
            {"id": r.question.id, "covered": r.covered, "hits": [p.to_json() for p in r.passages]}
            for r in results
        ],
    }


def cmd_eval(args: argparse.Namespace) -> int:
    _check_k(args.k)

    async def run(engine: Engine) -> dict[str, Any]:
        from core.executors import run_blocking

        return await run_blocking("search", _evaluate, engine, args.qa, args.library, args.k)

    out = asyncio.run(_with_engine(args, run))
    if args.json:
        print_json(out)
    else:
        ci = out["interval_95"]
        for key, value in out["metrics"].items():
            extra = f"  (95 % interval {ci[key][0]}-{ci[key][1]})" if key in ci else ""
            print(f"{key:<24} {value}{extra}")
        print(f"{'re-ranking model':<24} {out['reranker'] or 'none (re-ranking is off)'}")
        print(f"{'reranked':<24} {out['reranked']} of {len(out['results'])}")
        print(f"{'in the re-ranker order':<24} {out['reranker_order']} of {out['reranked']}")
        for qid, text in out["searched_for"].items():
            print(f"{'spelling corrected':<24} {qid}: {text}")
    return 0
