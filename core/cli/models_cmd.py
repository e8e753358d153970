"""``lectern models ...``: list, catalog, search, files, pull (models and re-rankers), import,
discover, delete."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from pathlib import Path
from typing import Any

from core.cli.output import human_size, open_engine, print_json, progress
from core.engine import Engine
from core.errors import LecternError, UsageError
from core.events import Done, Event, Failed
from core.models.downloads import DownloadFinished, DownloadProgress
from core.models.hub import RemoteModelFile
from core.models.registry import ModelRecord
from core.models.rerankers import RerankerInstalled

DEFAULT_QUANT = "Q4_K_M"


def register(sub: Any) -> None:
    p = sub.add_parser("models", help="list, search, download and import models")
    msub = p.add_subparsers(dest="models_command", metavar="<action>", required=True)

    ls = msub.add_parser("list", help="installed models")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=cmd_list)

    cat = msub.add_parser("catalog", help="curated models you can pull")
    cat.add_argument("--json", action="store_true", help="print JSON")
    cat.set_defaults(func=cmd_catalog)

    se = msub.add_parser("search", help="search the Hugging Face Hub for GGUF models")
    se.add_argument("query", metavar="QUERY")
    se.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    se.add_argument("--json", action="store_true", help="print JSON")
    se.set_defaults(func=cmd_search)

    fi = msub.add_parser("files", help="the GGUF files of a Hub repository")
    fi.add_argument("repo_id", metavar="REPO_ID")
    fi.add_argument("--revision", metavar="REV", help="branch, tag or commit (default: main)")
    fi.add_argument("--json", action="store_true", help="print JSON")
    fi.set_defaults(func=cmd_files)

    pu = msub.add_parser(
        "pull",
        help="download a model (verified, resumable)",
        description="Download a GGUF model from the Hub (with --reranker: a re-ranking model). "
        "REPO_ID is owner/name or a catalog id. "
        "An interrupted download resumes when the same command is run again.",
    )
    pu.add_argument("repo_id", metavar="REPO_ID")
    which = pu.add_mutually_exclusive_group()
    which.add_argument("--file", metavar="NAME", help="the file to download")
    which.add_argument(
        "--quant", metavar="Q", help=f"the quantisation to download (default {DEFAULT_QUANT})"
    )
    which.add_argument(
        "--reranker",
        action="store_true",
        help="REPO_ID is a re-ranking model (a cross-encoder exported to ONNX): download it, "
        "try it and use it for questions",
    )
    pu.add_argument("--revision", metavar="REV", help="branch, tag or commit (default: main)")
    pu.add_argument("--json", action="store_true", help="print the new model's record as JSON")
    pu.set_defaults(func=cmd_pull)

    im = msub.add_parser("import", help="register a GGUF file on disk (it is not moved)")
    im.add_argument("file", metavar="FILE.gguf")
    im.add_argument("--json", action="store_true", help="print JSON")
    im.set_defaults(func=cmd_import)

    di = msub.add_parser(
        "discover", help="GGUF models in the Hugging Face cache, LM Studio and GPT4All folders"
    )
    di.add_argument("--json", action="store_true", help="print JSON")
    di.set_defaults(func=cmd_discover)

    de = msub.add_parser("delete", help="remove a model (files only if Lectern downloaded them)")
    de.add_argument("model_id", metavar="MODEL_ID")
    de.set_defaults(func=cmd_delete)


def cmd_list(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    engine.ensure_starter_models_sync()
    models = asyncio.run(engine.list_models())
    if args.json:
        print_json([m.to_json() for m in models])
        return 0
    for m in models:
        print(
            f"{m.id:48} {m.quantization:8} {human_size(m.size_bytes):>9}  {m.architecture}"
            f"  [{m.source}]"
        )
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    entries = open_engine(args).catalog()
    if args.json:
        print_json([e.to_json() for e in entries])
        return 0
    for e in entries:
        f = e.recommended_file
        gated = "  (gated)" if e.gated else ""
        print(
            f"{e.id:30} {e.name:38} {f.quantization:7} ~{human_size(f.size_bytes):>9}"
            f"  {e.repo_id}{gated}"
        )
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    repos = asyncio.run(open_engine(args).search_hub(args.query, limit=args.limit))
    if args.json:
        print_json([r.to_json() for r in repos])
        return 0
    if not repos:
        progress(f"No GGUF repositories match {args.query!r}.")
    for r in repos:
        gated = "  (gated)" if r.gated else ""
        print(f"{r.repo_id:60} {r.downloads:>10} downloads {r.likes:>6} likes{gated}")
    return 0


def cmd_files(args: argparse.Namespace) -> int:
    files = asyncio.run(open_engine(args).list_repo_files(args.repo_id, args.revision))
    if args.json:
        print_json([f.to_json() for f in files])
        return 0
    if not files:
        progress(f"{args.repo_id} has no GGUF model files.")
    for f in files:
        parts = f"  ({len(f.parts)} parts)" if f.is_split else ""
        print(f"{f.filename:64} {f.quantization:8} {human_size(f.size_bytes):>9}{parts}")
    return 0


def _catalog_target(engine: Engine, name: str) -> tuple[str, str | None]:
    """A catalog id becomes (repo, recommended file); a repo id stays as it is."""
    for e in engine.catalog():
        if name == e.id:
            return e.repo_id, e.recommended_file.filename
    if "/" not in name:
        raise UsageError(
            f"{name!r} is neither a Hub repository (owner/name) nor a catalog model.",
            hint="see 'lectern models catalog' or 'lectern models search'",
        )
    return name, None


def choose_file(files: list[RemoteModelFile], repo_id: str, quant: str | None) -> str:
    """The file to pull for ``--quant`` (or the default choice without one)."""
    if not files:
        raise LecternError(f"{repo_id} has no GGUF model files.")
    available = ", ".join(sorted({f.quantization for f in files}))
    if quant is None:
        if len(files) == 1:
            return files[0].filename
        quant = DEFAULT_QUANT
        matches = [f for f in files if f.quantization.upper() == quant]
        if not matches:
            raise UsageError(
                f"{repo_id} has several files and no {DEFAULT_QUANT}.",
                hint=f"choose one with --quant ({available}) or --file",
            )
    else:
        matches = [f for f in files if f.quantization.upper() == quant.upper()]
        if not matches:
            raise LecternError(
                f"{repo_id} has no {quant.upper()} file.", hint=f"available: {available}"
            )
    if len(matches) > 1:
        names = ", ".join(f.filename for f in matches)
        raise UsageError(
            f"{repo_id} has {len(matches)} {quant.upper()} files.",
            hint=f"choose one with --file: {names}",
        )
    return matches[0].filename


class _ProgressLine:
    """Download progress on stderr: one updating line on a terminal, else every 10%."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_decile = -1
        self.last_print = 0.0

    def show(self, e: DownloadProgress) -> None:
        pct = 100 * e.bytes_done / e.bytes_total if e.bytes_total else 0.0
        eta = f", {e.eta_s:.0f} s left" if e.eta_s is not None else ""
        line = (
            f"{e.filename}: {pct:5.1f}%  {human_size(e.bytes_done)} of "
            f"{human_size(e.bytes_total)}, {human_size(e.speed_bps)}/s{eta}"
        )
        if self.tty:
            now = time.monotonic()
            if now - self.last_print >= 0.2 or e.bytes_done == e.bytes_total:
                self.last_print = now
                print(f"\r{line}\x1b[K", end="", file=sys.stderr, flush=True)
            return
        decile = int(pct // 10)
        if decile != self.last_decile:
            self.last_decile = decile
            progress(line)

    def end(self) -> None:
        if self.tty:
            print(file=sys.stderr, flush=True)


async def _pull(engine: Engine, repo_id: str, filename: str, revision: str | None) -> ModelRecord:
    progress(f"Downloading {filename} from {repo_id}")
    finished = await _follow(engine.download_model(repo_id, filename, revision))
    assert isinstance(finished, DownloadFinished)
    return finished.record


async def _pull_reranker(engine: Engine, repo_id: str, revision: str | None) -> Path:
    progress(f"Downloading the re-ranking model {repo_id}")
    finished = await _follow(engine.download_reranker(repo_id, revision))
    assert isinstance(finished, RerankerInstalled)
    return finished.folder


async def _follow(
    stream: AsyncGenerator[Event, None],
) -> DownloadFinished | RerankerInstalled:
    """Show a download's progress; its final event, or raise what went wrong."""
    bar = _ProgressLine()
    try:
        # aclosing: leaving early (an error) must end the download before the loop closes
        async with aclosing(stream) as events:
            async for event in events:
                if isinstance(event, DownloadProgress):
                    bar.show(event)
                elif isinstance(event, DownloadFinished | RerankerInstalled):
                    return event
                elif isinstance(event, Failed):
                    raise event.error
                elif isinstance(event, Done) and event.cancelled:
                    raise LecternError("Download cancelled.", hint="run the same command to resume")
    finally:
        bar.end()
    raise LecternError("The download ended without a result.")


def cmd_pull(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    if args.reranker:
        return _cmd_pull_reranker(engine, args)
    repo_id, filename = _catalog_target(engine, args.repo_id)
    if args.file:
        filename = args.file
    elif args.quant or filename is None:
        files = asyncio.run(engine.list_repo_files(repo_id, args.revision))
        filename = choose_file(files, repo_id, args.quant)
    try:
        record = asyncio.run(_pull(engine, repo_id, filename, args.revision))
    except KeyboardInterrupt:
        progress("Download stopped; run the same command again to resume it.")
        raise
    if args.json:
        print_json(record.to_json())
    else:
        progress(f"Verified and installed: {record.path}")
        print(record.id)
    return 0


def _cmd_pull_reranker(engine: Engine, args: argparse.Namespace) -> int:
    try:
        folder = asyncio.run(_pull_reranker(engine, args.repo_id, args.revision))
    except KeyboardInterrupt:
        progress("Download stopped; run the same command again to resume it.")
        raise
    engine.settings.retrieval.reranker = str(folder)
    engine.save_settings()
    if args.json:
        print_json({"repo_id": args.repo_id, "folder": str(folder)})
    else:
        progress(f"Verified, tried and installed: {folder}")
        progress("Questions are now re-ranked with it (Settings → Documents to change).")
        print(folder)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    record = asyncio.run(open_engine(args).import_model(args.file))
    if args.json:
        print_json(record.to_json())
    else:
        print(record.id)
    return 0


def cmd_discover(args: argparse.Namespace) -> int:
    found = asyncio.run(open_engine(args).discover_local_models())
    if args.json:
        print_json([m.to_json() for m in found])
        return 0
    if not found:
        progress("No GGUF models found in the Hugging Face cache, LM Studio or GPT4All folders.")
    for m in found:
        mark = "  (imported)" if m.registered else ""
        print(f"{m.source:18} {m.quantization:8} {human_size(m.size_bytes):>9}  {m.path}{mark}")
    if any(not m.registered for m in found):
        progress("Import one with: lectern models import PATH")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    record = engine.delete_model_sync(args.model_id)
    progress(f"Removed {record.id}")
    return 0
