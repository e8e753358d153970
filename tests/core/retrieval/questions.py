"""Every question of the retrieval benchmarks (shared/eval and bench/dev), as text."""

from __future__ import annotations

import json

from tests.conftest import REPO, SHARED_EVAL


def benchmark_questions() -> list[str]:
    files = [*SHARED_EVAL.glob("*.jsonl"), *(REPO / "bench" / "dev").glob("*.jsonl")]
    return [
        json.loads(line)["question"]
        for f in files
        for line in f.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
