"""Messages between the chat service and its llama.cpp worker process.

Everything here is a small picklable dataclass. Requests go down a pipe;
replies come back up the same pipe as core events (``Token``, ``Progress``,
``Done``) or as :class:`WorkerError` (exceptions lose their hint when
pickled, so errors travel as plain fields and are rebuilt in the parent).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.chat.load_config import LoadConfig
from core.chat.templates import ChatTemplate
from core.types import Message, Passage


@dataclass(frozen=True)
class Sampling:
    """How to pick tokens (see ``GenerationSettings`` for the meaning of each)."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    dry_multiplier: float = 0.0
    seed: int = -1
    max_tokens: int = 1024
    ignore_eos: bool = False  # benchmarks, speed test: write past end-of-answer tokens and stops


@dataclass(frozen=True)
class LoadRequest:
    config: LoadConfig
    template: ChatTemplate


@dataclass(frozen=True)
class GenerateRequest:
    """Answer ``question`` after ``history``; the worker fits it all into the context."""

    system_prompt: str
    history: tuple[Message, ...]
    question: Message
    passages: tuple[Passage, ...] = ()
    sampling: Sampling = field(default_factory=Sampling)
    # benchmarks and tests: send exactly this prompt text (no template, no budget)
    raw_prompt: str | None = None


@dataclass(frozen=True)
class TokenizeRequest:
    text: str
    add_special: bool = False
    parse_special: bool = False


@dataclass(frozen=True)
class UnloadRequest:
    pass


@dataclass(frozen=True)
class ShutdownRequest:
    pass


@dataclass(frozen=True)
class Loaded:
    """The model is loaded: what llama.cpp made of the configuration."""

    n_ctx: int
    n_ctx_train: int
    n_gpu_layers: int
    n_vocab: int
    bos_text: str
    eos_text: str
    memory: dict[str, int]
    system_info: str = ""
    load_log: str = ""  # llama.cpp's "... buffer size = N MiB" and flash_attn lines
    warm_up_tokens: int = 0  # the batch run at load time to take the GPU's working memory


@dataclass(frozen=True)
class Tokens:
    """Reply to :class:`TokenizeRequest`."""

    ids: list[int]


@dataclass(frozen=True)
class PromptFitted:
    """Sent before the first token: what made it into the prompt."""

    passages: tuple[Passage, ...]
    prompt_tokens: int
    history_dropped: int
    passages_dropped: int


@dataclass(frozen=True)
class WorkerError:
    """An error inside the worker, by class name from ``core.errors`` (or this package)."""

    kind: str
    message: str
    hint: str = ""
    fatal: bool = False  # the model is no longer usable (reload needed)
