"""Chat templates: exact fallback prompts, GGUF Jinja templates, overrides, BOS handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.chat.llama_backend import LlamaBackend
from core.chat.templates import (
    ChatTemplate,
    ChatTemplateError,
    fallback_template,
    family_for,
    is_instruction_tuned,
    resolve_template,
)
from core.models.gguf_info import read_info
from core.types import Message

CONVERSATION = [
    Message("system", "SYS"),
    Message("user", "Hi"),
    Message("assistant", "Hello!"),
    Message("user", "Bye?"),
]

EXPECTED = {
    "gemma": (
        "<bos><start_of_turn>user\nSYS\n\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nBye?<end_of_turn>\n"
        "<start_of_turn>model\n"
    ),
    "llama-3": (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSYS<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nBye?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    "chatml": (
        "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye?<|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    "phi-3": (
        "<|system|>\nSYS<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n"
        "<|user|>\nBye?<|end|>\n<|assistant|>\n"
    ),
    "mistral": "<s>[INST] SYS\n\nHi [/INST]Hello!</s>[INST] Bye? [/INST]",
    "completion": "SYS\n\nQuestion: Hi\nAnswer: Hello!\n\nQuestion: Bye?\nAnswer:",
}

# Gemma 3's official tokenizer.chat_template (as in the instruction-tuned GGUFs)
GEMMA3_JINJA = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_fallback_renders_exact_prompt(family: str) -> None:
    assert fallback_template(family).render(CONVERSATION) == EXPECTED[family]


def test_gemma_fallback_matches_the_official_template() -> None:
    official = ChatTemplate(source="gguf", jinja=GEMMA3_JINJA)
    for msgs in (CONVERSATION, CONVERSATION[1:], CONVERSATION[:2]):
        assert official.render(msgs, bos_token="<bos>") == fallback_template("gemma").render(msgs)


def test_gguf_template_helpers_and_sandbox() -> None:
    tpl = ChatTemplate(
        source="gguf",
        jinja="{{ strftime_now('%Y') | length }}|{{ messages | tojson }}"
        "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}{% endfor %}",
    )
    out = tpl.render([Message("user", "é")])
    assert out == '4|[{"role": "user", "content": "é"}]'
    with pytest.raises(ChatTemplateError, match="alternate"):
        ChatTemplate(source="gguf", jinja=GEMMA3_JINJA).render(
            [Message("user", "a"), Message("user", "b")]
        )
    evil = ChatTemplate(source="gguf", jinja="{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(ChatTemplateError):
        evil.render([Message("user", "x")])


def test_resolution_order() -> None:
    meta = {"general.architecture": "qwen2", "tokenizer.chat_template": "{{ 'T' }}"}
    assert resolve_template("qwen2", meta).source == "gguf"
    assert resolve_template("qwen2", meta, override="{{ 'O' }}").render([]) == "O"
    assert resolve_template("qwen2", meta, override="phi-3").family == "phi-3"
    with pytest.raises(ChatTemplateError):
        resolve_template("qwen2", meta, override="{% for %}")
    it = {"general.name": "Gemma 3 4b It", "general.finetune": "it"}
    assert resolve_template("gemma3", it).source == "fallback:gemma"
    assert resolve_template("gemma3", {"general.name": "Gemma 3 270m"}).source == (
        "fallback:completion"
    )
    assert family_for("llama", {"tokenizer.ggml.pre": "llama-bpe"}) == "llama-3"
    assert family_for("llama", {"tokenizer.ggml.model": "llama"}) == "mistral"
    assert family_for("qwen3") == "chatml"
    assert family_for("phi3") == "phi-3"
    assert is_instruction_tuned({"general.name": "Mistral-7B-Instruct-v0.3"})


def test_starter_model_is_a_base_model_and_gets_the_completion_format(
    starter_gguf: Path,
) -> None:
    info = read_info(starter_gguf)
    assert not info.has_chat_template
    assert resolve_template(info.architecture, info.metadata).source == "fallback:completion"


@pytest.mark.parametrize(
    "template",
    [
        fallback_template("gemma"),
        fallback_template("completion"),
        fallback_template("chatml"),
        ChatTemplate(source="gguf", jinja=GEMMA3_JINJA),
    ],
    ids=["gemma", "completion", "chatml", "gguf-gemma3"],
)
def test_exactly_one_bos_token(backend: LlamaBackend, template: ChatTemplate) -> None:
    backend.template = template
    bos = backend.tokenize(backend.bos_text, add_special=False, parse_special=True)
    assert len(bos) == 1
    tokens = backend.encode_messages(CONVERSATION)
    assert tokens[0] == bos[0]
    assert tokens.count(bos[0]) == 1
    if template.family == "gemma" or template.source == "gguf":
        turn = backend.tokenize("<start_of_turn>", add_special=False, parse_special=True)
        assert len(turn) == 1 and tokens[1] == turn[0]  # markup became special tokens


def test_stop_strings_are_held_back_until_decided() -> None:
    from core.chat.llama_backend import _split_stop

    stops = fallback_template("completion").stop
    assert _split_stop("Paris. Quest", stops) == ("Paris. ", "Quest", False)
    assert _split_stop("Paris. Question: next", stops) == ("Paris. ", "", True)
    assert _split_stop("Paris.\n\nMore", stops) == ("Paris.", "", True)
    assert _split_stop("Paris.\nAnswer", stops) == ("Paris.", "\nAnswer", False)
    assert _split_stop("Paris.\n", stops) == ("Paris.", "\n", False)
    assert _split_stop("Paris. Quiet", stops) == ("Paris. Quiet", "", False)
