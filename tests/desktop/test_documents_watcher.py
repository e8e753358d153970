"""The polling folder watcher reports PDFs once they settle, and deletions once they stick."""

from __future__ import annotations

import os
from pathlib import Path

from core.documents.watcher import FolderWatcher, scan_folder


def _pdf(path: Path, content: bytes = b"%PDF-1.4 test") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_scan_finds_documents_recursively_and_skips_hidden_and_other_files(
    tmp_path: Path,
) -> None:
    a = _pdf(tmp_path / "a.pdf")
    b = _pdf(tmp_path / "sub" / "B.PDF")
    _pdf(tmp_path / ".hidden" / "c.pdf")
    _pdf(tmp_path / ".~lock.d.pdf")
    (tmp_path / "notes.md").write_text("# Notes")
    (tmp_path / "sub" / "book.epub").write_bytes(b"PK")
    (tmp_path / "letter.docx").write_text("x")
    (tmp_path / "model.gguf").write_text("x")
    assert set(scan_folder(tmp_path)) == {
        str(a),
        str(b),
        str(tmp_path / "notes.md"),
        str(tmp_path / "sub" / "book.epub"),
    }
    assert scan_folder(tmp_path / "missing") == {}


def test_changes_are_reported_once_settled(tmp_path: Path) -> None:
    existing = _pdf(tmp_path / "old.pdf")
    w = FolderWatcher([tmp_path])
    assert w.poll() == []  # seen once
    [change] = w.poll()  # what was there already is reported too: nobody saw it arrive
    assert change.added == (str(existing),)
    assert w.poll() == []

    new = _pdf(tmp_path / "new.pdf", b"%PDF partial")
    assert w.poll() == []  # seen once: it may still be being copied
    with new.open("ab") as fh:
        fh.write(b" more bytes")
    assert w.poll() == []  # it grew: still not settled
    [change] = w.poll()
    assert change.folder == str(tmp_path) and change.added == (str(new),)
    assert change.changed == () and change.removed == ()
    assert w.poll() == []  # reported once only

    existing.write_bytes(b"%PDF-1.4 edited and longer")
    os.utime(existing, ns=(1, 2_000_000_000))
    assert w.poll() == []
    [change] = w.poll()
    assert change.changed == (str(existing),)

    new.unlink()
    assert w.poll() == []  # gone once: it may be replaced in a moment
    [change] = w.poll()
    assert change.removed == (str(new),)


def test_removed_folder_is_no_longer_scanned(tmp_path: Path) -> None:
    w = FolderWatcher([tmp_path])
    w.poll()
    w.remove(tmp_path)
    _pdf(tmp_path / "x.pdf")
    w.poll()
    assert w.poll() == []
    assert w.folders == []
