"""Compatibility names: the weights code lives in :mod:`.checkpoint` (safetensors files and
their model cards), :mod:`.bundled` (the ``arch.tag`` table) and :mod:`.export` (BioImage
Model Zoo). New code imports those; this module forwards every name to them on access, so a
test that patches ``bundled.BUNDLED_WEIGHTS`` is seen here too."""

from __future__ import annotations

from importlib import import_module

_HOMES = ("checkpoint", "bundled", "export")

__all__ = sorted(
    {
        "BUNDLED_WEIGHTS", "CARD_KEY", "BundledWeights", "ModelCard", "WEIGHTS_DIR",
        "check_channels", "default_weights_name", "export_bioimageio", "list_bundled_weights",
        "list_user_weights", "load_model", "read_card", "save_weights", "sha256_file",
    }
)


def __getattr__(name: str):
    for home in _HOMES:
        # __spec__.parent: CPython stops setting __package__ (deprecated, 3.15)
        module = import_module(f"{__spec__.parent}.{home}")
        if name in module.__all__:
            return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
