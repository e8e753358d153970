"""The document commands as a user runs them: real ``lectern`` processes, JSON per SPEC §2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, SHARED_EVAL, docs_data_dir_with_embedder
from tests.core.documents.pdfs import FACTS, text_pdf


def _lectern(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop.launcher", "--data-dir", str(data), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_search_and_eval_json(ubuntu_library: Path, tmp_path: Path) -> None:
    res = _lectern(
        ubuntu_library, "search", "pull-lp-source", "--library", "eval", "-k", "3", "--json"
    )
    assert res.returncode == 0, res.stderr
    hits = json.loads(res.stdout)
    assert len(hits) == 3
    assert set(hits[0]) == {"file", "page", "text", "score"}
    assert any("pull-lp-source" in h["text"] for h in hits)

    qa = tmp_path / "qa.jsonl"
    lines = [ln for ln in (SHARED_EVAL / "qa.jsonl").read_text().splitlines() if "upg-" in ln]
    qa.write_text(
        "\n".join(lines[:4] + (SHARED_EVAL / "unanswerable.jsonl").read_text().splitlines()[:2])
        + "\n"
    )
    res = _lectern(ubuntu_library, "eval", str(qa), "--library", "eval", "-k", "5", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["metrics"]["answerable"] == 4 and out["metrics"]["unanswerable"] == 2
    assert 0.0 <= out["metrics"]["page_hit@5"] <= 1.0
    lo, hi = out["interval_95"]["page_hit@1"]
    assert lo <= out["metrics"]["page_hit@1"] <= hi
    assert [r["id"] for r in out["results"]] == [
        "upg-01",
        "upg-02",
        "upg-03",
        "upg-04",
        "none-01",
        "none-02",
    ]
    assert all(len(r["hits"]) == 5 for r in out["results"])
    assert out["searched_for"] == {}  # no word of these questions is taken for a typo
    # the cross-encoder ordered the passages of every question the library covers, and only
    # those (the answerable ones are; a refused one is not re-ranked: no model reads it)
    covered = [r["id"] for r in out["results"] if r["covered"]]
    assert {"upg-01", "upg-02", "upg-03", "upg-04"} <= set(covered)
    assert out["reranked"] == len(covered)
    assert out["reranker"] == "starter:ms-marco-MiniLM-L-12-v2"
    # it read an answer for most of them, so their passages stay in its order
    assert len(covered) // 2 < out["reranker_order"] <= out["reranked"]


def test_index_list_remove(tmp_path: Path, starter_embedder: Path) -> None:
    data = docs_data_dir_with_embedder(tmp_path / "data", starter_embedder)
    good = text_pdf(tmp_path / "good.pdf", FACTS)
    bad = tmp_path / "empty.pdf"
    bad.write_bytes(b"")
    res = _lectern(data, "index", str(good), str(bad), "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {
        "indexed": [str(good)],
        "unchanged": [],
        "failed": [{"file": str(bad), "reason": "empty file (0 bytes)"}],
    }
    assert "good.pdf: ready" in res.stderr  # progress goes to stderr

    res = _lectern(data, "docs", "list", "--json")
    states = {d["file"]: d["state"] for d in json.loads(res.stdout)}
    assert states == {"good.pdf": "ready", "empty.pdf": "failed"}

    assert _lectern(data, "docs", "remove", "good.pdf").returncode == 0
    res = _lectern(data, "docs", "remove", "good.pdf")
    assert res.returncode == 1 and "No document" in res.stderr and "Traceback" not in res.stderr
    res = _lectern(data, "search", "anything", "--library", "nope")
    assert res.returncode == 1 and "no library named 'nope'" in res.stderr


def test_a_mistyped_path_or_an_empty_folder_is_reported_and_stored_nowhere(
    tmp_path: Path, starter_embedder: Path
) -> None:
    # a mistyped path became a failed document, and made its library
    data = docs_data_dir_with_embedder(tmp_path / "data", starter_embedder)
    missing = tmp_path / "nope.pdf"
    res = _lectern(data, "index", str(missing), "--library", "typo", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["failed"] == [{"file": str(missing), "reason": "file not found"}]
    (tmp_path / "empty").mkdir()
    res = _lectern(data, "index", str(tmp_path / "empty"), "--library", "typo")
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip().endswith(
        f"No PDF, EPUB, HTML, text or Markdown files found in {tmp_path / 'empty'}."
    )
    res = _lectern(data, "docs", "libraries")
    assert res.stdout == "" and "No libraries yet" in res.stderr
    log = (data / "logs" / "lectern.log").read_text(encoding="utf-8")
    assert f"library 'typo': {missing} failed: file not found" in log

    good = text_pdf(tmp_path / "good.pdf", FACTS)
    res = _lectern(data, "index", str(good), str(missing), "--library", "typo", "--json")
    assert json.loads(res.stdout)["failed"] == [{"file": str(missing), "reason": "file not found"}]
    res = _lectern(data, "docs", "list", "--library", "typo", "--json")
    assert [d["file"] for d in json.loads(res.stdout)] == ["good.pdf"]
    assert _lectern(data, "docs", "libraries").stdout.startswith("typo: 1 document, ")

    # a document whose file is gone says so when it is indexed again
    good.unlink()
    res = _lectern(data, "index", str(good), "--library", "typo", "--json")
    assert json.loads(res.stdout)["failed"] == [{"file": str(good), "reason": "file not found"}]
    res = _lectern(data, "docs", "list", "--library", "typo", "--json")
    assert [(d["file"], d["state"]) for d in json.loads(res.stdout)] == [("good.pdf", "failed")]


def test_ask_that_the_library_does_not_cover_says_no_model_ran(ubuntu_library: Path) -> None:
    res = _lectern(
        ubuntu_library, "ask", "What is the best temperature for baking sourdough bread?",
        "--library", "eval",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "do not seem to cover" in res.stdout
    # no zero timings for an answer no model wrote
    assert res.stderr.strip().splitlines()[-1] == (
        "no model ran: nothing in the library was relevant enough"
    )


def test_ask_says_what_it_searched_for_when_it_corrected_a_word(ubuntu_library: Path) -> None:
    # "pacakge" is corrected; the question stays refused, as the guide never says snapcraft
    res = _lectern(
        ubuntu_library, "ask", "How do I publish a snapcraft pacakge?", "--library", "eval",
        "--json",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert "do not seem to cover" in out["answer"] and out["sources"] == []
    assert out["searched_for"] == "How do I publish a snapcraft package?"


def test_two_documents_of_the_same_name_are_told_apart(
    tmp_path: Path, starter_embedder: Path
) -> None:
    data = docs_data_dir_with_embedder(tmp_path / "data", starter_embedder)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = text_pdf(tmp_path / "a" / "notes.pdf", FACTS)
    second = text_pdf(tmp_path / "b" / "notes.pdf", FACTS[:2])
    assert _lectern(data, "index", str(first), str(second)).returncode == 0
    # the list said "notes.pdf" twice
    listed = _lectern(data, "docs", "list").stdout.splitlines()
    assert [line.split()[-1] for line in listed] == [str(first), str(second)]
    res = _lectern(data, "docs", "remove", "notes.pdf")
    assert res.returncode == 2
    assert res.stderr.strip() == (
        "lectern: error: Several documents are called 'notes.pdf'. "
        f"(give the full path: {first}, {second})"
    )
    assert _lectern(data, "docs", "remove", str(first)).returncode == 0
    assert _lectern(data, "docs", "list").stdout.split()[-1] == "notes.pdf"
