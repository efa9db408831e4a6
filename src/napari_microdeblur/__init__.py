"""napari-microdeblur: deblur microscopy images with deep networks and classical deconvolution.

Importing the package is cheap on purpose: it must not import torch, Qt or napari (napari
imports it for the plugin's manifest). The Python API is reached from here all the same:
``napari_microdeblur.deblur`` and the names of ``__all__`` import their core module (and
torch) when first used.
"""

__version__ = "0.1.0"

#: the top-level names -> the core module that holds each (imported on first use)
_API = {
    "deblur": "inference",
    "iter_deblur": "inference",
    "MethodSpec": "method",
    "TilingSpec": "tiling_spec",
    "deblur_file": "files",
    "iter_deblur_file": "files",
    "evaluate": "metrics",
    "psnr": "metrics",
    "ssim": "metrics",
    "degrade": "degrade",
    "finetune": "finetune",
    "drive": "progress",
    "DeblurNote": "notes",
    "DeblurWarning": "notes",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    """``name`` of ``_API`` from its core module, kept here once imported."""
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.core.{module}"), name)
    globals()[name] = value  # the next look-up skips this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
