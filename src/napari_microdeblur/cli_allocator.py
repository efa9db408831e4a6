"""glibc allocator tuning for the command line (``core.allocator.tune_allocator``)."""

from __future__ import annotations

from .core.allocator import tune_allocator

__all__ = ["tune_allocator"]
