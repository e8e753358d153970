"""Lectern's engine: everything that is not the user interface.

This package never imports Qt (a test enforces it). Front ends drive it
through :class:`core.engine.Engine`.
"""

__version__ = "0.1.0"
