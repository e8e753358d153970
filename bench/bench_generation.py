"""Generation speed against llama.cpp's own ``llama-bench``, and follow-up-turn TTFT.

* ``llama-bench`` is built once from the llama.cpp sources vendored in the
  llama-cpp-python sdist of the installed version (``pip download --no-binary``),
  into ``~/.cache/lectern-bench`` (outside the repository), with
  ``-DGGML_NATIVE=ON`` like the installed wheel. It runs on the starter GGUF
  with ``-t <threads> -p 512 -n 128``.
* Lectern's worker (the real process, pipe and token loop) then runs on the
  same model with the same threads: decode tokens/s of a 128-token greedy
  generation (end-of-generation tokens ignored, so it always runs 128 steps)
  and prefill tokens/s of a 512-token prompt (cold cache each time).
* Follow-up TTFT: a conversation with ~1500 tokens of context is asked a
  question with a cold cache, then a second question; ratio of the times to
  first token (the second reuses the cached prefix).

Bars (SPEC §3): decode ≥ 0.97 × tg128, prefill ≥ 0.95 × pp512, follow-up
TTFT ratio ≤ 0.3. The machine's load average is reported: figures taken
while other work runs are distorted (llama.cpp's threads wait for each other
at every graph node, so one busy core slows every step).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
from pathlib import Path

CACHE = Path(os.environ.get("LECTERN_BENCH_CACHE", Path.home() / ".cache" / "lectern-bench"))
REPS = 5


def _llama_cpp_version() -> str:
    import llama_cpp

    return str(llama_cpp.__version__)


def _log(msg: str) -> None:
    print(f"bench_generation: {msg}", file=sys.stderr, flush=True)


def llama_bench_binary() -> Path:
    """Path of ``llama-bench`` for the installed llama-cpp-python, building it if needed."""
    version = _llama_cpp_version()
    src = CACHE / f"llama_cpp_python-{version}" / "vendor" / "llama.cpp"
    binary = src / "build" / "bin" / "llama-bench"
    if binary.exists():
        return binary
    CACHE.mkdir(parents=True, exist_ok=True)
    sdist = CACHE / f"llama_cpp_python-{version}.tar.gz"
    if not sdist.exists():
        _log(f"downloading the llama-cpp-python {version} sdist…")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"llama-cpp-python=={version}",
             "--no-deps", "--no-binary", ":all:", "-d", str(CACHE)],
            check=True,
        )  # fmt: skip
    if not src.exists():
        with tarfile.open(sdist) as tar:
            tar.extractall(CACHE, filter="data")
    _log("building llama-bench (a few minutes on 2 cores)…")
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run(
        ["cmake", "-S", str(src), "-B", str(src / "build"), *generator,
         "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON", "-DBUILD_SHARED_LIBS=OFF",
         "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_TOOLS=ON",
         "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_BUILD_HTML=OFF",
         "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    subprocess.run(
        ["cmake", "--build", str(src / "build"), "--target", "llama-bench", "-j2"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return binary


def run_llama_bench(binary: Path, model: Path, threads: int) -> dict[str, float]:
    """pp512 and tg128 tokens/s (mean of llama-bench's repetitions)."""
    out = subprocess.run(
        [str(binary), "-m", str(model), "-t", str(threads), "-p", "512", "-n", "128",
         "-r", str(REPS), "-o", "json"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    result: dict[str, float] = {}
    for entry in json.loads(out):
        if entry["n_prompt"] == 512 and entry["n_gen"] == 0:
            result["pp512"] = float(entry["avg_ts"])
            result["pp512_stddev"] = float(entry["stddev_ts"])
        elif entry["n_gen"] == 128 and entry["n_prompt"] == 0:
            result["tg128"] = float(entry["avg_ts"])
            result["tg128_stddev"] = float(entry["stddev_ts"])
    return result


def _prompt_of(gen: object, n_tokens: int, salt: str) -> str:
    """A text that tokenizes (with BOS) to exactly ``n_tokens`` tokens."""
    words = [f"{salt}", *(f"w{i % 97} lorem" for i in range(n_tokens))]
    lo, hi = 1, len(words)
    tokenize = gen.tokenize  # type: ignore[attr-defined]
    while lo < hi:  # largest word count with at most n_tokens tokens
        mid = (lo + hi + 1) // 2
        if len(tokenize(" ".join(words[:mid]), True)) <= n_tokens:
            lo = mid
        else:
            hi = mid - 1
    text = " ".join(words[:lo])
    while len(tokenize(text, True)) < n_tokens:
        text += " ."
    return text


def run_lectern(model: Path, threads: int) -> dict[str, float]:
    """Decode and prefill tokens/s, and the follow-up TTFT ratio, through the real worker."""
    from core.chat.generator import LocalGenerator
    from core.chat.load_config import LoadConfig
    from core.chat.protocol import GenerateRequest, Sampling
    from core.chat.service import ChatService
    from core.events import Done, Failed
    from core.types import Message

    service = ChatService(LocalGenerator())
    config = LoadConfig(
        model_path=str(model), n_ctx=4096, n_threads=threads, n_threads_batch=threads,
        n_batch=512, n_ubatch=512,
    )  # fmt: skip
    service.load_sync(str(model), None, [config])
    gen = service.generator

    def run(req: GenerateRequest) -> Done:
        events: list[object] = []
        service.run_sync(req, events.append)
        last = events[-1]
        if isinstance(last, Failed):
            raise last.error
        assert isinstance(last, Done) and last.stats is not None
        return last

    def raw(prompt: str, max_tokens: int) -> GenerateRequest:
        return GenerateRequest(
            system_prompt="", history=(), question=Message("user", ""), raw_prompt=prompt,
            sampling=Sampling(temperature=0.0, repeat_penalty=1.0, max_tokens=max_tokens,
                              ignore_eos=True),
        )  # fmt: skip

    try:
        run(raw("Warm-up.", 8))
        decode = []
        for i in range(REPS):
            done = run(raw(f"Story {i}: once upon a time", 128))
            assert done.stats is not None and done.stats.completion_tokens == 128
            decode.append(done.stats.decode_tps)
        prefill = []
        for i in range(REPS):
            done = run(raw(_prompt_of(gen, 512, f"s{i}"), 1))
            assert done.stats is not None
            prefill.append(done.stats.prefill_tps)

        # follow-up turn: ~1500 tokens of conversation, cold cache, then a second question
        history: list[Message] = []
        for i in range(12):
            history.append(Message("user", f"Tell me fact number {i} about the sea. " * 6))
            history.append(Message("assistant", f"Fact {i}: the sea is wide and deep. " * 8))
        sampling = Sampling(temperature=0.0, repeat_penalty=1.0, max_tokens=16)
        ratios, first_ttft, second_ttft, context = [], [], [], 0
        for i in range(3):
            run(raw(f"Unrelated {i}.", 1))  # cold cache for the first question
            q1 = Message("user", f"What is the most important fact, in your view? ({i})")
            first = run(GenerateRequest("You are helpful.", tuple(history), q1, (), sampling))
            q2 = Message("user", "Why?")
            hist2 = (*history, q1, Message("assistant", first.text))
            second = run(GenerateRequest("You are helpful.", hist2, q2, (), sampling))
            assert first.stats is not None and second.stats is not None
            context = first.stats.prompt_tokens
            first_ttft.append(first.stats.ttft_s)
            second_ttft.append(second.stats.ttft_s)
            ratios.append(second.stats.ttft_s / first.stats.ttft_s)
    finally:
        service.close()
    return {
        "decode_tps": statistics.mean(decode),
        "decode_tps_runs": decode,  # type: ignore[dict-item]
        "prefill_tps": statistics.mean(prefill),
        "prefill_tps_runs": prefill,  # type: ignore[dict-item]
        "followup_context_tokens": context,
        "first_ttft_s": statistics.median(first_ttft),
        "second_ttft_s": statistics.median(second_ttft),
        "followup_ttft_ratio": statistics.median(ratios),
    }


def run() -> dict[str, object]:
    from core.chat.load_config import default_threads
    from core.engine import Engine

    data = CACHE / "data"
    model = Path(Engine(data).ensure_starter_models_sync().path)
    threads = default_threads()
    load_before = os.getloadavg()[0]
    binary = llama_bench_binary()
    _log(f"llama-bench on {model.name}, {threads} threads…")
    ref = run_llama_bench(binary, model, threads)
    _log("Lectern's worker…")
    ours = run_lectern(model, threads)
    ref_after = run_llama_bench(binary, model, threads)  # the load may change meanwhile
    tg = (ref["tg128"] + ref_after["tg128"]) / 2
    pp = (ref["pp512"] + ref_after["pp512"]) / 2
    load_after = os.getloadavg()[0]
    decode_ratio = float(ours["decode_tps"]) / tg
    prefill_ratio = float(ours["prefill_tps"]) / pp
    ttft_ratio = float(ours["followup_ttft_ratio"])
    return {
        "model": model.name,
        "threads": threads,
        "llama_bench": {"before": ref, "after": ref_after},
        "lectern": ours,
        "decode_ratio": round(decode_ratio, 3),
        "decode_bar": 0.97,
        "decode_ok": decode_ratio >= 0.97,
        "prefill_ratio": round(prefill_ratio, 3),
        "prefill_bar": 0.95,
        "prefill_ok": prefill_ratio >= 0.95,
        "followup_ttft_ratio": round(ttft_ratio, 3),
        "followup_ttft_bar": 0.3,
        "followup_ttft_ok": ttft_ratio <= 0.3,
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "distorted": max(load_before, load_after) > 1.0,
        "note": "load average above 1 on this machine: other work shared the cores, "
        "so absolute figures and ratios are distorted"
        if max(load_before, load_after) > 1.0
        else "",
    }
