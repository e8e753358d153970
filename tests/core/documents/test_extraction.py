"""PDF extraction in the worker process: good files, every kind of bad file, hangs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pymupdf
import pytest

from core.documents.extraction import (
    HANG_ENV,
    ExtractionError,
    Extractor,
    extract_in_process,
    tesseract_available,
)
from core.priority import BACKGROUND_NICE
from tests.conftest import SHARED_EVAL
from tests.core.documents.pdfs import (
    FACTS,
    encrypted_pdf,
    image_only_pdf,
    random_bytes_pdf,
    scanned_pdf,
    text_pdf,
    truncated_pdf,
)

UBUNTU = SHARED_EVAL / "pdfs" / "ubuntu-packaging-guide.pdf"


@pytest.fixture(scope="module")
def extractor() -> Iterator[Extractor]:
    ex = Extractor(timeout_s=60, stall_s=30)
    yield ex
    ex.close()


def test_pages_are_exactly_pymupdf_get_text(extractor: Extractor) -> None:
    doc = extractor.extract(UBUNTU)
    with pymupdf.open(UBUNTU) as ref:
        assert doc.pages == [p.get_text() for p in ref]
        assert len(doc.pages) == ref.page_count == 51
    assert doc.title  # from the metadata, or the file name
    assert doc.toc and all(1 <= e.page <= 51 for e in doc.toc)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX niceness")
def test_the_worker_runs_at_background_priority(extractor: Extractor, tmp_path: Path) -> None:
    extractor.extract(text_pdf(tmp_path / "a.pdf", FACTS))
    assert extractor._proc is not None
    assert psutil.Process(extractor._proc.pid).nice() >= max(
        BACKGROUND_NICE, psutil.Process().nice()
    )


def test_progress_is_reported_and_title_falls_back_to_file_name(
    extractor: Extractor, tmp_path: Path
) -> None:
    pdf = text_pdf(tmp_path / "plain notes.pdf", FACTS)
    seen: list[tuple[int, int]] = []
    doc = extractor.extract(pdf, lambda d, t: seen.append((d, t)))
    assert doc.title == "plain notes"
    assert seen[-1] == (3, 3)
    assert "Zorblax" in doc.pages[0]


@pytest.mark.parametrize(
    ("maker", "reason"),
    [
        (lambda p: (p.write_bytes(b""), p)[1], "empty file (0 bytes)"),
        (random_bytes_pdf, "not a PDF file"),
        (encrypted_pdf, "password required"),
    ],
    ids=["zero-bytes", "random-bytes", "encrypted"],
)
def test_bad_files_fail_with_a_clear_reason(
    extractor: Extractor, tmp_path: Path, maker: object, reason: str
) -> None:
    path = maker(tmp_path / "bad.pdf")  # type: ignore[operator]
    with pytest.raises(ExtractionError) as err:
        extractor.extract(path)
    assert reason in err.value.reason


def test_pdf_header_with_garbage_is_damaged(extractor: Extractor, tmp_path: Path) -> None:
    path = tmp_path / "fake.pdf"
    path.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 200)
    with pytest.raises(ExtractionError) as err:
        extractor.extract(path)
    assert "damaged" in err.value.reason


def test_truncated_pdf_fails_or_keeps_what_is_readable(
    extractor: Extractor, tmp_path: Path
) -> None:
    path = truncated_pdf(tmp_path / "cut.pdf", UBUNTU, keep=0.3)
    try:
        doc = extractor.extract(path)
    except ExtractionError as exc:
        assert "damaged" in exc.reason or "no text layer" in exc.reason
    else:  # MuPDF repaired it: whatever it returns must be real page text
        assert 0 < len(doc.pages) <= 51


def test_image_only_pdf_is_reported_as_scanned(tmp_path: Path) -> None:
    path = scanned_pdf(tmp_path / "scan.pdf", FACTS[:2])
    # without Tesseract (as on a machine that lacks it)
    with pytest.raises(ExtractionError) as err:
        extract_in_process(str(path), ocr=False)
    assert err.value.reason == (
        "no text layer (scanned?); install Tesseract to have it read by OCR"
    )
    # pictures with no words in them: OCR finds nothing
    blank = image_only_pdf(tmp_path / "blank.pdf")
    with pytest.raises(ExtractionError) as err:
        extract_in_process(str(blank), ocr=True)
    assert err.value.reason == "no text layer (scanned?) and OCR found no text"


def test_a_scanned_pdf_is_read_by_ocr(tmp_path: Path) -> None:
    # make setup installs Tesseract (tesseract-ocr) where apt-get can
    assert tesseract_available(), (
        "Tesseract is missing: make setup installs tesseract-ocr with apt-get (elsewhere: "
        "brew install tesseract, or the installer from github.com/UB-Mannheim/tesseract)"
    )
    pages = [*FACTS, *FACTS]  # six pages
    path = scanned_pdf(tmp_path / "scan.pdf", pages)
    # every page read by OCR, one at a time; the worker's time limit grows with them:
    # 0.5 s is far less than six pages of OCR take, and it used to end the document
    seen: list[tuple[int, int]] = []
    ex = Extractor(timeout_s=60, stall_s=60)
    try:
        ex.extract(text_pdf(tmp_path / "warm.pdf", FACTS[:1]))  # the worker is up
        ex.timeout_s = 0.5
        doc = ex.extract(path, lambda done, total: seen.append((done, total)))
    finally:
        ex.close()
    assert doc.ocr_pages == 6
    ocr_run = [(n, 6) for n in range(7)]  # 0 of 6 as OCR starts, then page by page
    start = seen.index((0, 6))
    assert seen[start : start + 7] == ocr_run
    words = lambda text: " ".join(text.split())  # noqa: E731 - OCR breaks lines its own way
    for page, fact in zip(doc.pages, pages, strict=True):
        assert words(fact) in words(page)


def test_a_scanned_page_inside_a_text_document_is_read_by_ocr(tmp_path: Path) -> None:
    assert tesseract_available(), "Tesseract is missing: make setup installs tesseract-ocr"
    # three text pages, a blank page, and a scanned page (a signed form, say)
    path = text_pdf(tmp_path / "report.pdf", [FACTS[0], FACTS[1], FACTS[0]])
    scan = scanned_pdf(tmp_path / "form.pdf", [FACTS[2]])
    with pymupdf.open(path) as doc, pymupdf.open(scan) as form:
        doc.new_page(width=595, height=842)
        doc.insert_pdf(form)
        doc.saveIncr()
    seen: list[tuple[int, int]] = []
    doc = extract_in_process(str(path), ocr_progress=lambda d, t: seen.append((d, t)))
    assert doc.ocr_pages == 1 and seen == [(0, 1), (1, 1)]  # the blank page costs no OCR
    assert " ".join(FACTS[2].split()) in " ".join(doc.pages[4].split())
    assert doc.pages[3].strip() == ""
    assert extract_in_process(str(path), ocr=False).pages[4].strip() == ""  # no Tesseract


def test_in_process_extraction_matches(tmp_path: Path) -> None:
    pdf = text_pdf(tmp_path / "a.pdf", FACTS[:1])
    assert "Zorblax" in extract_in_process(str(pdf)).pages[0]


def test_a_hanging_document_is_killed_and_the_worker_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HANG_ENV, "hangs")  # the spawned worker inherits it
    ex = Extractor(timeout_s=4, stall_s=4)
    try:
        with pytest.raises(ExtractionError) as err:
            ex.extract(text_pdf(tmp_path / "this-hangs.pdf", FACTS[:1]))
        assert "timed out" in err.value.reason
        # the next document gets a fresh worker
        assert "Quindle" in ex.extract(text_pdf(tmp_path / "fine.pdf", FACTS[1:2])).pages[0]
    finally:
        ex.close()
