"""The main window's panes, one widget per module."""
