"""Persistent state that is not a model or a library: conversations."""
