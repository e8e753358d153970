"""Answer text to the HTML subset that Qt's rich-text engine renders.

markdown-it-py parses CommonMark (plus tables and strikethrough); code fences
are coloured by Pygments with inline styles (Qt's rich text knows no CSS
classes from a stylesheet it was not given) and wrapped in a one-cell table,
the only reliable way to give a block a background in ``QTextDocument``.
Citation markers ``[1]`` / ``[1, 3]`` become ``cite:N`` links that the chat
turns into :class:`core.types.Passage` clicks. Raw HTML in the model's output
is escaped, never rendered.

A half-finished answer is valid input: an unclosed code fence renders as a
code block up to the end, which is what a reader expects while it streams.
"""

from __future__ import annotations

import html
import re
from functools import cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

CITATION = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")

LIGHT = {"code_bg": "#f0f2f5", "inline_bg": "#eef0f3", "link": "#0b63c5"}
DARK = {"code_bg": "#1a1c20", "inline_bg": "#2d323b", "link": "#6cb6ff"}


def _citation_rule(state: StateInline, silent: bool) -> bool:
    """Inline rule: ``[n]`` or ``[n, m]`` → links ``cite:n`` (before markdown-it's link rule)."""
    if state.src[state.pos] != "[":
        return False
    m = CITATION.match(state.src, state.pos)
    if m is None or state.src[m.end() : m.end() + 1] in ("(", "["):
        return False  # a real Markdown link, or a reference link
    if not silent:
        numbers = [n.strip() for n in m.group(1).split(",")]
        state.push("text", "", 0).content = "["
        for i, n in enumerate(numbers):
            if i:
                state.push("text", "", 0).content = ", "
            link = state.push("link_open", "a", 1)
            link.attrs = {"href": f"cite:{n}"}
            state.push("text", "", 0).content = n
            state.push("link_close", "a", -1)
        state.push("text", "", 0).content = "]"
    state.pos = m.end()
    return True


class MarkdownRenderer:
    """Renders answer Markdown to Qt rich-text HTML, light or dark."""

    def __init__(self, dark: bool = False) -> None:
        self.dark = dark
        self.colors = DARK if dark else LIGHT
        self._formatter = HtmlFormatter(
            nowrap=True, noclasses=True, style="monokai" if dark else "friendly"
        )
        md = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False})
        md.enable(["table", "strikethrough"])
        md.inline.ruler.before("link", "citation", _citation_rule)
        # set directly: add_render_rule would re-bind these methods to the renderer
        rules: dict[str, Any] = md.renderer.rules  # type: ignore[attr-defined]
        rules["fence"] = self._fence
        rules["code_block"] = self._fence
        rules["code_inline"] = self._code_inline
        self._md = md

    def render(self, text: str) -> str:
        """HTML for ``text`` (Markdown)."""
        return self._md.render(text)

    # -- render rules (markdown-it calls them with these arguments) ----------
    def _fence(self, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        lang = (token.info or "").strip().split(" ")[0]
        code = token.content.rstrip("\n")
        body = _highlight(self._formatter, code, lang)
        c = self.colors
        label = (
            f'<div style="color:#8b949e; font-size:small; margin-bottom:4px">'
            f"{html.escape(lang)}</div>"
            if lang
            else ""
        )
        return (
            f'<table width="100%" cellspacing="0" cellpadding="8" border="0" '
            f'bgcolor="{c["code_bg"]}" style="margin-top:4px; margin-bottom:4px">'
            f'<tr><td>{label}<pre style="margin:0">{body}</pre></td></tr></table>\n'
        )

    def _code_inline(self, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
        code = html.escape(tokens[idx].content)
        return (
            f'<code style="background-color:{self.colors["inline_bg"]}">&nbsp;{code}&nbsp;</code>'
        )


def _highlight(formatter: HtmlFormatter[str], code: str, lang: str) -> str:
    lexer = _lexer(lang)
    if lexer is None:
        return html.escape(code)
    return highlight(code, lexer, formatter).rstrip("\n")


@cache
def _named_lexer(lang: str) -> Any:
    try:
        return get_lexer_by_name(lang)
    except ClassNotFound:
        return None


def _lexer(lang: str) -> Any:
    # no language named: plain text (guessing is slow and often wrong on short snippets)
    return _named_lexer(lang.lower()) if lang else None
