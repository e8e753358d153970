"""Light and dark appearance, following the operating system.

The scheme comes from ``QStyleHints.colorScheme()`` (Qt 6.5+), which follows
the desktop's setting and changes live; ``LECTERN_THEME=light|dark``
overrides it (screenshots, tests, a desktop that reports nothing). The
Fusion style with an explicit palette looks the same on every platform and
in the offscreen test platform, where native styles have no dark variant.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

ENV_VAR = "LECTERN_THEME"

_applied: str | None = None


def wants_dark() -> bool:
    """Whether the app should be dark: the override, else the OS colour scheme."""
    forced = os.environ.get(ENV_VAR, "").strip().lower()
    if forced in ("light", "dark"):
        return forced == "dark"
    app = QGuiApplication.instance()
    if not isinstance(app, QGuiApplication):
        return False
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def _palette(dark: bool) -> QPalette:
    p = QPalette()
    if dark:
        colors = {
            QPalette.ColorRole.Window: "#202124",
            QPalette.ColorRole.WindowText: "#e8eaed",
            QPalette.ColorRole.Base: "#17181a",
            QPalette.ColorRole.AlternateBase: "#26282c",
            QPalette.ColorRole.ToolTipBase: "#2d2f33",
            QPalette.ColorRole.ToolTipText: "#e8eaed",
            QPalette.ColorRole.PlaceholderText: "#8a8f98",
            QPalette.ColorRole.Text: "#e8eaed",
            QPalette.ColorRole.Button: "#2d2f33",
            QPalette.ColorRole.ButtonText: "#e8eaed",
            QPalette.ColorRole.BrightText: "#ff6b6b",
            QPalette.ColorRole.Highlight: "#3d6fb4",
            QPalette.ColorRole.HighlightedText: "#ffffff",
            QPalette.ColorRole.Link: "#6cb6ff",
            QPalette.ColorRole.Mid: "#3a3d42",
            QPalette.ColorRole.Dark: "#111214",
        }
    else:
        colors = {
            QPalette.ColorRole.Window: "#f4f5f7",
            QPalette.ColorRole.WindowText: "#1f2328",
            QPalette.ColorRole.Base: "#ffffff",
            QPalette.ColorRole.AlternateBase: "#f0f2f5",
            QPalette.ColorRole.ToolTipBase: "#ffffff",
            QPalette.ColorRole.ToolTipText: "#1f2328",
            QPalette.ColorRole.PlaceholderText: "#6e7781",
            QPalette.ColorRole.Text: "#1f2328",
            QPalette.ColorRole.Button: "#f6f8fa",
            QPalette.ColorRole.ButtonText: "#1f2328",
            QPalette.ColorRole.BrightText: "#cf222e",
            QPalette.ColorRole.Highlight: "#0969da",
            QPalette.ColorRole.HighlightedText: "#ffffff",
            QPalette.ColorRole.Link: "#0b63c5",
            QPalette.ColorRole.Mid: "#d0d7de",
            QPalette.ColorRole.Dark: "#afb8c1",
        }
    for role, value in colors.items():
        p.setColor(role, QColor(value))
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.WindowText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b7078" if dark else "#9aa1a9"))
    return p


def apply_theme(app: QApplication | None = None) -> bool:
    """Style the application for the current scheme; returns whether it is dark."""
    global _applied
    app = app or QApplication.instance()  # type: ignore[assignment]
    dark = wants_dark()
    if not isinstance(app, QApplication):
        return dark
    scheme = "dark" if dark else "light"
    if _applied != scheme:  # once per change: setPalette restyles every widget
        app.setStyle("Fusion")
        app.setPalette(_palette(dark))
        _applied = scheme
    return dark


def is_dark() -> bool:
    """Whether the applied theme is dark (the OS's wish if none was applied yet)."""
    return _applied == "dark" if _applied else wants_dark()


def bubble_colors(dark: bool) -> dict[str, str]:
    """Backgrounds and text colours of chat bubbles for a scheme."""
    if dark:
        return {
            "user_bg": "#2b3a55",
            "assistant_bg": "#26282c",
            "muted": "#9aa0a6",
            "error_bg": "#4a1f22",
            "error_fg": "#ffb4ab",
            "border": "#3a3d42",
        }
    return {
        "user_bg": "#dcebff",
        "assistant_bg": "#ffffff",
        "muted": "#57606a",
        "error_bg": "#ffebe9",
        "error_fg": "#82071e",
        "border": "#d0d7de",
    }
