"""Libraries end to end through the engine: a batch of bad files, duplicates, changes, removal."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.documents.store import LibraryStore
from core.engine import Engine
from core.errors import (
    DocumentError,
    LibraryDamagedError,
    LibraryLockedError,
    LibraryNotFoundError,
)
from tests.conftest import docs_data_dir_with_embedder
from tests.core.documents.pdfs import (
    FACTS,
    collect_index,
    encrypted_pdf,
    image_only_pdf,
    many_pages_pdf,
    random_bytes_pdf,
    scanned_pdf,
    text_pdf,
    truncated_pdf,
)

LONG_NAME = "Ünïcødé — 説明書 " + "long" * 46 + ".pdf"  # 200 characters


@pytest.fixture
def engine(tmp_path: Path, starter_embedder: Path, docs_embedder: object) -> Iterator[Engine]:
    eng = Engine(docs_data_dir_with_embedder(tmp_path / "data", starter_embedder))
    yield eng
    eng.documents.close()  # the extraction worker and the open stores


async def test_a_scanned_pdf_is_read_by_ocr_and_found(engine: Engine, tmp_path: Path) -> None:
    scan = scanned_pdf(tmp_path / "scan.pdf", FACTS)
    statuses, summary = await collect_index(engine, [scan], "scans")
    assert summary.indexed == [str(scan)]
    ocr = [(ev.done, ev.total) for ev in statuses if ev.ocr]
    assert ocr[0] == (0, 3) and ocr[-1] == (3, 3)  # each page read by OCR, counted as such
    hits = await engine.search("Which cleaner must never be used on a quindle valve?", "scans")
    assert (hits[0].file, hits[0].page) == ("scan.pdf", 2)
    assert "Never use bleach on a quindle valve" in " ".join(hits[0].text.split())


def _counts_agree(store: LibraryStore) -> dict[str, int]:
    c = store.counts()
    assert c["chunks"] == c["fts"] == c["vectors"] == c["journal_chunks"], c
    return c


async def test_a_batch_of_bad_files_each_gets_its_status_and_the_rest_index(
    engine: Engine, tmp_path: Path
) -> None:
    src = tmp_path / "corpus"
    src.mkdir()
    good = text_pdf(src / "good.pdf", FACTS, title="Plant handbook", toc=True)
    shutil.copy(good, src / "copy of good.pdf")  # same content, second name
    text_pdf(src / LONG_NAME, ["Das Kühlwasser der Zentrifuge wird jeden Montag gewechselt."])
    (src / "zero.pdf").write_bytes(b"")
    truncated_pdf(src / "truncated.pdf", good, keep=0.35)
    random_bytes_pdf(src / "random.pdf")
    encrypted_pdf(src / "locked.pdf")
    image_only_pdf(src / "scanned.pdf")
    many_pages_pdf(src / "register.pdf", 3000)
    (src / "notes.docx").write_text("not a document Lectern reads: not picked up from a folder")

    statuses, summary = await collect_index(engine, [src], "bad")

    failed = dict(summary.failed)
    names = {Path(p).name: r for p, r in failed.items()}
    assert names["zero.pdf"] == "empty file (0 bytes)"
    assert names["random.pdf"] == "not a PDF file"
    assert "password required" in names["locked.pdf"]
    assert "no text layer (scanned?)" in names["scanned.pdf"]
    indexed = {Path(p).name for p in summary.indexed}
    assert {"good.pdf", "copy of good.pdf", LONG_NAME, "register.pdf"} <= indexed
    assert len(summary.indexed) == len(set(summary.indexed))  # the copy is counted once
    # a truncated file is either repaired (indexed) or failed with a reason, never lost
    assert ("truncated.pdf" in indexed) != ("truncated.pdf" in names)
    assert "notes.docx" not in indexed | set(names)
    # every file went through queued → ... → ready/failed, in that order
    by_file: dict[str, list[str]] = {}
    for ev in statuses:
        by_file.setdefault(ev.file, []).append(ev.state)
    assert by_file["good.pdf"][0] == "queued" and by_file["good.pdf"][-1] == "ready"
    assert by_file["zero.pdf"][-1] == "failed"

    docs = {d.file: d for d in await engine.list_documents("bad")}
    assert docs["register.pdf"].pages == 3000 and docs["register.pdf"].state == "ready"
    assert docs["good.pdf"].sha256 == docs["copy of good.pdf"].sha256
    assert docs["scanned.pdf"].state == "failed" and docs["scanned.pdf"].reason

    store = engine.documents.manager.store("bad")
    counts = _counts_agree(store)
    # the duplicate is stored once: chunks of good.pdf exist under one sha only
    sha = docs["good.pdf"].sha256
    assert store.query("SELECT count(DISTINCT sha) FROM chunks WHERE sha=?", (sha,))[0][0] == 1
    assert counts["contents"] == len({d.sha256 for d in docs.values() if d.state == "ready"})

    hits = await engine.search("How long does the Zorblax calibration run?", "bad", k=3)
    # MuPDF may repair the truncated copy's first page (its other pages are then OCRed)
    same_page = {"good.pdf", "copy of good.pdf"} | ({"truncated.pdf"} & indexed)
    assert hits[0].file in same_page and hits[0].page == 1
    assert "seventeen minutes" in hits[0].text
    hits = await engine.search("Kühlwasser Zentrifuge Montag", "bad", k=3)
    assert hits[0].file == LONG_NAME

    # the same batch again: nothing re-indexed, failures reported again
    _, again = await collect_index(engine, [src], "bad")
    assert {Path(p).name for p in again.unchanged} >= indexed
    assert not again.indexed
    assert _counts_agree(store) == counts


async def test_changed_file_is_reindexed_and_removal_drops_its_chunks(
    engine: Engine, tmp_path: Path
) -> None:
    pdf = text_pdf(tmp_path / "manual.pdf", FACTS[:2])
    await collect_index(engine, [pdf])
    store = engine.documents.manager.store("default")
    first = _counts_agree(store)

    text_pdf(pdf, FACTS[2:])  # new content, same name
    _, summary = await collect_index(engine, [pdf])
    assert summary.indexed == [str(pdf)]
    hits = await engine.search("Where do requests for old invoices go?", k=2)
    assert "archive clerk" in hits[0].text
    assert all("Quindle" not in h.text for h in hits)  # old content is gone
    assert store.counts()["contents"] == 1
    _counts_agree(store)

    await engine.remove_document("manual.pdf")
    after = _counts_agree(store)
    assert after["chunks"] == 0 and after["documents"] == 0 and first["chunks"] > 0
    with pytest.raises(DocumentError):
        await engine.remove_document("manual.pdf")


async def test_small_document_next_to_a_big_one_is_found(engine: Engine, tmp_path: Path) -> None:
    big = text_pdf(
        tmp_path / "big.pdf",
        [
            f"Chapter {i}. " + " ".join(["General remarks about office furniture."] * 30)
            for i in range(40)
        ],
    )
    small = text_pdf(tmp_path / "small.pdf", [FACTS[1]])
    await collect_index(engine, [big, small])
    hits = await engine.search("cleaning quindle valves", k=5)
    assert hits[0].file == "small.pdf"


async def test_libraries_create_rename_delete_and_embedder_change(
    engine: Engine, tmp_path: Path
) -> None:
    await engine.create_library("Work")
    await collect_index(engine, [text_pdf(tmp_path / "a.pdf", FACTS[:1])], "Work")
    libs = {lib.name: lib for lib in await engine.list_libraries()}
    assert libs["Work"].documents == 1 and libs["Work"].chunks >= 1
    assert libs["Work"].embedder == "all-MiniLM-L6-v2" and not libs["Work"].needs_reindex

    await engine.rename_library("Work", "Archive")
    assert [h.file for h in await engine.search("Zorblax", "Archive", k=1)] == ["a.pdf"]
    with pytest.raises(LibraryNotFoundError):
        await engine.search("Zorblax", "Work")

    # Another embedder recorded for the library: it must ask for a re-index, not mix.
    meta_file = engine.documents.manager.folder("Archive") / "library.json"
    meta = json.loads(meta_file.read_text())
    meta["embedder"]["fingerprint"] = "another-model"
    meta_file.write_text(json.dumps(meta))
    engine.documents.manager.close_store("Archive")
    assert (await engine.list_libraries())[0].needs_reindex
    with pytest.raises(DocumentError, match="another embedding model"):
        await engine.search("Zorblax", "Archive")
    # Re-indexing one document after an embedder change re-indexes the whole library.
    async for _ in engine.reindex("Archive", "a.pdf"):
        pass
    assert not (await engine.list_libraries())[0].needs_reindex
    assert (await engine.search("Zorblax", "Archive", k=1))[0].file == "a.pdf"

    await engine.delete_library("Archive")
    assert await engine.list_libraries() == []


async def test_a_library_has_one_writer(engine: Engine, tmp_path: Path) -> None:
    await collect_index(engine, [text_pdf(tmp_path / "a.pdf", FACTS[:1])])
    other = LibraryStore(engine.documents.manager.folder("default"))
    other.take_ownership()
    try:
        with pytest.raises(LibraryLockedError):
            await collect_index(engine, [text_pdf(tmp_path / "b.pdf", FACTS[1:2])])
    finally:
        other.release_ownership()
        other.close()
    _, summary = await collect_index(engine, [tmp_path / "b.pdf"])
    assert summary.indexed == [str(tmp_path / "b.pdf")]


@pytest.mark.parametrize("damage", ["library.json", "index.sqlite3", "library.json{}"])
async def test_a_damaged_library_is_listed_as_such_and_can_be_deleted(
    engine: Engine, damage: str
) -> None:
    # one unreadable library failed every listing with a traceback (the others with it)
    # and could not be deleted
    await engine.create_library("good")
    await engine.create_library("broken")
    garbage = {
        "library.json": b"{",  # not JSON
        "library.json{}": b"{}",  # JSON without the embedder every search needs
        "index.sqlite3": b"SQLite format 3\x00" + b"\x07" * 4000,
    }[damage]
    damage = damage.removesuffix("{}")
    (engine.paths.libraries_dir / "broken" / damage).write_bytes(garbage)
    engine.documents.manager.close()  # as a new process would open it

    libs = {lib.name: lib for lib in await engine.list_libraries()}
    assert libs["good"].damaged == ""
    assert libs["broken"].damaged.startswith(damage)
    with pytest.raises(LibraryDamagedError) as err:
        await engine.search("anything", "broken")
    assert err.value.message.startswith("The library 'broken' is damaged: " + damage)
    assert "index its PDFs again" in err.value.hint

    await engine.delete_library("broken")
    assert [lib.name for lib in await engine.list_libraries()] == ["good"]
    assert not (engine.paths.libraries_dir / "broken").exists()


async def test_a_damaged_vector_index_says_so_and_the_library_can_be_deleted(
    tmp_path: Path, starter_embedder: Path, docs_embedder: object
) -> None:
    # it said "The indexing process could not do this. (InternalError: ...)"
    data = docs_data_dir_with_embedder(tmp_path / "data", starter_embedder)
    engine = Engine(data)
    await collect_index(engine, [text_pdf(tmp_path / "facts.pdf", FACTS)], "broken")
    await engine.close()
    (data / "libraries" / "broken" / "chroma" / "chroma.sqlite3").write_bytes(b"junk\n")
    engine = Engine(data)
    try:
        with pytest.raises(LibraryDamagedError) as err:
            await engine.search("quindle valve", "broken")
        assert err.value.message.startswith(
            "The library 'broken' is damaged: its vector index cannot be read (InternalError: "
        )
        await engine.delete_library("broken")
        assert await engine.list_libraries() == []
    finally:
        await engine.close()
