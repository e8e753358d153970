"""Answer Markdown as the chat shows it: code colouring, citations, no raw HTML."""

from __future__ import annotations

from desktop.chat.markdown import MarkdownRenderer


def test_code_fences_are_highlighted_in_a_block() -> None:
    html = MarkdownRenderer().render("Try:\n\n```python\ndef f(x):\n    return 'hi'\n```\n")
    assert "<table" in html and "<pre" in html
    assert 'style="color' in html  # Pygments' inline colours
    assert ">def<" in html and ">return<" in html  # keywords in their own coloured spans
    dark = MarkdownRenderer(dark=True).render("```python\nx = 1\n```")
    assert dark != MarkdownRenderer().render("```python\nx = 1\n```")


def test_an_unclosed_fence_while_streaming_renders_as_code() -> None:
    html = MarkdownRenderer().render("Here:\n\n```python\nfor i in range(3):\n    pri")
    assert "<pre" in html and "range" in html


def test_citations_become_links_but_markdown_links_stay() -> None:
    html = MarkdownRenderer().render("Owls hunt at night [1] and sleep by day [2, 3].")
    assert '<a href="cite:1">1</a>' in html
    assert '<a href="cite:2">2</a>, <a href="cite:3">3</a>' in html
    link = MarkdownRenderer().render("See [the site](https://example.org) and `a[1]`.")
    assert 'href="https://example.org"' in link and "cite:" not in link


def test_raw_html_is_shown_not_rendered() -> None:
    html = MarkdownRenderer().render("<script>alert(1)</script> **bold**")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<strong>bold</strong>" in html
