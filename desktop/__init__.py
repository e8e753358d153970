"""Lectern's Qt desktop application: a thin layer over :mod:`core`."""
