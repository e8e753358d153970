"""Lectern's benchmarks: ``python -m bench`` (``make bench``) prints JSON results."""
