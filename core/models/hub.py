"""Searching the Hugging Face Hub for GGUF models, through ``huggingface_hub``.

* :func:`search` lists GGUF repositories matching a query (``HfApi.list_models``
  with the ``gguf`` library filter), most downloaded first.
* :func:`list_gguf_files` lists a repository's GGUF files with their sizes,
  split files (``-00001-of-00003.gguf``) grouped into one entry.
* :func:`hub_errors` turns the library's exceptions into Lectern's typed
  errors with a hint, in one place, for search and downloads alike.

The Hub address is read at call time (``HF_ENDPOINT``), not at import time as
``huggingface_hub.constants`` does, so a mirror set after start-up is honoured.
The token is the one in Lectern's settings, else huggingface_hub's standard
one (``HF_TOKEN`` or the file written by ``hf auth login``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.errors import (
    AccessDeniedError,
    HubError,
    LecternError,
    RemoteNotFoundError,
    UsageError,
)
from core.models.gguf_info import quantization_name
from core.models.splits import all_part_names, is_secondary_part, split_info

DEFAULT_ENDPOINT = "https://huggingface.co"
SEARCH_TIMEOUT_S = 20.0
TOKEN_HINT = (
    "accept the licence on the model page, then set a Hugging Face token "
    "in Settings → Models or run 'hf auth login'"
)


def hub_endpoint() -> str:
    """The Hub's base URL: ``$HF_ENDPOINT`` now, else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def model_page(repo_id: str) -> str:
    """Web address of a repository's page (where a licence is accepted)."""
    return f"{hub_endpoint()}/{repo_id}"


@dataclass(frozen=True)
class HubRepo:
    """A GGUF repository found by a search."""

    repo_id: str
    author: str | None
    downloads: int
    likes: int
    gated: bool
    last_modified: str | None
    tags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "repo_id": self.repo_id,
            "author": self.author,
            "downloads": self.downloads,
            "likes": self.likes,
            "gated": self.gated,
            "last_modified": self.last_modified,
            "tags": list(self.tags),
        }


@dataclass(frozen=True)
class RemoteModelFile:
    """A GGUF model in a Hub repository; a split model is one entry."""

    repo_id: str
    filename: str  # the first part for split files
    parts: list[str] = field(default_factory=list)
    size_bytes: int = 0  # all parts together
    quantization: str = "unknown"
    sha256: tuple[str | None, ...] = ()  # per part, from the Hub's LFS metadata
    revision: str | None = None  # the commit the listing was made at

    @property
    def is_split(self) -> bool:
        return len(self.parts) > 1

    def to_json(self) -> dict[str, object]:
        return {
            "repo_id": self.repo_id,
            "filename": self.filename,
            "parts": list(self.parts),
            "size_bytes": self.size_bytes,
            "quantization": self.quantization,
            "revision": self.revision,
        }


def _describe(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def translate_hub_error(
    exc: BaseException,
    repo_id: str | None = None,
    filename: str | None = None,
    *,
    token_sent: bool = False,
) -> LecternError | None:
    """The Lectern error for a huggingface_hub/httpx exception, or None if it is none of those."""
    import httpx2
    from huggingface_hub import errors as hf

    what = f"'{filename}' in {repo_id}" if filename else f"'{repo_id}'"
    if isinstance(exc, LecternError):
        return exc
    if isinstance(exc, hf.OfflineModeIsEnabled):
        return HubError(
            "Hugging Face Hub access is switched off (HF_HUB_OFFLINE is set).",
            hint="unset HF_HUB_OFFLINE to search and download models",
        )
    if isinstance(exc, hf.HFValidationError):
        return UsageError(f"{repo_id!r} is not a Hub repository id.", hint="use owner/name")
    if isinstance(exc, hf.GatedRepoError):
        if token_sent:
            return AccessDeniedError(
                f"Your Hugging Face token has no access to {repo_id} yet (gated model).",
                hint=f"accept the licence at {model_page(repo_id or '')} with the same account",
            )
        return AccessDeniedError(
            f"{repo_id} is a gated model: downloading it needs a Hugging Face token.",
            hint=TOKEN_HINT.replace("the model page", model_page(repo_id or "")),
        )
    if isinstance(exc, hf.RevisionNotFoundError):
        return RemoteNotFoundError(f"That revision of {repo_id} does not exist on the Hub.")
    if isinstance(exc, hf.RemoteEntryNotFoundError):
        return RemoteNotFoundError(
            f"No file {what} on the Hub.", hint="list the repository's files to pick one"
        )
    if isinstance(exc, hf.RepositoryNotFoundError):
        return RemoteNotFoundError(
            f"No repository {repo_id!r} on the Hub.",
            hint="check the name; a private repository needs a token with access",
        )
    if isinstance(exc, hf.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            return AccessDeniedError(
                f"The Hub refused access to {what} (HTTP {status}).",
                hint="check your Hugging Face token in Settings → Models; " + TOKEN_HINT,
            )
        if status == 404:
            return RemoteNotFoundError(f"No {what} on the Hub.")
        return HubError(f"The Hugging Face Hub answered HTTP {status}: {_describe(exc)}")
    if isinstance(exc, httpx2.HTTPError):
        return HubError(
            f"Cannot reach the Hugging Face Hub at {hub_endpoint()}: {_describe(exc)}",
            hint="check the internet connection, and HF_ENDPOINT if you use a mirror",
        )
    return None


@contextmanager
def hub_errors(
    repo_id: str | None = None, filename: str | None = None, *, token_sent: bool = False
) -> Iterator[None]:
    """Re-raise huggingface_hub and network errors as Lectern errors."""
    try:
        yield
    except Exception as exc:
        mapped = translate_hub_error(exc, repo_id, filename, token_sent=token_sent)
        if mapped is None or mapped is exc:
            raise
        raise mapped from exc


def resolve_token(configured: str | None) -> str | None:
    """The token to send: Lectern's setting, else huggingface_hub's standard one."""
    if configured and configured.strip():
        return configured.strip()
    from huggingface_hub import get_token

    return get_token()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def search(query: str, limit: int = 20, token: str | None = None) -> list[HubRepo]:
    """GGUF repositories on the Hub matching ``query``, most downloaded first.

    One request to the endpoint ``HfApi.list_models`` uses, made with the
    library's session, headers and error handling. ``list_models`` itself
    paginates through ``http_backoff``, which retries an unreachable Hub for
    about 25 seconds; a search box must fail fast instead.
    """
    from huggingface_hub.hf_api import ModelInfo
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    query = query.strip()
    if not query:
        raise UsageError("Type something to search for, e.g. 'qwen 3b'.")
    params: dict[str, Any] = {
        "search": query,
        "filter": "gguf",
        "sort": "downloads",
        "limit": max(1, min(limit, 100)),
        "expand": ["downloads", "likes", "gated", "lastModified", "tags", "author"],
    }
    with hub_errors(token_sent=token is not None):
        resp = get_session().get(
            f"{hub_endpoint()}/api/models",
            params=params,
            headers=build_hf_headers(token=token or False),
            timeout=SEARCH_TIMEOUT_S,
        )
        hf_raise_for_status(resp)
        found = [ModelInfo(**{"siblings": None, **item}) for item in resp.json()]
    return [
        HubRepo(
            repo_id=m.id,
            author=m.author or (m.id.split("/")[0] if "/" in m.id else None),
            downloads=int(m.downloads or 0),
            likes=int(m.likes or 0),
            gated=bool(m.gated),
            last_modified=_iso(m.last_modified),
            tags=tuple(m.tags or ()),
        )
        for m in found[: params["limit"]]
    ]


@dataclass(frozen=True)
class RemoteBlob:
    """One file of a repository at a pinned commit, as the Hub describes it."""

    name: str
    size: int | None
    sha256: str | None  # LFS files (all GGUF models)
    blob_id: str | None  # git object id (small files)


@dataclass(frozen=True)
class RepoSnapshot:
    """A repository at one commit: what downloads are pinned to."""

    repo_id: str
    commit: str
    gated: bool
    files: dict[str, RemoteBlob]


def snapshot(repo_id: str, revision: str | None = None, token: str | None = None) -> RepoSnapshot:
    """Resolve ``revision`` (default: the main branch) to a commit, with file sizes and hashes."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_endpoint(), token=token or False)
    with hub_errors(repo_id, token_sent=token is not None):
        info = api.model_info(
            repo_id, revision=revision, files_metadata=True, timeout=SEARCH_TIMEOUT_S
        )
    if not info.sha:
        raise HubError(f"The Hub did not say which commit {repo_id} is at.")
    files = {
        s.rfilename: RemoteBlob(
            name=s.rfilename,
            size=(s.lfs.size if s.lfs else s.size),
            sha256=(s.lfs.sha256 if s.lfs else None),
            blob_id=s.blob_id,
        )
        for s in info.siblings or []
    }
    return RepoSnapshot(
        repo_id=info.id or repo_id, commit=info.sha, gated=bool(info.gated), files=files
    )


def gguf_files(snap: RepoSnapshot) -> list[RemoteModelFile]:
    """The GGUF models of a snapshot, split parts grouped, smallest first."""
    out: list[RemoteModelFile] = []
    for name in sorted(snap.files):
        if not name.lower().endswith(".gguf") or is_secondary_part(name):
            continue
        if "mmproj" in name.lower():
            continue  # vision projectors go with a model; they are not one
        split = split_info(name)
        parts = all_part_names(name)
        if any(p not in snap.files for p in parts):
            continue  # an incomplete split upload cannot be loaded
        blobs = [snap.files[p] for p in parts]
        out.append(
            RemoteModelFile(
                repo_id=snap.repo_id,
                filename=name,
                parts=parts,
                size_bytes=sum(b.size or 0 for b in blobs),
                quantization=quantization_name(None, f"{split[0]}.gguf" if split else name),
                sha256=tuple(b.sha256 for b in blobs),
                revision=snap.commit,
            )
        )
    return sorted(out, key=lambda f: (f.size_bytes, f.filename))


def list_gguf_files(
    repo_id: str, revision: str | None = None, token: str | None = None
) -> list[RemoteModelFile]:
    """A repository's GGUF models with sizes; split files grouped."""
    return gguf_files(snapshot(repo_id, revision, token))
