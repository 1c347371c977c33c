"""Small numeric helpers."""

__version__ = "0.3.0"
