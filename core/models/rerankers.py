"""Re-ranking models: the offline starter, folders on disk, and downloads from the Hub.

A re-ranker is a folder with ``model.onnx`` (a cross-encoder: text classification
with one relevance logit, or two classes) and its ``tokenizer.json``, run by
:mod:`core.retrieval.reranker` in the index worker. The setting
``retrieval.reranker`` names the starter (``starter:ms-marco-MiniLM-L-12-v2``) or
such a folder.

A download takes a Hub repository holding an ONNX export of a cross-encoder
(for example ``Xenova/bge-reranker-base`` or ``mixedbread-ai/mxbai-rerank-xsmall-v1``):
its ONNX file, the INT8 one when there is one (several times quicker on a CPU),
and ``tokenizer.json`` are fetched with the verified, resumable transfer that
GGUF models use, into a hidden folder next to the others; the model is tried on
one question-passage pair in the index worker, and only a model that scores it
is moved into ``models/rerankers/<owner>--<name>/``. A file that fails its
checksum, an ONNX graph that is not a cross-encoder or a repository without
the files gets a clear error and installs nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelFileError, RemoteNotFoundError, UsageError
from core.events import Event
from core.models import hub
from core.models.downloads import Downloader
from core.paths import DataPaths
from core.settings import atomic_write_text

STARTER_PREFIX = "starter:"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
SOURCE_FILE = "source.json"

# The ONNX file taken from a repository, first match wins: INT8 exports first (the
# cross-encoder reads 30 passages per question on the CPU), then full precision.
ONNX_PREFERENCE = (
    "onnx/model_quantized.onnx",
    "onnx/model_int8.onnx",
    "onnx/model_uint8.onnx",
    "model_quantized.onnx",
    "onnx/model.onnx",
    "model.onnx",
)
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")

# Offered in the download dialog (editable): cross-encoders whose Hub repositories hold
# an ONNX export with tokenizer.json. Suggestions only: none could be fetched and
# measured on the machines Lectern is built on.
SUGGESTED_REPOS = (
    "Xenova/bge-reranker-base",
    "mixedbread-ai/mxbai-rerank-xsmall-v1",
    "mixedbread-ai/mxbai-rerank-base-v1",
)

REPO_HINT = (
    "a re-ranker repository holds a cross-encoder exported to ONNX "
    "(onnx/model.onnx or model.onnx) and tokenizer.json, e.g. Xenova/bge-reranker-base"
)


@dataclass(frozen=True)
class RerankerInstalled(Event):
    """A downloaded re-ranker is verified, tried and in place."""

    folder: Path
    repo_id: str
    commit: str
    onnx_file: str  # the repository's file that became model.onnx


def is_reranker_folder(folder: Path) -> bool:
    """Whether ``folder`` holds the two files a re-ranker needs."""
    return (folder / MODEL_FILE).is_file() and (folder / TOKENIZER_FILE).is_file()


def reranker_problem(choice: str) -> str:
    """Why ``choice`` is not a usable ``retrieval.reranker`` setting ("" when it is)."""
    if choice.startswith(STARTER_PREFIX):
        return ""
    folder = Path(choice).expanduser()
    if not folder.is_dir():
        return f"The re-ranking model folder {choice} does not exist."
    if not is_reranker_folder(folder):
        return (
            f"{folder.name} is not a re-ranking model folder "
            f"(it needs {MODEL_FILE} and {TOKENIZER_FILE})."
        )
    return ""


def local_rerankers(rerankers_dir: Path) -> list[Path]:
    """The re-ranker folders in the data directory (the starter's included), by name."""
    if not rerankers_dir.is_dir():
        return []
    return [
        d
        for d in sorted(rerankers_dir.iterdir())
        if d.is_dir() and not d.name.startswith(".") and is_reranker_folder(d)
    ]


def folder_for(paths: DataPaths, repo_id: str) -> Path:
    """Where the re-ranker of ``repo_id`` is installed: ``models/rerankers/<owner>--<name>``."""
    if not _REPO_ID.match(repo_id):
        raise UsageError(f"{repo_id!r} is not a Hub repository id.", hint="write it as owner/name")
    return paths.rerankers_dir / repo_id.replace("/", "--")


def pick_onnx(names: Iterable[str]) -> str | None:
    """The repository file to use as ``model.onnx``, or None when there is none."""
    have = set(names)
    return next((n for n in ONNX_PREFERENCE if n in have), None)


def _installed_source(folder: Path) -> dict[str, str]:
    try:
        raw = json.loads((folder / SOURCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def download_reranker(
    downloader: Downloader,
    repo_id: str,
    revision: str | None = None,
    *,
    token: str | None,
    reserve_bytes: int,
    try_model: Callable[[Path], str | None],
    emit: Callable[[Event], None] = lambda _e: None,
    cancel: threading.Event | None = None,
) -> RerankerInstalled:
    """Download, verify, try and place a re-ranker (blocking).

    ``try_model(folder)`` loads the model and scores one pair, returning why it
    cannot (None when it can). Raises ``DownloadCancelledError`` when ``cancel`` is
    set (partial files stay, and the same call resumes them) and LecternError
    subclasses for everything a user can meet.
    """
    cancel = cancel or threading.Event()
    paths = downloader.paths
    target = folder_for(paths, repo_id)
    snap = hub.snapshot(repo_id, revision, token)
    onnx = pick_onnx(snap.files)
    if onnx is None:
        raise RemoteNotFoundError(f"{repo_id} has no ONNX model.", hint=REPO_HINT)
    if TOKENIZER_FILE not in snap.files:
        raise RemoteNotFoundError(f"{repo_id} has no {TOKENIZER_FILE}.", hint=REPO_HINT)
    installed = _installed_source(target)
    if (
        is_reranker_folder(target)
        and installed.get("commit") == snap.commit
        and installed.get("file") == onnx
    ):
        return RerankerInstalled(target, repo_id, snap.commit, onnx)

    incoming = target.with_name(f".{target.name}.incoming")
    parts = [onnx, TOKENIZER_FILE]
    finals = [incoming / MODEL_FILE, incoming / TOKENIZER_FILE]
    if _installed_source(incoming).get("commit") not in (None, snap.commit):
        shutil.rmtree(incoming, ignore_errors=True)  # files of an older commit
    incoming.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        incoming / SOURCE_FILE,
        json.dumps({"repo_id": repo_id, "commit": snap.commit, "file": onnx}, indent=2),
    )
    downloader.fetch_files(
        repo_id, onnx, snap, parts, finals,
        token=token, reserve_bytes=reserve_bytes, emit=emit, cancel=cancel,
    )  # fmt: skip
    problem = try_model(incoming)
    if problem is not None:
        shutil.rmtree(incoming, ignore_errors=True)
        raise ModelFileError(
            f"{repo_id} is not a re-ranking model Lectern can run: {problem}", hint=REPO_HINT
        )
    if target.exists():
        shutil.rmtree(target)  # an older commit of the same repository
    os.replace(incoming, target)
    # this commit's partials became the files; what is left is of an older commit
    downloader.remove_partials(repo_id, onnx)
    return RerankerInstalled(target, repo_id, snap.commit, onnx)
