"""Answer Markdown as the chat shows it: code colouring, citations, no raw HTML."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from desktop.chat.markdown import MarkdownRenderer
from desktop.chat.message_view import MessageView, stable_boundary


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


LONG_ANSWER = (
    "# Keeping bees\n\nBees need **water** and shade [1].\n\n"
    "1. Place the hive\n2. Add frames\n\n"
    "```python\ndef honey(frames):\n\n    return frames * 2\n```\n\n"
    "- smoke calms them\n- wear gloves\n\n"
    "| tool | use |\n|---|---|\n| smoker | calm |\n\n"
    "That is all [2]."
)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_streaming_render_matches_a_full_render(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QTextBrowser

    renderer = MarkdownRenderer()
    view = MessageView("assistant", "", renderer)
    qtbot.addWidget(view)
    for end in range(5, len(LONG_ANSWER) + 5, 5):  # token-sized pieces
        view.append(LONG_ANSWER[len(view.text) : end])
        view.render_now()
        # what is on screen is always the text so far, rendered
        full = QTextBrowser()
        full.setHtml(renderer.render(view.text))
        assert _lines(view.shown_text()) == _lines(full.toPlainText()), view.text
    assert view.text == LONG_ANSWER
    assert stable_boundary(LONG_ANSWER) > 0


def test_stable_boundary_never_splits_a_code_fence() -> None:
    text = "Intro\n\n```\ncode\n\nmore code\n```\n\nTail"
    assert text[stable_boundary(text) :] == "Tail"
    assert stable_boundary("Intro\n\n```\ncode\n\nmore") == len("Intro\n\n")
    assert stable_boundary("no blank line yet") == 0


def test_a_bubble_deleted_while_its_height_is_pending_is_left_alone(qtbot: QtBot) -> None:
    import shiboken6

    view = MessageView("assistant", "", MarkdownRenderer())
    qtbot.addWidget(view)
    view.show()
    qtbot.wait(10)
    view.set_text("A line.\n\nAnother paragraph, long enough to wrap once or twice at least.")
    assert view.body._fit_pending  # the height is measured on the next event-loop turn
    shiboken6.delete(view)  # a conversation switched, the window closed
    # pytest-qt fails the test on an exception raised in a Qt callback
    qtbot.wait(20)
