"""A benchmark or training script of this repository loaded as a module, for tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative: str, name: str | None = None, *, on_path: bool = True):
    """The module of ``ROOT / relative`` (e.g. 'benchmarks/finetune.py') under ``name``;
    ``on_path`` puts its folder on sys.path first, for the siblings it imports (provenance,
    splits)."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    if on_path:
        sys.path.insert(0, str(path.parent))
    spec.loader.exec_module(module)
    return module
