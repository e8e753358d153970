"""Chat templates: turn a list of messages into the exact prompt text a model expects.

Three sources, in order of preference:

* a per-model user override (Jinja source, or the name of a built-in family);
* the GGUF's own ``tokenizer.chat_template`` (Jinja, as Hugging Face writes
  it), rendered in an immutable sandbox, with the helpers HF templates use
  (``raise_exception``, ``strftime_now``, a ``tojson`` that keeps non-ASCII);
* a built-in template chosen by architecture (gemma, llama-3, chatml,
  phi-3, mistral) for instruction-tuned models that carry none;
* for base (pre-trained, not instruction-tuned) models, a plain
  "Question:/Answer:" completion format with stop strings. Such a model was
  never taught chat turns: given Gemma's turn markers, the starter Gemma 3
  270M (a base model: no template, no "it" fine-tune in its metadata) just
  repeats the prompt, while it answers sensibly after "Answer:".

The built-in ones are written in Python rather than Jinja so their output is
exact and obvious; each mirrors its family's official template.

BOS: llama.cpp adds a BOS token when tokenizing if the vocabulary asks for
it. Templates that write the BOS text themselves (Gemma, Llama 3, Mistral)
would then get two; :func:`starts_with_bos` tells the caller to tokenize
without adding one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from core.errors import GenerationError
from core.types import Message

FAMILIES = ("gemma", "llama-3", "chatml", "phi-3", "mistral", "completion")
# BOS text each built-in family writes itself ("" = leave it to the tokenizer)
FAMILY_BOS = {
    "gemma": "<bos>",
    "llama-3": "<|begin_of_text|>",
    "chatml": "",
    "phi-3": "",
    "mistral": "<s>",
    "completion": "",
}
# text that ends an answer besides the end-of-generation tokens
# A base model answers in one paragraph and then rambles on (a new question, a second
# answer, a made-up list); it may start the next question without a newline.
FAMILY_STOP: dict[str, tuple[str, ...]] = {
    "completion": ("\n\n", "Question:", "\nAnswer:", "\nUser:")
}
_INSTRUCT_RE = re.compile(r"(?i)(?:^|[-_ .])(?:it|instruct|chat|sft|dpo|rlhf)(?:[-_ .]|\d|$)")
FAMILY_EOS = {
    "gemma": "<eos>",
    "llama-3": "<|eot_id|>",
    "chatml": "<|im_end|>",
    "phi-3": "<|endoftext|>",
    "mistral": "</s>",
    "completion": "",
}


class ChatTemplateError(GenerationError):
    """A chat template could not be rendered."""


def _gemma(messages: Sequence[Message], bos: str, add_generation_prompt: bool) -> str:
    # Gemma has no system role: the official template folds the system prompt
    # into the first user turn, followed by a blank line.
    msgs = list(messages)
    prefix = ""
    if msgs and msgs[0].role == "system":
        prefix = msgs[0].content + "\n\n"
        msgs = msgs[1:]
    out = [bos]
    for i, m in enumerate(msgs):
        role = "model" if m.role == "assistant" else m.role
        first = prefix if i == 0 else ""
        out.append(f"<start_of_turn>{role}\n{first}{m.content.strip()}<end_of_turn>\n")
    if add_generation_prompt:
        out.append("<start_of_turn>model\n")
    return "".join(out)


def _llama3(messages: Sequence[Message], bos: str, add_generation_prompt: bool) -> str:
    out = [bos]
    for m in messages:
        out.append(f"<|start_header_id|>{m.role}<|end_header_id|>\n\n{m.content.strip()}<|eot_id|>")
    if add_generation_prompt:
        out.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(out)


def _chatml(messages: Sequence[Message], bos: str, add_generation_prompt: bool) -> str:
    out = [bos]
    for m in messages:
        out.append(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n")
    if add_generation_prompt:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


def _phi3(messages: Sequence[Message], bos: str, add_generation_prompt: bool) -> str:
    out = [bos]
    for m in messages:
        if m.role == "system" and not m.content:
            continue
        out.append(f"<|{m.role}|>\n{m.content}<|end|>\n")
    if add_generation_prompt:
        out.append("<|assistant|>\n")
    return "".join(out)


def _mistral(messages: Sequence[Message], bos: str, add_generation_prompt: bool) -> str:
    # [INST] format; no system role, so the system prompt leads the first user turn.
    # The generation prompt is implicit: the model answers after [/INST].
    msgs = list(messages)
    prefix = ""
    if msgs and msgs[0].role == "system":
        prefix = msgs[0].content.strip() + "\n\n"
        msgs = msgs[1:]
    out = [bos]
    first_user = True
    for m in msgs:
        if m.role == "user":
            lead = prefix if first_user else ""
            first_user = False
            out.append(f"[INST] {lead}{m.content.strip()} [/INST]")
        else:
            out.append(f"{m.content.strip()}</s>")
    return "".join(out)


def _completion(messages: Sequence[Message], bos: str, add_generation_prompt: bool) -> str:
    # for base models: a document of questions and answers that the model continues
    out = [bos]
    for m in messages:
        if m.role == "system":
            out.append(f"{m.content.strip()}\n\n")
        elif m.role == "user":
            out.append(f"Question: {m.content.strip()}\n")
        else:
            out.append(f"Answer: {m.content.strip()}\n\n")
    if add_generation_prompt:
        out.append("Answer:")
    return "".join(out)


_RENDERERS: dict[str, Callable[[Sequence[Message], str, bool], str]] = {
    "gemma": _gemma,
    "llama-3": _llama3,
    "chatml": _chatml,
    "phi-3": _phi3,
    "mistral": _mistral,
    "completion": _completion,
}


def is_instruction_tuned(metadata: Mapping[str, Any]) -> bool:
    """Whether a GGUF's metadata says it was fine-tuned to follow instructions / chat."""
    if metadata.get("tokenizer.chat_template"):
        return True
    fields = ("general.finetune", "general.name", "general.basename", "general.tags")
    for key in fields:
        value = metadata.get(key)
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and _INSTRUCT_RE.search(v) for v in values):
            return True
    return False


def family_for(architecture: str, metadata: Mapping[str, Any] | None = None) -> str:
    """The built-in template family for a GGUF architecture (chatml when unknown)."""
    meta = metadata or {}
    arch = architecture.lower()
    name = str(meta.get("general.name", "")).lower()
    pre = str(meta.get("tokenizer.ggml.pre", "")).lower()
    if arch.startswith("gemma"):
        return "gemma"
    if arch.startswith(("phi3", "phimoe")):
        return "phi-3"
    if arch.startswith("mistral") or "mistral" in name or "mixtral" in name:
        return "mistral"
    if arch.startswith("llama"):
        if pre in ("llama-bpe", "llama3") or "llama-3" in name or "llama 3" in name:
            return "llama-3"
        # SentencePiece vocabularies (Llama 2, Mistral) speak [INST]; BPE ones are Llama 3
        return "mistral" if meta.get("tokenizer.ggml.model") == "llama" else "llama-3"
    return "chatml"


def _raise_exception(message: str) -> None:
    raise ChatTemplateError(f"The model's chat template refused the conversation: {message}")


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _tojson(
    value: Any, indent: int | None = None, separators: Any = None, sort_keys: bool = False
) -> str:
    # HF's tojson: no HTML escaping, non-ASCII kept
    return json.dumps(
        value, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _compile(source: str) -> Any:
    from jinja2.exceptions import TemplateError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.filters["tojson"] = _tojson
    try:
        return env.from_string(source)
    except TemplateError as exc:
        raise ChatTemplateError(f"The chat template is not valid Jinja: {exc}") from exc


@dataclass(frozen=True)
class ChatTemplate:
    """A resolved chat template.

    ``source`` is ``"gguf"``, ``"override"`` or ``"fallback:<family>"``;
    ``jinja`` holds the Jinja source for the first two (an override may also
    name a built-in family, then ``jinja`` is None and ``family`` is set).
    """

    source: str
    family: str | None = None
    jinja: str | None = None

    @property
    def stop(self) -> tuple[str, ...]:
        """Strings that end the answer (besides end-of-generation tokens)."""
        return FAMILY_STOP.get(self.family or "", ())

    @cached_property
    def _compiled(self) -> Any:
        return _compile(self.jinja) if self.jinja is not None else None

    def default_bos(self) -> str:
        """The BOS text a built-in family writes ("" for Jinja templates: the vocab's)."""
        return FAMILY_BOS.get(self.family or "", "")

    def render(
        self,
        messages: Sequence[Message],
        *,
        bos_token: str | None = None,
        eos_token: str | None = None,
        add_generation_prompt: bool = True,
    ) -> str:
        """The prompt text for ``messages`` (ending with the assistant's turn opener)."""
        if self.jinja is None:
            family = self.family or "chatml"
            bos = FAMILY_BOS[family] if bos_token is None else bos_token
            return _RENDERERS[family](messages, bos, add_generation_prompt)
        from jinja2.exceptions import TemplateError

        try:
            return str(
                self._compiled.render(
                    messages=[{"role": m.role, "content": m.content} for m in messages],
                    add_generation_prompt=add_generation_prompt,
                    bos_token=bos_token or "",
                    eos_token=eos_token or "",
                )
            )
        except ChatTemplateError:
            raise
        except (TemplateError, TypeError, ValueError, KeyError, IndexError) as exc:
            raise ChatTemplateError(f"The chat template failed to render: {exc}") from exc


def fallback_template(family: str) -> ChatTemplate:
    """The built-in template of ``family`` (one of :data:`FAMILIES`)."""
    if family not in _RENDERERS:
        raise ChatTemplateError(
            f"Unknown template family '{family}'.", hint=f"use one of {', '.join(FAMILIES)}"
        )
    return ChatTemplate(source=f"fallback:{family}", family=family)


def resolve_template(
    architecture: str, metadata: Mapping[str, Any] | None = None, override: str | None = None
) -> ChatTemplate:
    """Override, else the GGUF's ``tokenizer.chat_template``, else a fallback.

    The fallback is the architecture's family for instruction-tuned models and
    the completion format for base models.
    """
    meta = metadata or {}
    if override and override.strip():
        name = override.strip().removeprefix("fallback:")
        if name in _RENDERERS:
            return ChatTemplate(source="override", family=name)
        tpl = ChatTemplate(source="override", jinja=override)
        _ = tpl._compiled  # fail now, with a clear error, not at the first question
        return tpl
    gguf_template = meta.get("tokenizer.chat_template")
    if isinstance(gguf_template, str) and gguf_template.strip():
        return ChatTemplate(source="gguf", jinja=gguf_template)
    if meta and not is_instruction_tuned(meta):
        return fallback_template("completion")
    return fallback_template(family_for(architecture, meta))


def starts_with_bos(prompt: str, bos_text: str) -> bool:
    """True when the rendered prompt already carries the BOS text (tokenize without adding one)."""
    return bool(bos_text) and prompt.startswith(bos_text)
