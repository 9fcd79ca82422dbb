"""Atomic outputs for the exporters: the one implementation lives in :mod:`fsr_edge.io`."""

from fsr_edge.io import atomic_output, atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = ["atomic_output", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"]
