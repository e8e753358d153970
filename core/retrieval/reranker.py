"""Re-ranking with a cross-encoder: the question and a passage read together.

A bi-encoder (the embedder) compares two vectors made separately; a
cross-encoder reads "question [SEP] passage" in one pass and scores how well
the passage answers. It is far slower (one model run per passage), so it only
re-orders the best candidates of hybrid search. The starter model is
ms-marco-MiniLM-L-12-v2 as INT8 ONNX (see :mod:`core.models.starter`), run
with onnxruntime and the model's own ``tokenizer.json``; another ONNX
cross-encoder can be downloaded and chosen (:mod:`core.models.rerankers`).

The model runs in the index worker process (:mod:`core.documents.index_worker`),
like the embedder: onnxruntime is never imported by the application process.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.documents.embedder import physical_cores
from core.errors import DocumentError
from core.executors import executor

# Question and passage together, in the model's tokens. Chunks are at most ~200
# embedder tokens (the same uncased BERT vocabulary); longer input is cut from the
# longer of the two.
MAX_TOKENS = 320


class Reranker(Protocol):
    """What search uses of a cross-encoder."""

    def scores(self, query: str, texts: Sequence[str]) -> list[float]: ...


# A sentence of fewer words than this is not read on its own ("Why?", "Thanks.").
_MIN_SENTENCE_WORDS = 3
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


def question_sentences(question: str) -> list[str]:
    """The sentences of a question that has several ("My exam won't compile because LaTeX
    ran out of token registers. What is the suggested fix?"), else an empty list.

    The cross-encoder was trained on short one-sentence queries: for a question with a
    sentence of context before the ask, the ask alone often reads the answering passage
    better than the whole question does.
    """
    sentences = [s.strip() for s in _SENTENCE_END.split(" ".join(question.split()))]
    sentences = [s for s in sentences if len(s.split()) >= _MIN_SENTENCE_WORDS]
    return sentences if len(sentences) > 1 else []


def probability(logit: float) -> float:
    """The model's logit as a 0-1 relevance (the logistic function)."""
    if logit < -60:
        return 0.0
    return 1.0 / (1.0 + math.exp(-logit))


class CrossEncoder:
    """An ONNX cross-encoder in ``folder`` (``model.onnx`` and ``tokenizer.json``)."""

    def __init__(self, folder: str | os.PathLike[str], threads: int | None = None) -> None:
        folder = Path(folder)
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            # One thread per run; ``threads`` runs side by side (see :meth:`scores`).
            self._parallel = threads or _threads()
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            self._session: Any = ort.InferenceSession(
                str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
            self._tokenizer: Any = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:
            raise DocumentError(
                f"The re-ranking model in {folder} could not be loaded.",
                hint="turn re-ranking off in Settings → Documents, or reinstall Lectern",
            ) from exc
        self._tokenizer.enable_truncation(MAX_TOKENS, strategy="longest_first")
        self._tokenizer.no_padding()  # one pair per run: nothing to pad
        self._inputs = {i.name for i in self._session.get_inputs()}

    def scores(self, query: str, texts: Sequence[str]) -> list[float]:
        """One logit per text (higher: answers the query better).

        Each pair is run on its own. The INT8 model quantises its activations with one
        scale per tensor, so in a batch a passage's score would depend on the passages
        next to it (by up to a whole logit, measured on shared/eval): alone, a passage
        always gets the same score for a question. The pairs run side by side, one
        thread each: for 30 chunks on 2 cores p50 0.61 s, p95 0.70 s, against 1.03 s /
        1.16 s as one batch on two threads.
        """
        encoded = self._tokenizer.encode_batch([(query, t) for t in texts])
        if len(encoded) <= 1 or self._parallel == 1:
            return [self._one(e) for e in encoded]
        pool = executor(f"rerank-{self._parallel}", self._parallel)  # one pool per width
        return list(pool.map(self._one, encoded))

    def _one(self, enc: Any) -> float:
        feed = {
            "input_ids": np.array([enc.ids], dtype=np.int64),
            "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([enc.type_ids], dtype=np.int64),
        }
        out = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})
        return relevance_logit(np.asarray(out[0]).reshape(-1))


def relevance_logit(values: np.ndarray) -> float:
    """A pair's relevance logit from the model's output: its one logit, or for a model
    with two classes (not relevant, relevant) the log-odds of the second."""
    if values.size == 1:
        return float(values[0])
    if values.size == 2:
        return float(values[1] - values[0])
    raise DocumentError(
        f"The re-ranking model gives {values.size} scores for a passage; Lectern needs one.",
        hint="choose a cross-encoder (text classification with one relevance logit)",
    )


def _threads() -> int:
    # A question waits for this: one run per physical core (at most 4; more gain little here).
    return max(1, min(4, physical_cores()))


def try_cross_encoder(folder: str | os.PathLike[str]) -> float:
    """Load the model in ``folder`` (not kept) and score one pair: raises DocumentError
    when it is not a cross-encoder this module can run."""
    model = CrossEncoder(folder, threads=1)
    try:
        logit = model.scores("What does Lectern do?", ["Lectern answers questions about PDFs."])
    except DocumentError:
        raise
    except Exception as exc:  # onnxruntime: wrong inputs, shapes or types
        raise DocumentError(
            f"The re-ranking model in {folder} could not score a passage: {exc}",
            hint="choose a cross-encoder exported to ONNX (text classification)",
        ) from exc
    if not math.isfinite(logit[0]):
        raise DocumentError(f"The re-ranking model in {folder} gives no usable score.")
    return logit[0]


_loaded: dict[str, tuple[tuple[int, int], CrossEncoder]] = {}


def load_cross_encoder(folder: str | os.PathLike[str]) -> CrossEncoder:
    """The cross-encoder in ``folder``, loaded once per process, and again when its
    ``model.onnx`` is replaced (a newer commit of a downloaded model)."""
    key = str(Path(folder).resolve())
    try:
        st = (Path(key) / "model.onnx").stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (0, 0)  # loading says what is wrong
    cached = _loaded.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    model = CrossEncoder(key)
    _loaded[key] = (stamp, model)
    return model
