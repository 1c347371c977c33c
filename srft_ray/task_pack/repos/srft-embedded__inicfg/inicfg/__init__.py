"""A tiny INI reader."""

__version__ = "0.9.2"
