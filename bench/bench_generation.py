"""Generation speed against llama.cpp's own ``llama-bench``, and follow-up-turn TTFT.

* ``llama-bench`` is built once from the llama.cpp sources vendored in the
  llama-cpp-python sdist of the installed version (``pip download --no-binary``),
  into ``~/.cache/lectern-bench`` (outside the repository), with
  ``-DGGML_NATIVE=ON`` and the compiler flags of the installed wheel (none, or
  no AMX where this CPU traps it: ``packaging/llama-cpp.sh --cflags``). It runs on the starter GGUF
  with ``-t <threads> -p 512 -n 128``.
* Lectern's worker (the real process, pipe and token loop) runs on the same
  model with the same threads: decode tokens/s over 128 decoding steps of a
  greedy generation (end-of-generation tokens ignored) and prefill tokens/s
  of a 512-token prompt (cold cache each time). The two are interleaved five
  times, so a burst of other work hits both alike; medians are compared.
* Follow-up TTFT: a conversation with ~1500 tokens of context is asked a
  question with a cold cache, then a second question; ratio of the times to
  first token (the second reuses the cached prefix).

On a busy machine the wall-clock ratios are noise; the same work is also
measured as CPU seconds per token with one thread (no barriers, no spinning),
which a busy machine does not distort much.

Bars (SPEC §3): decode ≥ 0.97 × tg128, prefill ≥ 0.95 × pp512, follow-up
TTFT ratio ≤ 0.3. The machine's load average is reported: figures taken
while other work runs are distorted (llama.cpp's threads wait for each other
at every graph node, so one busy core slows every step).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

CACHE = Path(os.environ.get("LECTERN_BENCH_CACHE", Path.home() / ".cache" / "lectern-bench"))
REPS = int(os.environ.get("LECTERN_BENCH_REPS", "5"))


def _llama_cpp_version() -> str:
    import llama_cpp

    return str(llama_cpp.__version__)


def _log(msg: str) -> None:
    print(f"bench_generation: {msg}", file=sys.stderr, flush=True)


def llama_bench_binary() -> Path:
    """Path of ``llama-bench`` for the installed llama-cpp-python, building it if needed."""
    version = _llama_cpp_version()
    src = CACHE / f"llama_cpp_python-{version}" / "vendor" / "llama.cpp"
    # built as the installed wheel was (packaging/llama-cpp.sh): a native build would
    # die on this CPU where it traps AMX, and would not be the same code anyway
    flags = subprocess.run(
        ["bash", str(Path(__file__).resolve().parent.parent / "packaging" / "llama-cpp.sh"),
         "--cflags"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    build = src / ("build-no-amx" if flags else "build")
    binary = build / "bin" / "llama-bench"
    if binary.exists():
        return binary
    CACHE.mkdir(parents=True, exist_ok=True)
    sdist = CACHE / f"llama_cpp_python-{version}.tar.gz"
    if not sdist.exists():
        _log(f"downloading the llama-cpp-python {version} sdist…")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"llama-cpp-python=={version}",
             "--no-deps", "--no-binary", ":all:", "-d", str(CACHE)],
            check=True, stdout=sys.stderr,  # stdout carries the benchmark's JSON
        )  # fmt: skip
    if not src.exists():
        with tarfile.open(sdist) as tar:
            tar.extractall(CACHE, filter="data")
    _log("building llama-bench (a few minutes on 2 cores)…")
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    env = dict(os.environ)
    for var in ("CFLAGS", "CXXFLAGS"):
        env[var] = f"{env.get(var, '')} {flags}".strip()
    subprocess.run(
        ["cmake", "-S", str(src), "-B", str(build), *generator,
         "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON", "-DBUILD_SHARED_LIBS=OFF",
         "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_TOOLS=ON",
         "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_BUILD_HTML=OFF",
         "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF"],
        check=True, stdout=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    subprocess.run(
        ["cmake", "--build", str(build), "--target", "llama-bench", "-j2"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return binary


def run_llama_bench(binary: Path, model: Path, threads: int, reps: int = REPS) -> dict[str, float]:
    """pp512 and tg128 tokens/s (mean of llama-bench's repetitions)."""
    out = subprocess.run(
        [str(binary), "-m", str(model), "-t", str(threads), "-p", "512", "-n", "128",
         "-r", str(reps), "-o", "json"],
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


def raw_request(prompt: str, max_tokens: int) -> Any:
    """A greedy request that sends ``prompt`` as is and writes ``max_tokens`` tokens."""
    from core.chat.protocol import GenerateRequest, Sampling
    from core.types import Message

    return GenerateRequest(
        system_prompt="", history=(), question=Message("user", ""), raw_prompt=prompt,
        sampling=Sampling(temperature=0.0, repeat_penalty=1.0, dry_multiplier=0.0,
                          max_tokens=max_tokens, ignore_eos=True),
    )  # fmt: skip


def run_request(service: Any, req: Any) -> Any:
    """Answer ``req`` with a ``ChatService``; the generation's stats (raises on failure)."""
    from core.events import Done, Failed

    events: list[object] = []
    service.run_sync(req, events.append)
    last = events[-1]
    if isinstance(last, Failed):
        raise last.error
    assert isinstance(last, Done) and last.stats is not None
    return last.stats


class LecternRunner:
    """Lectern's real worker process on the starter model, for repeated measurements."""

    def __init__(self, model: Path, threads: int) -> None:
        from core.chat.generator import LocalGenerator
        from core.chat.load_config import LoadConfig
        from core.chat.service import ChatService

        self.service = ChatService(LocalGenerator())
        config = LoadConfig(
            model_path=str(model), n_ctx=4096, n_threads=threads, n_threads_batch=threads,
            n_batch=512, n_ubatch=512,
        )  # fmt: skip
        self.service.load_sync(str(model), None, [config])
        self.runs = 0
        self.run(self.raw("Warm-up.", 8))

    def run(self, req: Any) -> Any:
        return run_request(self.service, req)

    raw = staticmethod(raw_request)

    def decode_tps(self) -> float:
        """tokens/s of a 128-token greedy generation (the first token comes from the prefill)."""
        self.runs += 1
        stats = self.run(self.raw(f"Story {self.runs}: once upon a time", 129))
        assert stats.completion_tokens == 129
        return float(stats.decode_tps)

    def prefill_tps(self) -> float:
        """tokens/s of a 512-token prompt on a cold cache."""
        self.runs += 1
        prompt = _prompt_of(self.service.generator, 512, f"s{self.runs}")
        return float(self.run(self.raw(prompt, 1)).prefill_tps)

    def followup(self) -> tuple[float, float, int]:
        """(first TTFT, second TTFT, context tokens) for a ~1500-token conversation."""
        from core.chat.protocol import GenerateRequest, Sampling
        from core.types import Message

        self.runs += 1
        history: list[Message] = []
        for i in range(12):
            history.append(Message("user", f"Tell me fact number {i} about the sea. " * 5))
            history.append(Message("assistant", f"Fact {i}: the sea is wide and deep. " * 7))
        sampling = Sampling(temperature=0.0, repeat_penalty=1.0, dry_multiplier=0.0, max_tokens=16)
        self.run(self.raw(f"Unrelated {self.runs}.", 1))  # cold cache for the first question
        q1 = Message("user", f"What is the most important fact, in your view? ({self.runs})")
        first = self.run(GenerateRequest("You are helpful.", tuple(history), q1, (), sampling))
        hist2 = (*history, q1, Message("assistant", "The sea is deep."))
        q2 = Message("user", "Why?")
        second = self.run(GenerateRequest("You are helpful.", hist2, q2, (), sampling))
        return float(first.ttft_s), float(second.ttft_s), int(first.prompt_tokens)

    def close(self) -> None:
        self.service.close()


def _speed_ratios(binary: Path, model: Path, threads: int, reps: int) -> dict[str, object]:
    """Interleaved llama-bench / Lectern runs at one thread count; medians and best-of."""
    loads = [os.getloadavg()[0]]
    runner = LecternRunner(model, threads)
    ref_pp: list[float] = []
    ref_tg: list[float] = []
    pp: list[float] = []
    tg: list[float] = []
    try:
        for _ in range(reps):
            ref = run_llama_bench(binary, model, threads, reps=1)
            ref_pp.append(ref["pp512"])
            ref_tg.append(ref["tg128"])
            tg.append(runner.decode_tps())
            pp.append(runner.prefill_tps())
            loads.append(os.getloadavg()[0])
    finally:
        runner.close()
    decode_ratio = statistics.median(tg) / statistics.median(ref_tg)
    prefill_ratio = statistics.median(pp) / statistics.median(ref_pp)
    return {
        "threads": threads,
        "llama_bench_pp512": [round(x, 1) for x in ref_pp],
        "llama_bench_tg128": [round(x, 2) for x in ref_tg],
        "lectern_prefill_tps": [round(x, 1) for x in pp],
        "lectern_decode_tps": [round(x, 2) for x in tg],
        "decode_ratio": round(decode_ratio, 3),
        "decode_ratio_best_of": round(max(tg) / max(ref_tg), 3),
        "decode_ok": decode_ratio >= 0.97,
        "prefill_ratio": round(prefill_ratio, 3),
        "prefill_ratio_best_of": round(max(pp) / max(ref_pp), 3),
        "prefill_ok": prefill_ratio >= 0.95,
        "load_average": [round(x, 2) for x in loads],
    }


def _child_cpu(cmd: list[str]) -> float:
    """CPU seconds (user + system) a command used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _cpu_cost_ratios(binary: Path, model: Path) -> dict[str, object]:
    """Throughput ratios from CPU time per token, one thread: robust to a busy machine.

    With one thread there is no barrier and no spinning, so CPU seconds per token
    measure the work itself however often the thread waits for a core. llama-bench's
    model load and warm-up cancel out by differencing runs with 1 and 1 + k repetitions.
    """
    import psutil

    base = [str(binary), "-m", str(model), "-t", "1", "-o", "json"]
    k = 4
    tg_ref = (
        _child_cpu([*base, "-p", "0", "-n", "128", "-r", str(1 + k)])
        - _child_cpu([*base, "-p", "0", "-n", "128", "-r", "1"])
    ) / (k * 128)
    pp_ref = (
        _child_cpu([*base, "-p", "512", "-n", "0", "-r", str(1 + k)])
        - _child_cpu([*base, "-p", "512", "-n", "0", "-r", "1"])
    ) / (k * 512)
    runner = LecternRunner(model, 1)
    try:
        pid = runner.service.generator.worker.pid
        assert pid is not None
        proc = psutil.Process(pid)

        def cpu() -> float:
            t = proc.cpu_times()
            return float(t.user + t.system)

        tg_ours, pp_ours = [], []
        for _ in range(k):
            c0 = cpu()
            runner.decode_tps()
            c1 = cpu()
            tg_ours.append((c1 - c0) / 129)  # 128 decoding steps + a few prompt tokens
            prompt = _prompt_of(runner.service.generator, 512, f"cpu{runner.runs}")
            c0 = cpu()
            runner.run(runner.raw(prompt, 1))
            c1 = cpu()
            pp_ours.append((c1 - c0) / 511)  # the BOS token stays cached
    finally:
        runner.close()
    return {
        "threads": 1,
        "llama_bench_cpu_ms_per_decoded_token": round(tg_ref * 1e3, 3),
        "lectern_cpu_ms_per_decoded_token": round(statistics.median(tg_ours) * 1e3, 3),
        "llama_bench_cpu_ms_per_prompt_token": round(pp_ref * 1e3, 4),
        "lectern_cpu_ms_per_prompt_token": round(statistics.median(pp_ours) * 1e3, 4),
        "decode_ratio": round(tg_ref / statistics.median(tg_ours), 3),
        "prefill_ratio": round(pp_ref / statistics.median(pp_ours), 3),
    }


def run() -> dict[str, object]:
    from core.chat.load_config import default_threads
    from core.engine import Engine

    data = CACHE / "data"
    model = Path(Engine(data).ensure_starter_models_sync().path)
    threads = default_threads()
    binary = llama_bench_binary()
    _log(f"llama-bench and Lectern's worker on {model.name}, {threads} threads, interleaved…")
    main = _speed_ratios(binary, model, threads, REPS)
    # one thread has no barrier between threads, so other work on the machine slows both
    # sides alike instead of amplifying: the ratio that survives a busy machine
    single = _speed_ratios(binary, model, 1, REPS) if threads > 1 else None
    cpu_cost = _cpu_cost_ratios(binary, model)
    runner = LecternRunner(model, threads)
    try:
        ttft = [runner.followup() for _ in range(3)]
    finally:
        runner.close()
    ttft_ratio = statistics.median(b / a for a, b, _ in ttft)
    loads = [*main["load_average"], *(single or {}).get("load_average", [])]  # type: ignore[misc]
    distorted = max(loads) > 1.0
    return {
        "model": model.name,
        **main,
        "decode_bar": 0.97,
        "prefill_bar": 0.95,
        "one_thread": single,
        "cpu_time_one_thread": cpu_cost,
        "followup_context_tokens": ttft[0][2],
        "followup_first_ttft_s": [round(a, 4) for a, _, _ in ttft],
        "followup_second_ttft_s": [round(b, 4) for _, b, _ in ttft],
        "followup_ttft_ratio": round(ttft_ratio, 3),
        "followup_ttft_bar": 0.3,
        "followup_ttft_ok": ttft_ratio <= 0.3,
        "distorted": distorted,
        "note": (
            "load average above 1: other work shared the cores, so the figures are distorted "
            "(llama.cpp's threads wait for each other at every graph node, so a busy core "
            "slows every step); runs are interleaved and medians compared"
        )
        if distorted
        else "medians of interleaved runs",
    }
