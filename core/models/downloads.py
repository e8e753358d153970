"""Verified, resumable downloads of GGUF models from the Hugging Face Hub.

How one download goes:

1. The revision is resolved to a commit first (``HfApi.model_info`` with file
   metadata) and everything after is pinned to that commit; the Hub's LFS
   metadata gives each file's size and sha256.
2. Free disk space is checked against what is left to fetch plus the reserve
   from the settings.
3. Each file (each part of a split model) is streamed by us, with the
   library's HTTP session and headers, into ``models/.partial/`` next to a
   small JSON sidecar (repository, commit, expected size and sha256). Bytes
   are hashed while they are written; a broken connection is retried with an
   HTTP ``Range`` request from where it stopped, and after a cancel, a crash
   or a restart the next call finds the sidecar and resumes the same commit
   (the bytes already there are hashed again first).
4. Only a file whose sha256 matches the Hub's is renamed into
   ``models/<owner>/<repo>/<file>``; a mismatch removes the partial. The model
   is registered when all its parts are in place, so a partial file is never
   offered as a model.

We stream the bytes ourselves rather than call ``hf_hub_download`` so that we
control progress events, cancellation between chunks, where partial files
live and when a file is verified. The transfer uses plain HTTP (the Hub
redirects to a CDN that serves every file, Xet-backed ones included), so
``hf_xet`` is not involved. The blocking work runs in a worker thread; events
reach an asyncio consumer through :func:`stream_download`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import (
    DiskSpaceError,
    DownloadError,
    DownloadInProgressError,
    HubError,
    LecternError,
    ModelFileError,
    ModelNotFoundError,
    RemoteNotFoundError,
    UsageError,
    VerificationError,
)
from core.events import Done, Event, Failed
from core.executors import executor
from core.locking import FileLock
from core.models import hub
from core.models.registry import ModelRecord, ModelRegistry
from core.models.splits import all_part_names, split_info
from core.paths import DataPaths
from core.settings import atomic_write_text

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
PROGRESS_INTERVAL_S = 0.2
SPEED_WINDOW_S = 5.0
# A read that stalls this long counts as a broken connection (and is retried).
READ_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class DownloadProgress(Event):
    """Bytes fetched so far for one model (all its parts together)."""

    repo_id: str
    filename: str
    bytes_done: int
    bytes_total: int
    speed_bps: float
    eta_s: float | None


@dataclass(frozen=True)
class DownloadFinished(Event):
    """The model is verified, in place and registered."""

    record: ModelRecord


class DownloadCancelledError(Exception):
    """Raised inside the worker when the download was cancelled (partial kept)."""


@dataclass
class PartialDownload:
    """The sidecar of a partial file: what it is and how to finish it."""

    repo_id: str
    filename: str  # the model's (first part's) name
    part: str  # this file's name in the repository
    commit: str
    size: int
    sha256: str | None
    blob_id: str | None
    url: str
    started_at: str
    partial_path: str = ""
    bytes_done: int = 0

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.replace("/", "--"))


class _Meter:
    """Throttled progress with a speed over the last few seconds."""

    def __init__(
        self,
        repo_id: str,
        filename: str,
        total: int,
        emit: Callable[[Event], None],
    ) -> None:
        self.repo_id, self.filename, self.total, self.emit = repo_id, filename, total, emit
        self.window: deque[tuple[float, int]] = deque()
        self.last_emit = 0.0

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        self.window.append((now, done))
        while len(self.window) > 2 and now - self.window[0][0] > SPEED_WINDOW_S:
            self.window.popleft()
        if not force and now - self.last_emit < PROGRESS_INTERVAL_S:
            return
        self.last_emit = now
        t0, b0 = self.window[0]
        speed = (done - b0) / (now - t0) if now > t0 and done > b0 else 0.0
        eta = (self.total - done) / speed if speed > 0 else None
        self.emit(DownloadProgress(self.repo_id, self.filename, done, self.total, speed, eta))


def _git_blob_sha1(size: int) -> Any:
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(f"blob {size}\0".encode())
    return digest


class _Transfer:
    """A partial file being filled: open handle, bytes so far, running hash."""

    def __init__(self, fh: Any, size: int, blob: hub.RemoteBlob) -> None:
        self.fh, self.size, self.blob = fh, size, blob
        self.offset = 0
        self.digest = self._new_digest()

    def _new_digest(self) -> Any:
        # GGUF files are LFS files (sha256); small files only have a git blob id
        return hashlib.sha256() if self.blob.sha256 else _git_blob_sha1(self.size)

    def restart(self) -> None:
        self.fh.seek(0)
        self.fh.truncate(0)
        self.offset = 0
        self.digest = self._new_digest()

    def append(self, block: bytes) -> None:
        if self.offset + len(block) > self.size:
            raise DownloadError("The server sent more bytes than the file has.")
        self.fh.write(block)
        self.digest.update(block)
        self.offset += len(block)


class Downloader:
    """Downloads models into a data directory and registers them."""

    def __init__(
        self,
        paths: DataPaths,
        registry: ModelRegistry,
        *,
        retries: int = 5,
        retry_wait_s: float = 0.5,
    ) -> None:
        self.paths = paths
        self.registry = registry
        self.retries = retries
        self.retry_wait_s = retry_wait_s

    # -- partial files --------------------------------------------------------
    def _partial_path(self, repo_id: str, commit: str, part: str) -> Path:
        return self.paths.downloads_dir / f"{_slug(repo_id)}--{commit[:12]}--{_slug(part)}.part"

    def partials(self, models_only: bool = True) -> list[PartialDownload]:
        """Every partial download of a GGUF model on disk, with how far it got (of any
        file, re-rankers' too, with ``models_only=False``)."""
        out = []
        d = self.paths.downloads_dir
        for side in sorted(d.glob("*.part.json")) if d.exists() else []:
            try:
                raw = json.loads(side.read_text(encoding="utf-8"))
                p = PartialDownload(**raw)
            except (OSError, ValueError, TypeError):
                continue
            if models_only and not p.filename.lower().endswith(".gguf"):
                continue
            part_file = side.with_suffix("")
            p.partial_path = str(part_file)
            p.bytes_done = part_file.stat().st_size if part_file.exists() else 0
            out.append(p)
        return out

    def remove_partials(self, repo_id: str, filename: str | None = None) -> int:
        """Delete the partial files of a model (or of every model of a repository),
        re-rankers' included (their partials are named by the repository's ONNX file)."""
        n = 0
        for p in self.partials(models_only=False):
            if p.repo_id == repo_id and (filename is None or p.filename == filename):
                Path(p.partial_path).unlink(missing_ok=True)
                Path(p.partial_path + ".json").unlink(missing_ok=True)
                n += 1
        return n

    def final_path(self, repo_id: str, part: str) -> Path:
        """Where a verified file of ``repo_id`` lives: ``models/<owner>/<repo>/<file>``."""
        target = self.paths.models_dir.joinpath(*repo_id.split("/"), *part.split("/"))
        if not target.resolve().is_relative_to(self.paths.models_dir.resolve()):
            raise UsageError(f"Refusing the unsafe file name {part!r}.")
        return target

    # -- the download ------------------------------------------------------------
    def download(
        self,
        repo_id: str,
        filename: str,
        revision: str | None = None,
        *,
        token: str | None = None,
        reserve_bytes: int = 0,
        emit: Callable[[Event], None] = lambda _e: None,
        cancel: threading.Event | None = None,
    ) -> ModelRecord:
        """Download, verify, place and register one model (blocking).

        Raises :class:`DownloadCancelledError` when ``cancel`` is set (the partial
        file stays for a later resume) and :class:`LecternError` subclasses for
        everything a user can meet.
        """
        cancel = cancel or threading.Event()
        if not filename.lower().endswith(".gguf"):
            raise UsageError(f"{filename} is not a GGUF file.", hint="Lectern runs GGUF models")
        info = split_info(filename)
        if info is not None and info[1] != 1:
            filename = all_part_names(filename)[0]  # a split model is fetched from its first part
        parts = all_part_names(filename)

        snap = self._pinned_snapshot(repo_id, filename, revision, token)
        missing = [p for p in parts if p not in snap.files]
        if missing:
            ggufs = [f.filename for f in hub.gguf_files(snap)]
            raise RemoteNotFoundError(
                f"No file {missing[0]!r} in {repo_id}.",
                hint=("available: " + ", ".join(ggufs[:6])) if ggufs else "it has no GGUF files",
            )
        blobs = [snap.files[p] for p in parts]
        if any(b.size is None for b in blobs):
            raise HubError(f"The Hub did not give the size of {filename} in {repo_id}.")
        finals = [self.final_path(repo_id, p) for p in parts]
        existing = self._already_installed(finals[0])
        if existing is not None:
            return existing

        self.fetch_files(
            repo_id, filename, snap, parts, finals,
            token=token, reserve_bytes=reserve_bytes, emit=emit, cancel=cancel,
        )  # fmt: skip
        return self._register(repo_id, finals[0], blobs[0], snap.commit)

    def fetch_files(
        self,
        repo_id: str,
        label: str,
        snap: hub.RepoSnapshot,
        parts: list[str],
        finals: list[Path],
        *,
        token: str | None,
        reserve_bytes: int,
        emit: Callable[[Event], None],
        cancel: threading.Event,
    ) -> None:
        """Fetch the files ``parts`` of ``snap`` to ``finals``, each verified, under one
        lock and one progress meter named ``label`` (a file already in place is kept).

        Raises :class:`DownloadCancelledError` when ``cancel`` is set (partials stay)."""
        blobs = [snap.files[p] for p in parts]
        total = sum(int(b.size or 0) for b in blobs)
        self._check_disk_space(repo_id, snap.commit, parts, blobs, finals, reserve_bytes)
        lock = FileLock(self.paths.downloads_dir / f"{_slug(repo_id)}--{_slug(label)}.lock")
        if not lock.acquire(timeout=0):
            raise DownloadInProgressError(
                f"{label} is already being downloaded.",
                hint="wait for that download (maybe in another Lectern window) to finish",
            )
        try:
            meter = _Meter(repo_id, label, total, emit)
            done_before = 0
            for part, blob, final in zip(parts, blobs, finals, strict=True):
                size = int(blob.size or 0)
                if not (final.exists() and final.stat().st_size == size):
                    self._fetch(
                        repo_id, label, part, blob, snap.commit, final,
                        token=token, meter=meter, offset_base=done_before, cancel=cancel,
                    )  # fmt: skip
                done_before += size
            meter.update(total, force=True)
        finally:
            lock.release()

    def _pinned_snapshot(
        self, repo_id: str, filename: str, revision: str | None, token: str | None
    ) -> hub.RepoSnapshot:
        """The repository at the commit to use: a partial's commit when resuming."""
        if revision is None:
            for p in self.partials():
                if p.repo_id == repo_id and p.filename == filename:
                    try:
                        return hub.snapshot(repo_id, p.commit, token)
                    except RemoteNotFoundError:
                        # that commit is gone (history rewritten): start over at main
                        self.remove_partials(repo_id, filename)
                        break
        return hub.snapshot(repo_id, revision, token)

    def _already_installed(self, first: Path) -> ModelRecord | None:
        if not first.exists():
            return None
        try:
            rec = self.registry.get(str(first))
        except ModelNotFoundError:
            return None
        parts = [Path(p) for p in rec.parts] or [Path(rec.path)]
        return rec if all(p.exists() for p in parts) else None

    def _check_disk_space(
        self,
        repo_id: str,
        commit: str,
        parts: list[str],
        blobs: list[hub.RemoteBlob],
        finals: list[Path],
        reserve_bytes: int,
    ) -> None:
        self.paths.downloads_dir.mkdir(parents=True, exist_ok=True)
        needed = 0
        for part, blob, final in zip(parts, blobs, finals, strict=True):
            size = int(blob.size or 0)
            if final.exists() and final.stat().st_size == size:
                continue
            partial = self._partial_path(repo_id, commit, part)
            have = partial.stat().st_size if partial.exists() else 0
            needed += max(0, size - have)
        free = shutil.disk_usage(self.paths.downloads_dir).free
        if free - needed < reserve_bytes:
            raise DiskSpaceError(
                f"Not enough disk space: the download needs {needed / 1e9:.2f} GB, "
                f"{free / 1e9:.2f} GB are free and {reserve_bytes / 1e9:.2f} GB must stay free.",
                hint=f"free some space on the disk holding {self.paths.models_dir}, "
                "or lower the reserve in Settings → Models",
            )

    def _fetch(
        self,
        repo_id: str,
        filename: str,
        part: str,
        blob: hub.RemoteBlob,
        commit: str,
        final: Path,
        *,
        token: str | None,
        meter: _Meter,
        offset_base: int,
        cancel: threading.Event,
    ) -> None:
        """Fetch one file into its partial, verify it, move it into place."""
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        size = int(blob.size or 0)
        endpoint = hub.hub_endpoint()
        url = hf_hub_url(repo_id, part, revision=commit, endpoint=endpoint)
        with hub.hub_errors(repo_id, part, token_sent=token is not None):
            meta = get_hf_file_metadata(url, token=token or False, endpoint=endpoint)
        if meta.commit_hash and meta.commit_hash != commit:
            raise HubError(f"The Hub served {part} from another commit than {commit[:12]}.")
        if meta.size is not None and meta.size != size:
            raise HubError(f"The Hub gives two different sizes for {part}; try again later.")

        partial = self._partial_path(repo_id, commit, part)
        sidecar = Path(str(partial) + ".json")
        record = PartialDownload(
            repo_id=repo_id,
            filename=filename,
            part=part,
            commit=commit,
            size=size,
            sha256=blob.sha256,
            blob_id=blob.blob_id,
            url=url,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        if not sidecar.exists():
            atomic_write_text(sidecar, json.dumps(record.to_json(), indent=2))

        mode = "r+b" if partial.exists() else "w+b"
        with open(partial, mode) as fh:
            state = _Transfer(fh, size, blob)
            self._rehash(state, cancel)
            meter.update(offset_base + state.offset, force=True)
            attempts = 0
            while state.offset < size:
                if cancel.is_set():
                    raise DownloadCancelledError
                before = state.offset
                error: Exception | None = None
                try:
                    self._stream_into(state, url, token, meter, offset_base, cancel)
                except LecternError:
                    raise
                except Exception as exc:
                    mapped = hub.translate_hub_error(exc, repo_id, part)
                    if mapped is None:
                        raise
                    if not isinstance(exc, _transient_errors()):
                        raise mapped from exc
                    error = exc
                if state.offset >= size:
                    break
                # a broken connection, or a response that ended early: try again from
                # where the file got, giving up after a few attempts without progress
                attempts = 0 if state.offset > before else attempts + 1
                if attempts > self.retries:
                    raise HubError(
                        f"The connection to the Hub broke {attempts} times while "
                        f"downloading {part}.",
                        hint="check the connection and run the download again: "
                        "it resumes where it stopped",
                    ) from error
                if cancel.wait(self.retry_wait_s * 2 ** max(0, attempts - 1)):
                    raise DownloadCancelledError
            fh.flush()
            os.fsync(fh.fileno())
            digest = state.digest

        expected = blob.sha256 or blob.blob_id
        if digest.hexdigest() != expected:
            partial.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
            raise VerificationError(
                f"{part} from {repo_id} does not match the Hub's checksum; it was discarded.",
                hint="download it again; if this repeats, the connection or a proxy alters data",
            )
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, final)
        sidecar.unlink(missing_ok=True)

    @staticmethod
    def _rehash(state: _Transfer, cancel: threading.Event) -> None:
        """Hash the bytes a previous attempt left, to resume after them."""
        fh = state.fh
        fh.seek(0, os.SEEK_END)
        have = fh.tell()
        if have > state.size:  # not ours to trust: start over
            state.restart()
            return
        fh.seek(0)
        while state.offset < have:
            if cancel.is_set():
                raise DownloadCancelledError
            block = fh.read(min(8 * CHUNK_BYTES, have - state.offset))
            if not block:
                break
            state.digest.update(block)
            state.offset += len(block)
        fh.seek(state.offset)
        fh.truncate()

    def _stream_into(
        self,
        state: _Transfer,
        url: str,
        token: str | None,
        meter: _Meter,
        offset_base: int,
        cancel: threading.Event,
    ) -> None:
        """One HTTP GET from ``state.offset``, appending to the partial file as bytes arrive.

        ``state`` is updated block by block, so after a broken connection it
        says exactly how far the file got.
        """
        import httpx2
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        headers = build_hf_headers(token=token or False)
        headers["Accept-Encoding"] = "identity"  # byte offsets must be the file's own
        if state.offset:
            headers["Range"] = f"bytes={state.offset}-"
        timeout = httpx2.Timeout(READ_TIMEOUT_S, connect=15.0)
        with get_session().stream("GET", url, headers=headers, timeout=timeout) as resp:
            if resp.status_code == 416 and state.offset == state.size:
                return
            if resp.status_code >= 400:
                resp.read()
                hf_raise_for_status(resp)
            if state.offset and resp.status_code == 206:
                start = _content_range_start(resp.headers.get("Content-Range"))
                if start != state.offset:
                    raise DownloadError(f"The server resumed at byte {start}, not {state.offset}.")
            elif state.offset:
                state.restart()  # the server ignored the Range request and sends everything
            for block in resp.iter_bytes():  # as received: nothing held back on a break
                if cancel.is_set():
                    state.fh.flush()
                    raise DownloadCancelledError
                state.append(block)
                meter.update(offset_base + state.offset)
        state.fh.flush()

    def _register(
        self, repo_id: str, first: Path, blob: hub.RemoteBlob, commit: str
    ) -> ModelRecord:
        try:
            record = self.registry.record_for_file(
                first, "downloaded", sha256=blob.sha256, repo_id=repo_id, revision=commit
            )
        except ModelFileError as exc:
            raise ModelFileError(
                f"{first.name} from {repo_id} downloaded fine but is not a usable GGUF model: "
                f"{exc.message}",
                hint="pick another file of that repository",
            ) from exc
        return self.registry.add(record)


def _transient_errors() -> tuple[type[BaseException], ...]:
    import httpx2

    return (httpx2.TransportError,)


def _content_range_start(value: str | None) -> int | None:
    m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", value or "")
    return int(m.group(1)) if m else None


def stream_download(
    downloader: Downloader,
    repo_id: str,
    filename: str,
    revision: str | None,
    *,
    token: str | None,
    reserve_bytes: int,
    cancel: threading.Event,
) -> AsyncIterator[Event]:
    """Run a download in the ``downloads`` executor and yield its events.

    Ends with exactly one of :class:`DownloadFinished`, ``Done(cancelled=True)``
    (partial kept) or ``Failed``. Leaving the iteration early cancels the download.
    """

    def run(emit: Callable[[Event], None]) -> Event:
        record = downloader.download(
            repo_id,
            filename,
            revision,
            token=token,
            reserve_bytes=reserve_bytes,
            emit=emit,
            cancel=cancel,
        )
        return DownloadFinished(record)

    return stream_transfer(run, f"{repo_id}/{filename}", filename, cancel)


async def stream_transfer(
    run: Callable[[Callable[[Event], None]], Event],
    label: str,
    filename: str,
    cancel: threading.Event,
) -> AsyncIterator[Event]:
    """Run ``run(emit)`` (a blocking download) in the ``downloads`` executor and yield
    its events, then its result, or ``Done(cancelled=True)`` or ``Failed``."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event] = asyncio.Queue()

    def emit(event: Event) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, event)

    def work() -> Event:
        try:
            return run(emit)
        except DownloadCancelledError:
            return Done(text=label, cancelled=True)
        except LecternError as exc:
            return Failed(exc)
        except OSError as exc:
            return Failed(
                DownloadError(
                    f"Writing {filename} failed: {exc.strerror or exc}",
                    hint="check the disk; the download resumes where it stopped",
                )
            )
        except Exception as exc:  # a bug must still end the stream
            log.exception("download of %s failed", label)
            return Failed(DownloadError(f"Downloading {filename} failed unexpectedly: {exc}"))

    future = loop.run_in_executor(executor("downloads", workers=4), work)
    try:
        while not future.done():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, future}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result()
            else:
                getter.cancel()
        # the worker has finished: pass on what it reported last, then its result, so a
        # consumer that stops at the final event leaves nothing running behind it
        while not queue.empty():
            yield queue.get_nowait()
        yield future.result()
    finally:
        if not future.done():
            cancel.set()
            await asyncio.wait([future])
