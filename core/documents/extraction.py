"""Text extraction with PyMuPDF (PDF, EPUB, HTML, text, Markdown), page by page, in a worker.

PyMuPDF has no thread support and can hang or crash on hostile files, so
extraction never runs in the engine's process: one long-lived *spawned*
worker extracts one document at a time and streams progress back over a
pipe. A document that makes no progress for ``stall_s`` seconds, or takes
longer than ``timeout_s`` overall, gets its worker killed (a fresh one is
started for the next document) and fails with a clear reason. A worker that
dies (segfault in MuPDF) fails only the document it was working on.

Pages keep exactly the text ``page.get_text()`` returns, so character offsets
computed later point into what a viewer extracts from the same page.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from core.documents.faults import fault_point
from core.documents.formats import (
    MAX_TEXT_BYTES,
    READABLE,
    TEXTUAL,
    epub_problem,
    label,
    looks_like_text,
    sniff,
)
from core.priority import lower_this_process

# A page with fewer non-blank characters than this counts as having no text.
MIN_PAGE_CHARS = 20
# A document is "scanned" when more than this share of its pages has no text.
_SCANNED_SHARE = 0.5
# Pages are rendered at this resolution for Tesseract (it reads small print best at 300 dpi;
# 72, PyMuPDF's default, misread one word in ten of a test page)
OCR_DPI = 300
# Each page read by OCR adds this much to a document's time limit (about 5 s a dense page
# on 2 cores): a long scanned book must not hit the limit meant for hanging files
OCR_SECONDS_PER_PAGE = 30.0

_PROGRESS_EVERY_S = 0.25

# Test hook: a worker given a file whose name contains this string hangs, so tests
# can check that the timeout kills it (a real hanging PDF is hard to make on purpose).
HANG_ENV = "LECTERN_TEST_EXTRACT_HANG"


@dataclass(frozen=True)
class TocEntry:
    """One outline entry: level (1 = top), title, 1-based page."""

    level: int
    title: str
    page: int


@dataclass(frozen=True)
class ExtractedDocument:
    """The text of a PDF: ``pages[i]`` is ``page.get_text()`` of physical page ``i + 1``."""

    path: str
    pages: list[str]
    title: str
    toc: list[TocEntry] = field(default_factory=list)
    ocr_pages: int = 0


class ExtractionError(Exception):
    """The document cannot be indexed; ``reason`` is shown as its status."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def tesseract_available() -> bool:
    """Whether OCR through PyMuPDF (which calls Tesseract) can work on this machine."""
    return shutil.which("tesseract") is not None or bool(os.environ.get("TESSDATA_PREFIX"))


def visible_chars(text: str) -> int:
    return sum(1 for c in text if not c.isspace())


def _has_picture(page: Any) -> bool:
    try:
        return bool(page.get_images(full=False))
    except Exception:  # noqa: BLE001 - a broken page has nothing OCR could use either
        return False


def extract_in_process(
    path: str,
    progress: Callable[[int, int], None] | None = None,
    ocr: bool | None = None,
    ocr_progress: Callable[[int, int], None] | None = None,
) -> ExtractedDocument:
    """Extract ``path`` in the calling process (the worker calls this; tests may too).

    ``progress(pages read, pages)``; with OCR on, ``ocr_progress(pages read by
    OCR, pages to read)`` before the first such page and after each
    (``progress`` when not given). Raises :class:`ExtractionError` with a
    user-facing reason for files that cannot be indexed.
    """
    import pymupdf

    pymupdf.TOOLS.mupdf_display_errors(False)
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ExtractionError(f"cannot read the file: {exc.strerror or exc}") from exc
    if size == 0:
        raise ExtractionError("empty file (0 bytes)")
    with p.open("rb") as fh:
        head = fh.read(8192)
    kind = sniff(p, head[:1024])
    if kind is None:
        raise ExtractionError(f"not a document Lectern can read (it reads {READABLE})")
    what = label(kind)
    if kind == "pdf" and b"%PDF-" not in head[:1024]:
        raise ExtractionError("not a PDF file")
    if kind in TEXTUAL:
        if not looks_like_text(head):
            a = "an" if what.startswith("HTML") else "a"
            raise ExtractionError(f"not {a} {what} (it holds binary data)")
        if size > MAX_TEXT_BYTES:
            raise ExtractionError(
                f"{what} too large ({size / 1024 / 1024:.1f} MB; "
                f"Lectern reads text files up to {MAX_TEXT_BYTES // 1024 // 1024} MB)"
            )
    if kind == "epub":
        problem = epub_problem(p, head)
        if problem is not None:
            raise ExtractionError(problem)
    hang = os.environ.get(HANG_ENV)
    if hang and hang in p.name:
        time.sleep(3600)
    try:
        doc = pymupdf.open(path, filetype=kind)
    except Exception as exc:
        raise ExtractionError(f"damaged {what}, cannot be opened ({exc})") from exc
    try:
        if doc.needs_pass:
            raise ExtractionError(f"password required (encrypted {what})")
        n = doc.page_count
        if n == 0:
            raise ExtractionError(f"damaged {what} (no readable pages)")
        pages: list[str] = []
        unreadable = 0
        last = time.monotonic()
        for i in range(n):
            try:
                pages.append(doc[i].get_text())
            except Exception:  # noqa: BLE001 - MuPDF raises plain errors on broken pages
                # One broken page (truncated file) should not lose the rest.
                pages.append("")
                unreadable += 1
            now = time.monotonic()
            if progress is not None and now - last >= _PROGRESS_EVERY_S:
                progress(i + 1, n)
                last = now
        if unreadable == n:
            raise ExtractionError(f"damaged {what} (no page could be read)")
        # a text, Markdown or HTML file is not a scan: a short one is just short
        textual = kind in TEXTUAL
        empty = [
            i for i, t in enumerate(pages) if not textual and visible_chars(t) < MIN_PAGE_CHARS
        ]
        no_text = "no text layer (scanned?)" if kind == "pdf" else "no text (only pictures?)"
        scanned = len(empty) > _SCANNED_SHARE * n
        use_ocr = tesseract_available() if ocr is None else ocr
        if scanned and not use_ocr:
            raise ExtractionError(f"{no_text}; install Tesseract to have it read by OCR")
        ocr_pages = 0
        if use_ocr and empty:
            # a scanned document: every page without text; a text document: only its
            # pages without text that hold a picture (a scanned page inside it), so blank
            # pages and drawings cost no OCR
            to_read = empty if scanned else [i for i in empty if _has_picture(doc[i])]
            report = ocr_progress or progress
            if report is not None and to_read:
                report(0, len(to_read))  # before the first page: OCR is slow, say so now
            for count, i in enumerate(to_read, 1):
                try:
                    # one Page object for both calls: the text page holds only a weak
                    # reference to the page it was made from
                    page = doc[i]
                    tp = page.get_textpage_ocr(full=True, dpi=OCR_DPI)
                    pages[i] = page.get_text(textpage=tp)
                    ocr_pages += 1
                except Exception as exc:
                    if scanned:
                        raise ExtractionError(f"{no_text} and OCR failed: {exc}") from exc
                    # one unreadable picture does not cost a text document its other pages
                if report is not None:
                    report(count, len(to_read))
            if scanned and not any(visible_chars(t) >= MIN_PAGE_CHARS for t in pages):
                raise ExtractionError(f"{no_text} and OCR found no text")
        toc = []
        try:
            for level, title, page in doc.get_toc(simple=True):
                if 1 <= page <= n and str(title).strip():
                    toc.append(TocEntry(int(level), " ".join(str(title).split()), int(page)))
        except Exception:  # noqa: BLE001
            toc = []  # a broken outline is not worth failing the document for
        meta_title = " ".join(str((doc.metadata or {}).get("title") or "").split())
        title = meta_title or p.stem
        if progress is not None:
            progress(n, n)
        return ExtractedDocument(str(p), pages, title, toc, ocr_pages)
    finally:
        doc.close()


def _worker_main(conn: Connection) -> None:
    """Worker process loop: receive a path, send progress and one result."""
    lower_this_process()
    parent = os.getppid()

    def send(kind: str, done: int, total: int) -> None:
        if os.getppid() != parent:  # the engine died: stop instead of lingering
            os._exit(0)
        conn.send((kind, done, total))

    def progress(done: int, total: int) -> None:
        send("progress", done, total)

    def ocr_progress(done: int, total: int) -> None:
        send("ocr", done, total)

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        path, ocr = msg
        try:
            conn.send(("done", extract_in_process(path, progress, ocr, ocr_progress)))
        except ExtractionError as exc:
            conn.send(("failed", exc.reason))
        except Exception as exc:  # noqa: BLE001 - any library error fails just this document
            conn.send(("failed", f"could not read the file ({type(exc).__name__}: {exc})"))


class Extractor:
    """Runs :func:`extract_in_process` in a killable worker process.

    ``timeout_s`` bounds one document, plus :data:`OCR_SECONDS_PER_PAGE` for each
    page read by OCR; ``stall_s`` bounds the time between two progress reports
    (a hang inside one page). Thread-safe: calls are serialised.
    """

    def __init__(
        self, timeout_s: float = 900.0, stall_s: float = 60.0, ocr: bool | None = None
    ) -> None:
        self.timeout_s = timeout_s
        self.stall_s = stall_s
        self.ocr = ocr
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def _ensure_worker(self) -> Connection:
        if self._proc is not None and self._proc.is_alive() and self._conn is not None:
            return self._conn
        self._kill()
        parent_conn, child_conn = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_worker_main, args=(child_conn,), name="lectern-extract", daemon=True
        )
        proc.start()
        child_conn.close()
        self._proc, self._conn = proc, parent_conn
        return parent_conn

    def _kill(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(5)
            self._proc = None

    def extract(
        self,
        path: str | Path,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
        ocr_progress: Callable[[int, int], None] | None = None,
    ) -> ExtractedDocument:
        """Extract one PDF; raises :class:`ExtractionError` (also on timeout or worker crash).

        ``progress(pages read, pages)``; pages read by OCR are counted by
        ``ocr_progress`` (``progress`` when not given).
        """
        with self._lock:
            conn = self._ensure_worker()
            conn.send((str(path), self.ocr))
            fault_point("extracting")
            start = last = time.monotonic()
            limit = self.timeout_s
            while True:
                now = time.monotonic()
                if cancel is not None and cancel.is_set():
                    self._kill()
                    raise ExtractionError("cancelled")
                if now - start > limit or now - last > self.stall_s:
                    self._kill()
                    raise ExtractionError(
                        f"extraction timed out after {now - start:.0f} s (the file may be damaged)"
                    )
                try:
                    ready = conn.poll(0.1)
                    msg = conn.recv() if ready else None
                except (EOFError, OSError):
                    self._kill()
                    raise ExtractionError("the document reader crashed on this file") from None
                if msg is None:
                    continue
                last = time.monotonic()
                if msg[0] in ("progress", "ocr"):
                    report = progress
                    if msg[0] == "ocr":
                        limit = self.timeout_s + int(msg[2]) * OCR_SECONDS_PER_PAGE
                        report = ocr_progress or progress
                    if report is not None:
                        report(int(msg[1]), int(msg[2]))
                elif msg[0] == "done":
                    result: ExtractedDocument = msg[1]
                    return result
                else:
                    raise ExtractionError(str(msg[1]))

    def close(self) -> None:
        """Stop the worker process."""
        with self._lock:
            if self._conn is not None and self._proc is not None and self._proc.is_alive():
                try:
                    self._conn.send(None)
                    self._proc.join(2)
                except OSError:
                    pass
            self._kill()
