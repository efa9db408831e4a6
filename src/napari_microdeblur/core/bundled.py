"""The bundled weights: one table of ``arch.tag`` names, each with its file, sha256 and licence.

A name resolves to its architecture by the part before the dot (``gran.em_v1`` is a ``gran``),
and the file is checked against its sha256 on every load::

    model, card = load_bundled("gran.em_v1")
    arch, tag = split_name("gran.em_v1")   # ("gran", "em_v1")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from .checkpoint import ModelCard, load_safetensors, read_card

__all__ = [
    "BUNDLED_WEIGHTS",
    "WEIGHTS_DIR",
    "BundledWeights",
    "bundled_path",
    "default_weights_name",
    "list_bundled_weights",
    "load_bundled",
    "split_name",
]

#: folder of the bundled ``*.safetensors`` files.
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


class BundledWeights(BaseModel):
    """One entry of :data:`BUNDLED_WEIGHTS`."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="File name inside the package's weights/ folder.")
    sha256: str = Field(description="Expected sha256 of the file (checked on every load).")
    license: str = Field(description="SPDX licence identifier.")
    description: str = Field(description="What the weights are for.")


#: Bundled weights, named ``arch.tag``, trained on this project's 2-core CPU by
#: ``scripts/train_default.py`` (each file's model card holds data, degradation, steps, metrics).
BUNDLED_WEIGHTS: dict[str, BundledWeights] = {
    "gran.em_v1": BundledWeights(
        file="gran.em_v1.safetensors",
        sha256="707d276602eb5e641ed99c66b30f8f53104140d4dd5ccf87134ecf1691003d38",
        license="NOASSERTION",
        description="GRAN for grayscale electron micrographs (EPFL FIB-SEM training split; "
        "the dataset states no licence)",
    ),
    "gran.fluo_v1": BundledWeights(
        file="gran.fluo_v1.safetensors",
        sha256="a0b8208417717122b8a756d936ae436c0c41ef71e90c0bd2af40f40b72a89939",
        license="BSD-3-Clause",
        description="GRAN for grayscale widefield fluorescence (CellProfiler examples)",
    ),
    "gran.hist_v1": BundledWeights(
        file="gran.hist_v1.safetensors",
        sha256="99796dba366833afbd92c76aacf7e3ddf3a2d1616ba95d3e9c8268a727cb8330",
        license="CC-BY-4.0",
        description="GRAN for RGB brightfield histology, H&E (Kather 2016 tiles)",
    ),
    # trained by scripts/train_psf_aware.py (70 min of this CPU); runs only with a PSF
    "wiener_unet.psf_v1": BundledWeights(
        file="wiener_unet.psf_v1.safetensors",
        sha256="dee18b490077447cd4e698abe7df8dde8c385f6392717d8bbd3b254a58389d9f",
        license="NOASSERTION",
        description="PSF-aware deep Wiener U-Net, grayscale, any modality: give it the PSF "
        "(six sets' training splits; the EPFL FIB-SEM set among them states no licence)",
    ),
}


def split_name(name: str) -> tuple[str, str]:
    """``"arch.tag"`` -> ``(arch, tag)``; ``ValueError`` for a name of another form."""
    arch, dot, tag = str(name).partition(".")
    if not (arch and dot and tag):
        raise ValueError(f"weights name {name!r}; accepted: 'arch.tag', e.g. 'gran.em_v1'")
    return arch, tag


def bundled_path(name: str) -> Path:
    """The file of the bundled weights ``name`` (``ValueError`` if unknown or missing)."""
    entry = BUNDLED_WEIGHTS.get(name)
    if entry is None:
        raise ValueError(f"no bundled weights {name!r}; bundled: {sorted(BUNDLED_WEIGHTS)}")
    path = WEIGHTS_DIR / entry.file
    if not path.is_file():
        raise ValueError(
            f"bundled weights {name!r}: file {path} is missing (reinstall napari-microdeblur)"
        )
    return path


def load_bundled(name: str, *, map_location: Any = "cpu") -> tuple[torch.nn.Module, ModelCard]:
    """Load the bundled weights ``name`` after checking the file's sha256."""
    path = bundled_path(name)
    arch, _ = split_name(name)
    return load_safetensors(
        path,
        arch=arch,
        config=None,
        map_location=map_location,
        expected_sha256=BUNDLED_WEIGHTS[name].sha256,
        source=name,
    )


def list_bundled_weights() -> dict[str, BundledWeights]:
    """The bundled weights table (``arch.tag`` -> entry)."""
    return dict(BUNDLED_WEIGHTS)


def default_weights_name(rgb: bool) -> str | None:
    """The default network: used by `microdeblur deblur` without --method and by napari's
    "Deblur with default model":
    ``gran.hist_v1`` for RGB, ``gran.fluo_v1`` otherwise; failing those, the first bundled
    weights whose card fits the channel count; None when no weights are bundled."""
    table = BUNDLED_WEIGHTS
    preferred = "gran.hist_v1" if rgb else "gran.fluo_v1"
    if preferred in table:
        return preferred
    wanted = 3 if rgb else 1
    for name, entry in table.items():
        try:
            card = read_card(WEIGHTS_DIR / entry.file)
        except (ValueError, OSError):
            continue
        if card.in_channels == wanted and card.spatial_dims == 2:
            return name
    return None
