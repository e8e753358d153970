"""Retrieval metrics on a question set in the format of shared/eval.

A question counts as a *page hit* at k when one of the top-k passages comes
from a page listed in its ``pages`` of the same ``file``; an *evidence hit*
when a passage's text, whitespace collapsed, contains its ``evidence`` phrase.
MRR@10 is reported for each rule and for their union. Questions without
``pages``/``evidence`` (the unanswerable set) count towards the rejection
rate: the share the retriever declared not covered. ``false_refusals`` is the
share of answerable questions declared not covered.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UsageError
from core.types import Passage

KS = (1, 3, 5, 10)


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    file: str = ""
    pages: tuple[int, ...] = ()
    evidence: str = ""

    @property
    def answerable(self) -> bool:
        return bool(self.pages or self.evidence)


@dataclass
class QuestionResult:
    question: Question
    passages: list[Passage]
    covered: bool
    page_matches: list[bool] = field(default_factory=list)
    evidence_matches: list[bool] = field(default_factory=list)


def _norm(text: str) -> str:
    return " ".join(text.split())


def load_questions(path: str | Path) -> list[Question]:
    """Questions from a JSONL file (``id`` and ``question`` required)."""
    out = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not a text file (JSONL, one question per line).") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw: dict[str, Any] = json.loads(line)
            out.append(
                Question(
                    str(raw["id"]),
                    str(raw["question"]),
                    str(raw.get("file", "")),
                    tuple(int(p) for p in raw.get("pages", ())),
                    str(raw.get("evidence", "")),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{path}:{n}: not a question line ({exc})") from exc
    if not out:
        raise UsageError(
            f"{path} holds no questions.",
            hint='one JSON object a line, with "id" and "question"',
        )
    return out


def judge(question: Question, passages: Sequence[Passage], covered: bool) -> QuestionResult:
    """Mark which passages match the question's pages and evidence."""
    ev = _norm(question.evidence)
    pm = [p.file == question.file and p.page in question.pages for p in passages]
    em = [bool(ev) and ev in _norm(p.text) for p in passages]
    return QuestionResult(question, list(passages), covered, pm, em)


def _first(matches: Sequence[bool], k: int) -> int | None:
    return next((i for i, m in enumerate(matches[:k]) if m), None)


def metrics(results: Iterable[QuestionResult]) -> dict[str, float | int]:
    """hit@k (page, evidence, either), MRR@10 (each rule), rejection and false refusals."""
    results = list(results)
    ans = [r for r in results if r.question.answerable]
    una = [r for r in results if not r.question.answerable]
    out: dict[str, float | int] = {"answerable": len(ans), "unanswerable": len(una)}
    n = max(1, len(ans))
    rules = {
        "page": lambda r: r.page_matches,
        "evidence": lambda r: r.evidence_matches,
        "either": lambda r: [
            a or b for a, b in zip(r.page_matches, r.evidence_matches, strict=True)
        ],
    }
    for name, get in rules.items():
        for k in KS:
            out[f"{name}_hit@{k}"] = round(sum(_first(get(r), k) is not None for r in ans) / n, 4)
        mrr = 0.0
        for r in ans:
            i = _first(get(r), 10)
            mrr += 0.0 if i is None else 1.0 / (i + 1)
        out[f"{name}_mrr@10"] = round(mrr / n, 4)
    out["false_refusals"] = round(sum(not r.covered for r in ans) / n, 4)
    out["unanswerable_rejected"] = (
        round(sum(not r.covered for r in una) / len(una), 4) if una else 0.0
    )
    return out


def per_file(results: Iterable[QuestionResult]) -> dict[str, dict[str, float | int]]:
    """The same metrics for each file's questions."""
    groups: dict[str, list[QuestionResult]] = {}
    for r in results:
        if r.question.answerable:
            groups.setdefault(r.question.file, []).append(r)
    return {f: metrics(rs) for f, rs in sorted(groups.items())}


def page_ranks(results: Iterable[QuestionResult]) -> dict[str, int | None]:
    """For each answerable question, the 1-based rank of its first page hit in the top 10
    (``None``: no listed page there); comparing two runs question by question shows
    which questions moved, not only how many."""
    return {
        r.question.id: None if (i := _first(r.page_matches, 10)) is None else i + 1
        for r in results
        if r.question.answerable
    }


def intervals(
    results: Iterable[QuestionResult],
    names: Sequence[str] = ("page_hit@1", "page_mrr@10", "evidence_hit@5"),
    rounds: int = 2000,
    seed: int = 7,
) -> dict[str, tuple[float, float]]:
    """95 % bootstrap intervals of ``metrics`` over the answerable questions.

    Resamples the questions with replacement ``rounds`` times (fixed ``seed``, so a
    benchmark is repeatable). On 36 questions one question is 0.028 of hit@1 and
    the interval is about ±0.15 wide: a change of one or two questions is noise.
    """
    ans = [r for r in results if r.question.answerable]
    if not ans:
        return {}
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        m = metrics(rng.choices(ans, k=len(ans)))
        for name in names:
            samples[name].append(float(m[name]))
    out = {}
    for name, values in samples.items():
        values.sort()
        lo = values[round(0.025 * (len(values) - 1))]
        hi = values[round(0.975 * (len(values) - 1))]
        out[name] = (round(lo, 3), round(hi, 3))
    return out
