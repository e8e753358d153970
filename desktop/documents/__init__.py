"""Widgets of the documents pane: libraries, document rows, drops, watched folders, indexing."""
