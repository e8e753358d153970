"""Which files a library takes, and how PyMuPDF is told what each one is.

Besides PDF, PyMuPDF (MuPDF) reads e-books (EPUB), web pages saved as HTML,
and plain text and Markdown files: it lays them out into pages of its own
(400 × 600 points), and the same layout is used when indexing and when the
page viewer shows a citation, so "p. 12" of a text file and a passage's
character offsets point at the same text in both. Markdown and HTML headings
become the outline, as a PDF's bookmarks do (an HTML page's scripts and styles
are not text).

Office files (DOCX and the like) need PyMuPDF Pro, so they are not taken.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from pathlib import Path

# file name suffix -> PyMuPDF filetype
_SUFFIXES = {
    ".pdf": "pdf",
    ".epub": "epub",
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
}

# the names shown in messages: "Lectern reads PDF, EPUB, HTML, text and Markdown files"
READABLE = "PDF, EPUB, HTML, text and Markdown files"
# for file dialogs
DIALOG_FILTER = (
    "Documents (*.pdf *.epub *.html *.htm *.txt *.md *.markdown *.PDF *.EPUB *.HTML *.TXT *.MD);;"
    "PDF (*.pdf *.PDF);;EPUB (*.epub *.EPUB)"
)

# MuPDF lays a text file out as one long chapter, and reading each page lays out
# the chapter again: 2 MB of text took 5 s, 4 MB 29 s, 19 MB 10 min (2 cores)
MAX_TEXT_BYTES = 8 * 1024 * 1024

_FONT_SUFFIXES = {".otf", ".ttf", ".woff", ".woff2"}

_LABELS = {
    "pdf": "PDF",
    "epub": "EPUB",
    "html": "HTML file",
    "txt": "text file",
    "md": "Markdown file",
}
# files of text that MuPDF lays out as one chapter: checked for binary data and size
TEXTUAL = ("txt", "md", "html")


def document_type(path: str | os.PathLike[str]) -> str | None:
    """PyMuPDF's filetype for a file Lectern indexes, from its name; None for others."""
    return _SUFFIXES.get(Path(path).suffix.lower())


def is_document(path: str | os.PathLike[str]) -> bool:
    """Whether a file's name says it is one Lectern indexes (PDF, EPUB, HTML, text, Markdown)."""
    return document_type(path) is not None


def documents_under(root: Path) -> list[Path]:
    """The documents in a folder and its subfolders, sorted (blocking).

    Hidden files and folders (``.git``, ``.~lock.x.pdf``) are skipped, and so
    is the folder of pictures and scripts a browser saves next to a web page
    ("page_files" beside "page.html"): its bits of HTML are not documents.
    """
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        names = set(filenames)
        dirnames[:] = [
            d
            for d in dirnames
            if not d.startswith(".")
            and not (d.endswith("_files") and names & {d[:-6] + ".html", d[:-6] + ".htm"})
        ]
        found.extend(
            Path(dirpath, n) for n in filenames if not n.startswith(".") and is_document(n)
        )
    return sorted(found)


def label(filetype: str) -> str:
    """How messages name a kind of document: "PDF", "EPUB", "text file"."""
    return _LABELS.get(filetype, "document")


def sniff(path: Path, head: bytes) -> str | None:
    """The filetype of ``path``: by its name, else PDF when its bytes say so."""
    kind = document_type(path)
    if kind is None and b"%PDF-" in head:
        return "pdf"  # a PDF saved without its suffix
    return kind


def looks_like_text(head: bytes) -> bool:
    """Whether the first bytes of a file read as text (UTF-8, UTF-16, Latin-1…), not binary."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True  # UTF-16 with its byte order mark
    if b"\x00" in head:
        return False
    # a log with colours has an escape character every few words; binary data has
    # control bytes all over (random bytes: about one in eight)
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls <= len(head) // 50


def epub_problem(path: Path, head: bytes) -> str | None:
    """Why an EPUB cannot be read before MuPDF tries (not a zip, cut short, DRM); None when
    it may be."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "META-INF/encryption.xml" in names:
                enc = z.read("META-INF/encryption.xml").decode("utf-8", "replace")
                # embedded fonts are often obfuscated (the standard allows it); DRM
                # encrypts the text and pictures
                uris = re.findall(r"""URI\s*=\s*["']([^"']+)["']""", enc)
                if any(Path(u).suffix.lower() not in _FONT_SUFFIXES for u in uris):
                    return "protected by DRM (the e-book's text is encrypted)"
    except zipfile.BadZipFile:
        if head.startswith(b"PK"):  # a zip, but its directory at the end is missing
            return "damaged EPUB (the file is incomplete or corrupt)"
        return "not an EPUB file"
    except (OSError, KeyError, RuntimeError, EOFError, ValueError, zlib.error) as exc:
        return f"damaged EPUB, cannot be opened ({exc})"
    return None
