"""llama.cpp driven through its C API, inside the worker process.

Uses llama-cpp-python's low-level ctypes bindings (``llama_cpp.llama_cpp``),
not its ``Llama`` class: the token loop is one ``llama_sampler_sample``, one
``llama_token_to_piece`` and one ``llama_decode`` per token, with nothing
allocated in Python but the text piece, so decoding runs at llama.cpp's
own speed.

* Prefill goes in ``n_batch`` chunks. Stop is a shared flag: an abort
  callback makes llama.cpp give up inside a chunk (it is called between graph
  nodes, so it is installed only while prefilling), and the flag is checked
  between chunks and between generated tokens.
* Prefix reuse: the tokens whose keys and values are in the KV cache are
  remembered; a new prompt only removes the part after the common prefix
  (``llama_memory_seq_rm``) and prefills the rest. Sliding-window models
  (Gemma 3) need ``swa_full`` for that, which is set.
* Text comes out through an incremental UTF-8 decoder, so a character split
  over two tokens is emitted whole.
* Sampling is llama.cpp's sampler chain, except plain greedy decoding
  (temperature 0, no repeat penalty): ``llama_sampler_sample`` copies every
  logit into a candidate array first, which for Gemma's 262k-token
  vocabulary costs ~0.3 ms a token (3% of a decoding step on 2 cores); an
  argmax straight over the logits takes ~25 µs and picks the same token.
"""

from __future__ import annotations

import codecs
import ctypes
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from core.chat.budget import fit_prompt
from core.chat.load_config import LoadConfig
from core.chat.protocol import GenerateRequest, Loaded, PromptFitted, Sampling
from core.chat.templates import ChatTemplate, starts_with_bos
from core.errors import GenerationError, ModelLoadError
from core.events import Done, Progress, Token
from core.types import GenerationStats, Message

Emit = Callable[[object], None]

_KV_TYPES = {
    "f32": 0,
    "f16": 1,
    "q4_0": 2,
    "q4_1": 3,
    "q5_0": 6,
    "q5_1": 7,
    "q8_0": 8,
    "iq4_nl": 20,
    "bf16": 30,
}
_BUFFER_RE = re.compile(r"(\S+)\s+(model|KV|compute|output|RS)\s+buffer size\s*=\s*([\d.]+)\s*MiB")
# whether llama.cpp runs flash attention ("auto" is resolved in a later line)
_FLASH_ATTN_RE = re.compile(r"flash_attn\s*=|flash attention", re.IGNORECASE)
_LOG_ERROR = 4  # GGML_LOG_LEVEL_ERROR
_LOG_WARN = 3
_DEFAULT_SEED = 0xFFFFFFFF  # LLAMA_DEFAULT_SEED: a new random seed each time
_FLUSH_S = 0.04  # seconds between text messages to the parent (25 a second)
# DRY's usual settings (text-generation-webui, KoboldCpp, llama.cpp's server)
_DRY_BASE = 1.75
_DRY_ALLOWED_LENGTH = 2
_DRY_BREAKERS = (b"\n", b":", b'"', b"*")
_DRY_TOP_K = 64
_MIN_REUSE = 32  # tokens: a shorter common prefix is recomputed on a cleared cache


class _Log:
    """Collects llama.cpp's log: buffer sizes (for the memory report) and recent errors."""

    def __init__(self) -> None:
        self.memory: dict[str, int] = {}
        # the load log's buffer sizes (for the planner) and flash-attention lines
        self.buffer_lines: list[str] = []
        self.errors: list[str] = []

    def __call__(self, level: int, text: bytes | None, _user: object) -> None:
        if not text:
            return
        line = text.decode("utf-8", "replace").strip()
        m = _BUFFER_RE.search(line)
        if m:
            device, kind, mib = m.group(1), m.group(2).lower(), float(m.group(3))
            key = f"{kind}:{device}"  # Gemma logs two KV caches (global, sliding window)
            self.memory[key] = self.memory.get(key, 0) + int(mib * 1024 * 1024)
            self.buffer_lines.append(line)
        elif _FLASH_ATTN_RE.search(line):
            self.buffer_lines.append(line)
        elif level >= _LOG_WARN and line:
            self.errors = [*self.errors[-9:], line]

    def totals(self) -> dict[str, int]:
        out = dict(self.memory)
        for kind, key in (
            ("model", "weights_bytes"),
            ("kv", "kv_bytes"),
            ("compute", "compute_bytes"),
        ):
            out[key] = sum(v for k, v in self.memory.items() if k.startswith(f"{kind}:"))
        return out


_log = _Log()
_log_cb: Any = None
_initialised = False


def _init_llama() -> Any:
    """Import the bindings, route the log, initialise the backend once per process."""
    global _log_cb, _initialised
    from llama_cpp import llama_cpp as ll

    if not _initialised:
        _log_cb = ll.llama_log_callback(_log)
        ll.llama_log_set(_log_cb, None)
        ll.llama_backend_init()
        _initialised = True
    return ll


class LlamaBackend:
    """One model and one context; one generation at a time."""

    def __init__(self, config: LoadConfig, template: ChatTemplate, cancel: Any) -> None:
        """Load ``config.model_path``; ``cancel`` is a shared ``ctypes.c_bool``."""
        ll = self._ll = _init_llama()
        self.config = config
        self.template = template
        self._cancel = cancel
        self._model: Any = None
        self._ctx: Any = None
        _log.memory.clear()
        _log.buffer_lines.clear()
        _log.errors.clear()

        mparams = ll.llama_model_default_params()
        mparams.n_gpu_layers = config.n_gpu_layers
        if config.n_gpu_layers == 0:
            # no GPU at all: with no layers there, a GPU build would still make its GPU
            # context and a compute buffer on the GPU for prompts (about 0.75 GiB measured
            # on CUDA), and the processor-only rung of the load ladder must load on a full GPU
            mparams.split_mode = ll.LLAMA_SPLIT_MODE_NONE
            mparams.main_gpu = -1
        self._model = ll.llama_model_load_from_file(config.model_path.encode(), mparams)
        if not self._model:
            raise ModelLoadError(
                f"llama.cpp could not load {Path(config.model_path).name}: {self._last_error()}",
                hint="the file may be damaged or use an architecture this llama.cpp does not know",
            )
        cparams = ll.llama_context_default_params()
        cparams.n_ctx = config.n_ctx
        cparams.n_batch = config.n_batch
        cparams.n_ubatch = min(config.n_ubatch, config.n_batch)
        cparams.n_threads = config.n_threads
        cparams.n_threads_batch = config.n_threads_batch
        cparams.offload_kqv = config.offload_kqv
        cparams.type_k = _KV_TYPES.get(config.type_k.lower(), 1)
        cparams.type_v = _KV_TYPES.get(config.type_v.lower(), 1)
        # True forces flash attention on; False leaves the choice to llama.cpp (auto)
        cparams.flash_attn_type = (
            ll.LLAMA_FLASH_ATTN_TYPE_ENABLED if config.flash_attn else ll.LLAMA_FLASH_ATTN_TYPE_AUTO
        )
        cparams.swa_full = True  # keep the whole window so a conversation's prefix can be reused
        cparams.no_perf = True
        self._ctx = ll.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            self.close()
            raise ModelLoadError(
                f"llama.cpp could not create a context of {config.n_ctx} tokens: "
                f"{self._last_error()}",
                hint="try a shorter context or fewer GPU layers",
            )
        self._vocab = ll.llama_model_get_vocab(self._model)
        self._mem = ll.llama_get_memory(self._ctx)
        self.n_ctx = int(ll.llama_n_ctx(self._ctx))
        self.n_vocab = int(ll.llama_vocab_n_tokens(self._vocab))
        self.bos_text = self._special_text(ll.llama_vocab_bos(self._vocab))
        self.eos_text = self._special_text(ll.llama_vocab_eos(self._vocab))
        self._cached: list[int] = []  # tokens whose KV is in the cache (sequence 0)
        self._piece = ctypes.create_string_buffer(256)
        self._tok_buf = (ctypes.c_int32 * 0)()
        self._abort_cb = ll.ggml_abort_callback(lambda _data: bool(self._cancel.value))
        self.warm_up_tokens = 0
        if config.n_gpu_layers > 0:
            self._warm_up()

    def _warm_up(self) -> None:
        """Run one full batch through the model at load time, then forget it.

        llama.cpp reserves its compute buffers when it makes the context, but a
        GPU backend takes more memory at the first decode (cuBLAS's workspace,
        the CUDA memory pool). With little GPU memory left that decode fails or
        aborts the process. Here that is a failed load, and the load ladder
        steps down to fewer GPU layers; during the first answer it would be a
        crash, repeated at every reload (seen on an H200: README, GPU offload).
        """
        ll = self._ll
        n = min(self.config.n_ubatch, self.config.n_batch, self.n_ctx)
        token = int(ll.llama_vocab_bos(self._vocab))
        batch = (ctypes.c_int32 * n)(*([max(token, 0)] * n))
        rc = ll.llama_decode(self._ctx, ll.llama_batch_get_one(batch, n))
        ll.llama_memory_clear(self._mem, True)
        self.warm_up_tokens = n
        if rc != 0:
            name = Path(self.config.model_path).name
            self.close()
            raise ModelLoadError(
                f"llama.cpp could not run {name} with {self.config.n_gpu_layers} layers "
                f"on the GPU (code {rc}): {self._last_error()}",
                hint="not enough GPU memory; fewer GPU layers or a shorter context need less",
            )

    # -- facts ------------------------------------------------------------
    def loaded(self) -> Loaded:
        ll = self._ll
        return Loaded(
            n_ctx=self.n_ctx,
            n_ctx_train=int(ll.llama_model_n_ctx_train(self._model)),
            n_gpu_layers=self.config.n_gpu_layers,
            n_vocab=self.n_vocab,
            bos_text=self.bos_text,
            eos_text=self.eos_text,
            memory=_log.totals(),
            load_log="\n".join(_log.buffer_lines),
            system_info=(ll.llama_print_system_info() or b"").decode("utf-8", "replace"),
            warm_up_tokens=self.warm_up_tokens,
        )

    def _last_error(self) -> str:
        return _log.errors[-1] if _log.errors else "no details from llama.cpp"

    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        text = self._ll.llama_vocab_get_text(self._vocab, token)
        return text.decode("utf-8", "replace") if text else ""

    # -- tokens -----------------------------------------------------------
    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        """Token ids of ``text``."""
        raw = text.encode("utf-8")
        need = len(raw) + 8
        if len(self._tok_buf) < need:
            self._tok_buf = (ctypes.c_int32 * max(need, 2 * len(self._tok_buf)))()
        n = self._ll.llama_tokenize(
            self._vocab,
            raw,
            len(raw),
            self._tok_buf,
            len(self._tok_buf),
            add_special,
            parse_special,
        )
        if n < 0:
            raise GenerationError("The prompt could not be tokenized.")
        return list(self._tok_buf[:n])

    def detokenize(self, tokens: Sequence[int]) -> str:
        """Text of ``tokens`` (special tokens left out)."""
        if not tokens:
            return ""
        arr = (ctypes.c_int32 * len(tokens))(*tokens)
        size = 8 * len(tokens) + 16
        buf = ctypes.create_string_buffer(size)
        n = self._ll.llama_detokenize(self._vocab, arr, len(tokens), buf, size, False, False)
        return buf.raw[: max(n, 0)].decode("utf-8", "ignore")

    def encode_messages(self, messages: Sequence[Message]) -> list[int]:
        """Render with the chat template and tokenize, never doubling the BOS token."""
        bos = self.bos_text or self.template.default_bos()
        text = self.template.render(messages, bos_token=bos, eos_token=self.eos_text)
        return self.tokenize(text, add_special=not starts_with_bos(text, bos), parse_special=True)

    def truncate(self, text: str, n_tokens: int) -> str:
        """``text`` cut to at most ``n_tokens`` tokens."""
        toks = self.tokenize(text, add_special=False, parse_special=False)
        return text if len(toks) <= n_tokens else self.detokenize(toks[:n_tokens])

    # -- generation -------------------------------------------------------
    def generate(self, req: GenerateRequest, emit: Emit) -> None:
        """Answer ``req``, emitting ``PromptFitted``, ``Progress``, ``Token``s and one ``Done``."""
        t0 = time.perf_counter()
        s = req.sampling
        if req.raw_prompt is not None:
            tokens = self.tokenize(req.raw_prompt, add_special=True, parse_special=True)
            room = max(self.n_ctx - s.max_tokens, 1)
            tokens = tokens[:room]
            emit(PromptFitted((), len(tokens), 0, 0))
        else:
            fitted = fit_prompt(
                system_prompt=req.system_prompt,
                history=req.history,
                question=req.question,
                passages=req.passages,
                n_ctx=self.n_ctx,
                max_tokens=s.max_tokens,
                encode=self.encode_messages,
                truncate=self.truncate,
            )
            tokens = fitted.tokens
            emit(
                PromptFitted(
                    fitted.passages, len(tokens), fitted.history_dropped, fitted.passages_dropped
                )
            )
        max_new = max(0, min(s.max_tokens, self.n_ctx - len(tokens)))

        cached = self._reuse_prefix(tokens)
        t_prefill = time.perf_counter()
        processed = self._prefill(tokens, cached, emit)
        t_first_ready = time.perf_counter()
        prefilled = processed - cached
        if processed < len(tokens):  # stopped during prefill
            stats = GenerationStats(
                ttft_s=0.0,
                prompt_tokens=len(tokens),
                prefill_tps=_rate(prefilled, t_first_ready - t_prefill),
                cached_tokens=cached,
                extra={"prefilled_tokens": float(prefilled), "aborted_in_prefill": 1.0},
            )
            emit(Done("", stats, cancelled=True))
            return
        stops = self.template.stop if req.raw_prompt is None and not s.ignore_eos else ()
        text, n_gen, t_first, t_last, cancelled = self._decode_loop(s, max_new, stops, emit)
        stats = GenerationStats(
            ttft_s=(t_first - t0) if n_gen else 0.0,
            prompt_tokens=len(tokens),
            prefill_tps=_rate(prefilled, t_first_ready - t_prefill),
            completion_tokens=n_gen,
            decode_tps=_rate(n_gen - 1, t_last - t_first) if n_gen > 1 else 0.0,
            cached_tokens=cached,
            extra={
                "prefilled_tokens": float(prefilled),
                "prefill_s": t_first_ready - t_prefill,
                "decode_s": t_last - t_first if n_gen else 0.0,
                "prepare_s": t_prefill - t0,
            },
        )
        emit(Done(text, stats, cancelled=cancelled))

    def _reuse_prefix(self, tokens: list[int]) -> int:
        """Drop the cache after the longest common prefix; return how many tokens stay."""
        ll = self._ll
        common = 0
        for a, b in zip(self._cached, tokens, strict=False):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)  # the last prompt token must be decoded for logits
        # a short shared prefix is cheaper to recompute than to keep: prefilling into a
        # cache whose cells a previous answer used runs ~3% slower than into a clear one
        if common < _MIN_REUSE:
            common = 0
        if common <= 0 or not ll.llama_memory_seq_rm(self._mem, 0, common, -1):
            ll.llama_memory_clear(self._mem, True)
            common = 0
        self._cached = self._cached[:common]
        return common

    def _prefill(self, tokens: list[int], start: int, emit: Emit) -> int:
        """Decode ``tokens[start:]`` in ``n_batch`` chunks; return how many are now cached."""
        ll = self._ll
        n = len(tokens)
        arr = (ctypes.c_int32 * n)(*tokens)
        step = self.config.n_batch
        pos = start
        total = n - start
        ll.llama_set_abort_callback(self._ctx, self._abort_cb, None)
        try:
            while pos < n:
                if self._cancel.value:
                    break
                k = min(step, n - pos)
                ptr = ctypes.cast(ctypes.byref(arr, pos * 4), ctypes.POINTER(ctypes.c_int32))
                rc = ll.llama_decode(self._ctx, ll.llama_batch_get_one(ptr, k))
                if rc == 2:  # aborted by the callback: llama.cpp dropped this chunk
                    break
                if rc != 0:
                    self._resync()
                    raise GenerationError(
                        f"llama.cpp failed while reading the prompt (code {rc}).",
                        hint="the context may be too large for the available memory",
                    )
                self._cached.extend(tokens[pos : pos + k])
                pos += k
                if total > step:
                    emit(Progress("prefill", pos - start, total))
        finally:
            # the callback costs a Python call per graph node: keep it out of decoding
            ll.llama_set_abort_callback(self._ctx, ll.ggml_abort_callback(), None)
        self._resync()
        return len(self._cached)

    def _resync(self) -> None:
        """Trust llama.cpp about what is cached (after an abort it drops the partial chunk)."""
        pos_max = int(self._ll.llama_memory_seq_pos_max(self._mem, 0))
        del self._cached[pos_max + 1 :]

    def _make_sampler(self, s: Sampling) -> Any:
        ll = self._ll
        sp = ll.llama_sampler_chain_default_params()
        sp.no_perf = True
        chain = ll.llama_sampler_chain_init(sp)

        def add(smpl: Any) -> None:
            ll.llama_sampler_chain_add(chain, smpl)

        penalise = s.repeat_penalty != 1.0
        last_n = 64
        if s.temperature <= 0:
            if penalise or s.dry_multiplier > 0:
                # penalties only lower logits of at most last_n tokens, so the winner after
                # them is among the last_n + 1 best before: exact, and avoids scanning the
                # vocab (DRY lowers those of the tokens that would go on repeating a run:
                # a few, so the best _DRY_TOP_K keep the winner in practice)
                extra = _DRY_TOP_K if s.dry_multiplier > 0 else 0
                add(ll.llama_sampler_init_top_k(last_n + 1 + extra))
            if penalise:
                add(ll.llama_sampler_init_penalties(self.n_vocab, last_n, s.repeat_penalty, 0, 0))
            self._add_dry(add, s)
            add(ll.llama_sampler_init_greedy())
            return chain
        if s.top_k > 0:
            add(ll.llama_sampler_init_top_k(s.top_k))
        if penalise:
            add(ll.llama_sampler_init_penalties(self.n_vocab, last_n, s.repeat_penalty, 0, 0))
        self._add_dry(add, s)
        if s.top_p < 1.0:
            add(ll.llama_sampler_init_top_p(s.top_p, 1))
        if s.min_p > 0.0:
            add(ll.llama_sampler_init_min_p(s.min_p, 1))
        add(ll.llama_sampler_init_temp(s.temperature))
        add(ll.llama_sampler_init_dist(_DEFAULT_SEED if s.seed < 0 else s.seed))
        return chain

    def _add_dry(self, add: Callable[[Any], None], s: Sampling) -> None:
        """DRY ("don't repeat yourself"): lower the tokens that would extend a run of the
        answer's own earlier tokens, more the longer the run (multiplier x base^(length -
        allowed length)). Only the answer is seen (the sampler is told of the tokens it
        picks, not of the prompt), so quoting a passage is not penalised. A new line,
        ":", '"' and "*" end a run, so lines that only start alike ("Note:") are not one.
        """
        if s.dry_multiplier <= 0:
            return
        breakers = (ctypes.c_char_p * len(_DRY_BREAKERS))(*_DRY_BREAKERS)
        # the whole answer: llama.cpp reads a last-n of -1 as 0, which turns DRY off
        add(
            self._ll.llama_sampler_init_dry(
                self._vocab,
                s.dry_multiplier,
                _DRY_BASE,
                _DRY_ALLOWED_LENGTH,
                max(1, s.max_tokens),
                breakers,
                len(_DRY_BREAKERS),
            )
        )

    def _argmax_sampler(self) -> Callable[[Any, Any, int], int]:
        """Greedy sampling as an argmax over the last logits (same signature as the C call)."""
        import numpy as np

        get_logits, n_vocab, as_array = (
            self._ll.llama_get_logits_ith,
            self.n_vocab,
            np.ctypeslib.as_array,
        )

        def sample(_smpl: Any, ctx: Any, idx: int) -> int:
            return int(as_array(get_logits(ctx, idx), (n_vocab,)).argmax())

        return sample

    def _decode_loop(
        self, s: Sampling, max_new: int, stops: Sequence[str], emit: Emit
    ) -> tuple[str, int, float, float, bool]:
        """Sample, emit, decode; returns (text, tokens, t_first, t_last, cancelled).

        Leading whitespace of the answer is dropped. With stop strings, text that
        could be the start of one is held back until it is clear that it is not.
        """
        ll = self._ll
        ctx, vocab, cancel, cached = self._ctx, self._vocab, self._cancel, self._cached
        sample, decode = ll.llama_sampler_sample, ll.llama_decode
        is_eog, to_piece = ll.llama_vocab_is_eog, ll.llama_token_to_piece
        string_at, buf, clock = ctypes.string_at, self._piece, time.perf_counter
        one = (ctypes.c_int32 * 1)()
        batch = ll.llama_batch_get_one(one, 1)  # reused: points at `one`
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        smpl = self._make_sampler(s)
        if s.temperature <= 0 and s.repeat_penalty == 1.0 and s.dry_multiplier <= 0:
            sample = self._argmax_sampler()
        parts: list[str] = []
        # Text goes up the pipe at most every _FLUSH_S (the first piece at once): waking
        # the parent for every token costs a decoding thread its core for a moment, and
        # llama.cpp's threads wait for each other, so each wake-up delays the whole step.
        unsent: list[str] = []
        last_flush = 0.0
        pending = ""  # text held back: it may be the start of a stop string
        started = False
        n_gen = 0
        t_first = t_last = clock()
        cancelled = False
        ignore_eos = s.ignore_eos
        try:
            while n_gen < max_new:
                tok = sample(smpl, ctx, -1)
                if not ignore_eos and is_eog(vocab, tok):
                    break
                n_gen += 1
                n = to_piece(vocab, tok, buf, 256, 0, False)
                piece = decoder.decode(string_at(buf, n)) if n > 0 else ""
                t_last = clock()
                if n_gen == 1:
                    t_first = t_last
                if piece and not started:
                    piece = piece.lstrip()
                    started = bool(piece)
                hit = False
                if piece and stops:
                    pending += piece
                    piece, pending, hit = _split_stop(pending, stops)
                if piece:
                    parts.append(piece)
                    unsent.append(piece)
                    if t_last - last_flush >= _FLUSH_S:
                        emit(Token("".join(unsent)))
                        unsent.clear()
                        last_flush = t_last
                if hit:
                    break
                if cancel.value:
                    cancelled = True
                    break
                if n_gen >= max_new:
                    break
                one[0] = tok
                rc = decode(ctx, batch)
                if rc != 0:
                    self._resync()
                    raise GenerationError(f"llama.cpp failed while answering (code {rc}).")
                cached.append(tok)
        finally:
            ll.llama_sampler_free(smpl)
        tail = pending + decoder.decode(b"", final=True)
        if tail and (started or tail.strip()):
            tail = tail if started else tail.lstrip()
            parts.append(tail)
            unsent.append(tail)
        if unsent:
            emit(Token("".join(unsent)))
        return "".join(parts), n_gen, t_first, t_last, cancelled

    def close(self) -> None:
        """Free the context and the model."""
        if self._ctx:
            self._ll.llama_free(self._ctx)
            self._ctx = None
        if self._model:
            self._ll.llama_model_free(self._model)
            self._model = None
        self._cached = []


def _split_stop(text: str, stops: Sequence[str]) -> tuple[str, str, bool]:
    """(text safe to emit, text to hold back, whether a stop string was found)."""
    cut = min((i for i in (text.find(st) for st in stops) if i >= 0), default=-1)
    if cut >= 0:
        return text[:cut], "", True
    keep = 0
    for st in stops:
        for k in range(min(len(st) - 1, len(text)), keep, -1):
            if text.endswith(st[:k]):
                keep = k
                break
    return text[: len(text) - keep], text[len(text) - keep :], False


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 and n > 0 else 0.0
