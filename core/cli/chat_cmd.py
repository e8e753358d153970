"""``lectern ask QUESTION [--library NAME | --no-library] [--model ID|PATH] [--json]``.

Without ``--json`` the answer streams to stdout token by token, followed by
its numbered sources; with ``--json`` one document per SPEC §2 is printed at
the end. Loading messages and statistics go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from core.cli.output import open_engine, print_json, progress
from core.engine import Engine
from core.errors import LecternError
from core.events import Done, Failed, Progress, Sources, Token
from core.types import GenerationStats, Passage


def register(sub: Any) -> None:
    """Add ``ask`` to the parser."""
    p = sub.add_parser("ask", help="ask a question (about a document library, or the model alone)")
    p.add_argument("question", metavar="QUESTION")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--library", metavar="NAME", help="answer from this document library")
    which.add_argument(
        "--no-library", action="store_true", help="ask the model alone, without documents"
    )
    p.add_argument("--model", metavar="ID|PATH", help="model id (lectern models list) or GGUF path")
    p.add_argument("--json", action="store_true", help="print one JSON document at the end")
    p.set_defaults(func=run)


async def _default_library(engine: Engine) -> str | None:
    """'default' when it exists and holds documents, else no library."""
    lister = getattr(engine, "list_libraries", None)
    if lister is None:
        return None
    try:
        libraries = await lister()
    except LecternError:
        return None
    for lib in libraries:
        if lib.name == "default" and lib.documents > 0:
            return "default"
    return None


async def _ask(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    try:
        library: str | None = args.library
        if library is None and not args.no_library:
            library = await _default_library(engine)
        sources: tuple[Passage, ...] = ()
        searched_for = ""
        done: Done | None = None
        async for ev in engine.ask(args.question, library=library, model=args.model):
            if isinstance(ev, Progress):
                if ev.task == "load" and ev.message:
                    progress(ev.message)
            elif isinstance(ev, Sources):
                sources = ev.passages
                searched_for = ev.searched_for
                if searched_for and not args.json:
                    progress(f"Searched for: {searched_for}")
            elif isinstance(ev, Token):
                if not args.json:
                    sys.stdout.write(ev.text)
                    sys.stdout.flush()
            elif isinstance(ev, Done):
                done = ev
            elif isinstance(ev, Failed):
                raise ev.error
        assert done is not None
        stats = done.stats or GenerationStats()
        if args.json:
            print_json(
                {
                    "answer": done.text,
                    "sources": [{"file": p.file, "page": p.page, "text": p.text} for p in sources],
                    "stats": stats.to_json(),
                }
                # only when misspelled words were corrected before the search
                | ({"searched_for": searched_for} if searched_for else {})
            )
        else:
            if not done.text.endswith("\n"):
                sys.stdout.write("\n")
            if sources:
                sys.stdout.write("\nSources:\n")
                for i, p in enumerate(sources, 1):
                    sys.stdout.write(f"[{i}] {p.file}, p. {p.page}\n")
            sys.stdout.flush()
            if stats.model_ran:
                progress(
                    f"{stats.prompt_tokens} prompt tokens ({stats.prefill_tps:.0f}/s), "
                    f"{stats.completion_tokens} answer tokens ({stats.decode_tps:.1f}/s), "
                    f"first token after {stats.ttft_s:.2f} s"
                )
            else:
                progress("no model ran: nothing in the library was relevant enough")
        return 0
    finally:
        await engine.close()


def run(args: argparse.Namespace) -> int:
    """Run ``lectern ask``."""
    return asyncio.run(_ask(args))
