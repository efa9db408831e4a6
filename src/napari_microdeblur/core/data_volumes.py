"""Patches of z-stacks for the 3D training of the PSF-CycleGAN (the only 3D regime).

:class:`UnpairedVolumes` takes z-stacks without partners (blurry or sharp), normalises each
as inference normalises an image (percentiles 0.1 / 99.9 over the whole stack) and draws
cubic patches ``(n, C, patch, patch, patch)`` with flips along every axis and 90-degree turns
in YX (never turns that mix Z with Y or X: the axial sampling usually differs). Like the 2D
sources it refuses NaN, constant stacks and stacks smaller than the patch, naming the stack.
"""

from __future__ import annotations

import numpy as np

from .axes import check_axes
from .data import PatchSource
from .pairs import as_array, check_plane, normalise_plane

__all__ = ["UnpairedVolumes"]


def _as_volume(image, axes: str | None, name: str) -> np.ndarray:
    """One z-stack as float32 (C, Z, Y, X); axes ZYX or CZYX/ZCYX (others refused)."""
    array = as_array(image, name)
    ax = check_axes(axes, array.shape) if axes or array.ndim != 3 else "ZYX"
    if sorted(ax) not in (sorted("ZYX"), sorted("CZYX")):
        raise ValueError(f"{name} has axes {ax!r} {array.shape}; accepted: one z-stack, ZYX "
                         "or with a channel axis C")
    order = [ax.index(a) for a in "CZYX" if a in ax]
    volume = np.transpose(array, order).astype(np.float32)
    return volume if "C" in ax else volume[None]


class UnpairedVolumes(PatchSource):
    """Cubic patches of z-stacks without partners; ``spatial_dims`` is 3."""

    spatial_dims = 3
    degradation = ""

    def __init__(self, volumes, *, axes: str | None = None, augment: bool = True,
                 description: str = ""):
        if isinstance(volumes, np.ndarray) or hasattr(volumes, "shape"):
            volumes = [volumes]
        if not isinstance(volumes, (list, tuple)) or not volumes:
            raise ValueError("volumes must be a z-stack or a non-empty list of z-stacks")
        self.volumes = []
        for i, v in enumerate(volumes):
            volume = _as_volume(v, axes, f"volumes[{i}]")
            check_plane(volume, f"volumes[{i}]")
            self.volumes.append(normalise_plane(volume)[0])
        channels = {v.shape[0] for v in self.volumes}
        if len(channels) != 1:
            raise ValueError(f"volumes have different channel counts {sorted(channels)}")
        self.channels = channels.pop()
        self.shapes = [v.shape[1:] for v in self.volumes]
        self.augment = bool(augment)
        self.description = description or f"{len(self.volumes)} unpaired z-stacks"

    def check_patch(self, patch: int) -> None:
        """``ValueError`` unless every stack is at least ``patch`` voxels along Z, Y and X."""
        small = [s for s in self.shapes if min(s) < patch]
        if small:
            smallest = min(min(s) for s in self.shapes)
            raise ValueError(f"patch={patch} is larger than {len(small)} of the z-stacks "
                             f"(smallest {min(small, key=min)}, ZYX); accepted: a patch of at "
                             f"most {smallest} voxels, or larger stacks")

    def sample_inputs(self, rng: np.random.Generator, n: int, patch: int) -> np.ndarray:
        sizes = np.array([np.prod(s) for s in self.shapes], dtype=np.float64)
        out = []
        for _ in range(n):
            i = int(rng.choice(len(sizes), p=sizes / sizes.sum()))
            corner = [int(rng.integers(0, s - patch + 1)) for s in self.shapes[i]]
            cube = self.volumes[i][(slice(None), *(slice(c, c + patch) for c in corner))]
            if self.augment:
                flips = [axis for axis in (1, 2, 3) if rng.integers(2)]
                cube = np.rot90(np.flip(cube, flips) if flips else cube, int(rng.integers(4)),
                                axes=(2, 3))
            out.append(cube)
        return np.ascontiguousarray(np.stack(out), dtype=np.float32)

    sample_targets = sample_inputs

    def validation_pairs(self) -> list:
        raise ValueError("UnpairedVolumes has no validation pairs: 3D models are trained "
                         "without validation (val=None)")
