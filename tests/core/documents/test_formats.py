"""Documents other than PDF: EPUB e-books, text and Markdown files, read through PyMuPDF."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pymupdf
import pytest

from core.documents.extraction import ExtractionError, Extractor, extract_in_process
from core.documents.formats import MAX_TEXT_BYTES, document_type, is_document, looks_like_text
from core.documents.library import expand_paths
from core.engine import Engine
from tests.conftest import docs_data_dir_with_embedder
from tests.core.documents.ebooks import drm_encryption_xml, font_obfuscation_xml, make_epub
from tests.core.documents.pdfs import FACTS, collect_index, text_pdf

FILLER = [
    f"Paragraph {i} of the orchard diary: the rows were walked and counted." for i in range(40)
]
CISTERN = "The cistern under the east courtyard holds nine thousand litres of rain water."
HEDGE = "Hedges along the north path are trimmed with shears each April, never with a machine."
PUMP = "Before its first start the pump casing is filled through the bleed valve."
COMPOST = "The compost heap behind the greenhouse is turned over every second Sunday."
GAUGE = "The brass rain gauge is read at seven every morning and the figure goes in the red book."

MARKDOWN = f"""# Garden handbook

Some words before the first section.

## Water

{CISTERN}

## Hedges

{HEDGE}
"""


@pytest.fixture(scope="module")
def extractor() -> Iterator[Extractor]:
    ex = Extractor(timeout_s=60, stall_s=30)
    yield ex
    ex.close()


@pytest.fixture
def engine(tmp_path: Path, starter_embedder: Path, docs_embedder: object) -> Iterator[Engine]:
    eng = Engine(docs_data_dir_with_embedder(tmp_path / "data", starter_embedder))
    yield eng
    eng.documents.close()


def test_which_files_are_documents() -> None:
    for name in ("a.pdf", "B.PDF", "book.epub", "page.html", "a.HTM", "notes.txt", "README.md"):
        assert is_document(name), name
    for name in ("letter.docx", "sheet.xlsx", "model.gguf", "archive.zip", "pdf"):
        assert not is_document(name), name
    assert document_type("README.MD") == "md" and document_type("a.markdown") == "md"
    assert document_type("saved.htm") == "html"
    assert looks_like_text("Café\n".encode("latin-1")) and looks_like_text("x".encode("utf-16"))
    assert not looks_like_text(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert looks_like_text(b"\x1b[32mINFO\x1b[0m server started\n" * 50)  # a coloured log
    assert not looks_like_text(bytes(range(1, 256)) * 8)  # binary, but without a NUL


def test_epub_pages_outline_and_title(extractor: Extractor, tmp_path: Path) -> None:
    book = make_epub(
        tmp_path / "orchard.epub",
        [("Spring", FILLER), ("Summer", [CISTERN])],
        title="The Orchard Diary",
    )
    doc = extractor.extract(book)
    with pymupdf.open(book, filetype="epub") as ref:
        # exactly what the page viewer will extract from the same page
        assert doc.pages == [p.get_text() for p in ref]
        assert ref.page_count > 2  # 40 paragraphs do not fit on one page
    assert doc.title == "The Orchard Diary"
    assert (doc.toc[0].title, doc.toc[0].page) == ("Spring", 1)
    summer = next(e for e in doc.toc if e.title == "Summer")
    assert CISTERN in " ".join(doc.pages[summer.page - 1].split())


def test_markdown_headings_become_the_outline(extractor: Extractor, tmp_path: Path) -> None:
    md = tmp_path / "garden.md"
    md.write_text(MARKDOWN, encoding="utf-8")
    doc = extractor.extract(md)
    assert [e.title for e in doc.toc] == ["Garden handbook", "Water", "Hedges"]
    text = " ".join(" ".join(doc.pages).split())
    assert CISTERN in text and HEDGE in text
    assert "##" not in text  # rendered, not shown as markup
    assert doc.title == "garden"  # no metadata: the file name


def test_a_saved_web_page_without_its_scripts(extractor: Extractor, tmp_path: Path) -> None:
    page = tmp_path / "pump.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>Pump manual</title>"
        "<style>p { color: red }</style><script>var secret = 'SCRIPTTEXT';</script></head>"
        f"<body><h1>Pump manual</h1><h2>Water</h2><p>{CISTERN}</p>"
        f"<h2>Hedges</h2><p>{HEDGE}</p></body></html>",
        encoding="utf-8",
    )
    doc = extractor.extract(page)
    assert doc.title == "Pump manual"
    assert [e.title for e in doc.toc] == ["Pump manual", "Water", "Hedges"]
    text = " ".join(" ".join(doc.pages).split())
    assert CISTERN in text and HEDGE in text
    assert "SCRIPTTEXT" not in text and "color" not in text


def test_text_files_in_any_common_encoding(extractor: Extractor, tmp_path: Path) -> None:
    latin = tmp_path / "latin.txt"
    latin.write_bytes(f"Crème brûlée. {GAUGE}\n".encode("latin-1"))
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes(f"Crème brûlée. {GAUGE}\n".encode("utf-16"))
    utf8 = tmp_path / "utf8.txt"
    utf8.write_text(f"Crème brûlée. {GAUGE}\n", encoding="utf-8")
    short = tmp_path / "short.txt"
    short.write_text("Ferns.\n")  # a short text is not a "scanned" page
    for f in (latin, utf16, utf8):
        assert "Crème brûlée. The brass rain gauge" in extractor.extract(f).pages[0]
    assert extractor.extract(short).pages[0].strip() == "Ferns."


def test_text_file_is_laid_out_in_pages(tmp_path: Path) -> None:
    long = tmp_path / "long.txt"
    long.write_text("\n\n".join(FILLER * 5), encoding="utf-8")
    doc = extract_in_process(str(long))
    with pymupdf.open(long, filetype="txt") as ref:
        assert doc.pages == [p.get_text() for p in ref] and len(doc.pages) > 3


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("binary.txt", lambda p: p.write_bytes(bytes(range(256)) * 8), "not a text file"),
        ("image.md", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64), "not a Markdown"),
        ("page.html", lambda p: p.write_bytes(b"\x1f\x8b\x08\x00" + b"\0" * 64), "not an HTML"),
        ("random.epub", lambda p: p.write_bytes(b"not a zip at all " * 64), "not an EPUB file"),
        ("letter.docx", lambda p: p.write_bytes(b"PK\x03\x04 word"), "not a document Lectern"),
    ],
)
def test_bad_files_get_a_clear_reason(
    extractor: Extractor, tmp_path: Path, name: str, make: object, reason: str
) -> None:
    path = tmp_path / name
    make(path)  # type: ignore[operator]
    with pytest.raises(ExtractionError) as err:
        extractor.extract(path)
    assert err.value.reason.startswith(reason), err.value.reason


def test_damaged_and_drm_epubs(extractor: Extractor, tmp_path: Path) -> None:
    good = make_epub(tmp_path / "good.epub", [("One", FILLER)], title="Good")
    cut = tmp_path / "cut.epub"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    drm = make_epub(tmp_path / "drm.epub", [("One", FILLER)], encryption_xml=drm_encryption_xml())
    fonts = make_epub(
        tmp_path / "fonts.epub", [("One", [GAUGE])], encryption_xml=font_obfuscation_xml()
    )
    reasons = {}
    for f in (cut, drm):
        with pytest.raises(ExtractionError) as err:
            extractor.extract(f)
        reasons[f.name] = err.value.reason
    assert reasons["cut.epub"].startswith("damaged EPUB")
    assert reasons["drm.epub"].startswith("protected by DRM")
    # an e-book that only obfuscates its fonts is read as usual
    assert GAUGE in " ".join(extractor.extract(fonts).pages[0].split())


def test_a_text_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "server.log.txt"
    with big.open("wb") as fh:
        fh.truncate(MAX_TEXT_BYTES + 1)  # sparse; the first bytes read as text
        fh.seek(0)
        fh.write(b"log line\n" * 1000)
    with pytest.raises(ExtractionError) as err:
        extract_in_process(str(big))
    assert err.value.reason.startswith("text file too large (8.0 MB;")


def test_a_folder_gives_its_documents_not_other_hidden_or_web_page_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "page_files").mkdir()  # what a browser saves beside page.html
    (tmp_path / "notes_files").mkdir()  # no notes.html beside it: an ordinary folder
    for name in (
        "a.pdf",
        "sub/b.epub",
        "c.TXT",
        "sub/d.md",
        "e.docx",
        ".git/f.md",
        ".g.txt",
        "page.html",
        "page_files/ad.html",
        "notes_files/n.md",
    ):
        (tmp_path / name).write_bytes(b"x")
    got = [p.relative_to(tmp_path).as_posix() for p in expand_paths([tmp_path])]
    assert got == ["a.pdf", "c.TXT", "notes_files/n.md", "page.html", "sub/b.epub", "sub/d.md"]


async def test_a_library_of_mixed_documents_is_searched_and_cited_by_page(
    engine: Engine, tmp_path: Path
) -> None:
    src = tmp_path / "garden"
    src.mkdir()
    text_pdf(src / "plant.pdf", FACTS, title="Plant handbook")
    make_epub(src / "diary.epub", [("Spring", FILLER), ("Summer", [GAUGE])], title="Diary")
    (src / "handbook.md").write_text(MARKDOWN, encoding="utf-8")
    (src / "notes.txt").write_text("\n\n".join([*FILLER, COMPOST]))
    (src / "letter.docx").write_bytes(b"PK\x03\x04 not read")
    shutil.copy(src / "handbook.md", src / "handbook copy.markdown")  # same bytes: stored once
    (src / "pump.htm").write_text(
        f"<html><head><title>Pump</title></head><body><p>{PUMP}</p></body></html>"
    )

    _statuses, summary = await collect_index(engine, [src], "garden")

    names = sorted(Path(p).name for p in summary.indexed)
    assert names == [
        "diary.epub",
        "handbook copy.markdown",
        "handbook.md",
        "notes.txt",
        "plant.pdf",
        "pump.htm",
    ]
    assert not summary.failed  # the .docx in the folder is not taken at all

    hits = await engine.search("When is the rain gauge read?", "garden", k=3)
    assert isinstance(hits, list)
    top = hits[0]
    assert top.file == "diary.epub"
    with pymupdf.open(top.path, filetype="epub") as ref:
        page_text = ref[top.page - 1].get_text()
    # the cited page is the e-book page the viewer shows, and the offsets point into it
    assert "rain gauge is read at seven" in page_text
    assert page_text[top.char_start : top.char_end].strip()
    assert "rain gauge" in " ".join(page_text[top.char_start : top.char_end].split())

    hedge = await engine.search("How are the hedges trimmed?", "garden", k=3)
    assert isinstance(hedge, list) and hedge[0].file in ("handbook.md", "handbook copy.markdown")
    assert "shears each April" in " ".join(hedge[0].text.split())

    compost = await engine.search("How often is the compost heap turned?", "garden", k=3)
    assert compost[0].file == "notes.txt" and compost[0].page > 1  # the text's last page
    with pymupdf.open(compost[0].path, filetype="txt") as ref:
        assert COMPOST in " ".join(ref[compost[0].page - 1].get_text().split())

    pump = await engine.search("How do I fill the pump before starting it?", "garden", k=1)
    assert pump[0].file == "pump.htm" and PUMP in " ".join(pump[0].text.split())

    records = {r.file: r for r in await engine.list_documents("garden")}
    assert records["notes.txt"].state == "ready" and records["notes.txt"].pages > 1
