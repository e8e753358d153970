"""Generators of real PDF files (good and bad) for the document tests, made with PyMuPDF."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pymupdf


def text_pdf(path: Path, pages: Sequence[str], title: str = "", toc: bool = False) -> Path:
    """A PDF with one text page per entry (wrapped into the page's text box)."""
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page(width=595, height=842)
        rect = pymupdf.Rect(50, 50, 545, 792)
        page.insert_textbox(rect, text, fontsize=10)
    if title:
        doc.set_metadata({"title": title})
    if toc:
        doc.set_toc([[1, f"Section {i + 1}", i + 1] for i in range(len(pages))])
    doc.save(path)
    doc.close()
    return path


def many_pages_pdf(path: Path, n: int) -> Path:
    """A PDF with ``n`` pages of a few words each, fast to write and to index."""
    doc = pymupdf.open()
    for i in range(n):
        page = doc.new_page(width=200, height=100)
        page.insert_text((10, 50), f"Sheet {i + 1} of the long register")
    doc.save(path, garbage=0, deflate=False)
    doc.close()
    return path


def encrypted_pdf(path: Path) -> Path:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Secret minutes of the committee meeting.")
    doc.save(
        path,
        encryption=pymupdf.PDF_ENCRYPT_AES_256,
        owner_pw="owner-secret",
        user_pw="user-secret",
    )
    doc.close()
    return path


def image_only_pdf(path: Path, pages: int = 2) -> Path:
    """A 'scanned' PDF: pages with a picture and no text layer."""
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 64, 64), False)
    pix.clear_with(200)
    doc = pymupdf.open()
    for _ in range(pages):
        page = doc.new_page()
        page.insert_image(pymupdf.Rect(72, 72, 300, 300), pixmap=pix)
    doc.save(path)
    doc.close()
    return path


def scanned_pdf(path: Path, pages: Sequence[str]) -> Path:
    """A scan of a text PDF: each page is a 200-dpi greyscale picture of its text, with no
    text layer (what a document scanner produces)."""
    source = text_pdf(path.with_name(path.stem + "-source.pdf"), pages)
    with pymupdf.open(source) as src, pymupdf.open() as out:
        for page in src:
            pix = page.get_pixmap(dpi=200, colorspace=pymupdf.csGRAY)
            scan = out.new_page(width=page.rect.width, height=page.rect.height)
            scan.insert_image(scan.rect, pixmap=pix)
        out.save(path)
    source.unlink()
    return path


def truncated_pdf(path: Path, source: Path, keep: float = 0.4) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def random_bytes_pdf(path: Path, size: int = 4096) -> Path:
    path.write_bytes(os.urandom(size))
    return path


# Paragraphs about made-up subjects, so a search can only find them in these files.
FACTS = [
    "The Zorblax calibration routine must run for exactly seventeen minutes before the "
    "turbine is started. Operators record the result in the blue logbook.",
    "Quindle valves are cleaned with warm vinegar every second Tuesday. Never use bleach on "
    "a quindle valve, because it dissolves the brass seal.",
    "The Marplot archive keeps every invoice for eleven years. Requests for old invoices go "
    "to the archive clerk on the third floor.",
]


async def collect_index(engine, paths, library="default"):  # type: ignore[no-untyped-def]
    """Run ``engine.index`` to the end: (status events, summary)."""
    from core.documents.events import DocumentStatus, IndexSummary
    from core.events import Failed

    statuses: list[DocumentStatus] = []
    summary = None
    async for ev in engine.index(paths, library):
        if isinstance(ev, Failed):
            raise ev.error
        if isinstance(ev, DocumentStatus):
            statuses.append(ev)
        elif isinstance(ev, IndexSummary):
            summary = ev
    assert summary is not None
    return statuses, summary
