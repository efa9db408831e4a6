"""The tile and overlap a deblur runs with: the method's defaults for the image, checked
against its receptive field, its PSF and the image's size (``inference.prepare_deblur``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import tiling
from .axes import Layout
from .devices import resolve_device
from .method import DEFAULT_TILE, Method
from .tiling_spec import TilingSpec

#: the fewest pixels along a spatial axis a deblur runs on (a 2 x 256 image ran with the
#: bundled networks); a PSF's method needs the PSF's size, said by its own check
MIN_SPATIAL = 2


@dataclass(frozen=True)
class TileOptions:
    tile: tuple[int, ...]
    overlap: tuple[int, ...]
    window: str
    batch_size: int
    device: torch.device


def tile_options(method: Method, layout: Layout, spec: TilingSpec) -> TileOptions:
    """Tile and overlap for this method and image, checked against its reach and size."""
    spatial_axes, spatial_shape = layout.spatial_axes, layout.spatial_shape
    if any(s < MIN_SPATIAL for s in spatial_shape):
        # a 3D PSF deconvolves over Z: one plane (a slice of a stack) cannot hold it
        fix = ("; a 3D PSF needs the stack's planes: give the whole stack, or a 2D PSF"
               if len(spatial_axes) == 3 and spatial_shape[0] < 2
               else f"; every method needs at least {MIN_SPATIAL} px along each of "
               f"{spatial_axes} (with a PSF, its size): give a larger image or region")
        raise ValueError(
            f"image is too small: spatial axes {spatial_axes} have size {spatial_shape}{fix}"
        )
    tile = spec.tile
    if tile is None:
        tile = method.tile_for(spatial_shape) if method.tile_for else method.default_tile
        tile = tile or default_network_tile(method, len(spatial_axes))
    footprint = method.psf_shape or (2 * method.halo + 1,) * len(spatial_shape)
    if method.is_classical and any(k > s for k, s in zip(footprint[::-1], spatial_shape[::-1])):
        raise ValueError(
            f"the PSF of {method.name!r} ({' x '.join(map(str, footprint))} px) is larger "
            f"than the image {spatial_axes} {spatial_shape}"
        )
    step = method.size_divisor
    # the tiler rounds tiles down to the network's size divisor: check the tile it will run
    # (--tile 131 ran as 128 against an overlap of 128, and 'at least 130' was wrong advice)
    given = tiling.as_tuple(tile, len(spatial_axes), "tile")
    tile_t = tuple(tiling.rounded_tile(t, step) or t for t in given)
    for t, asked, size in zip(tile_t, given, spatial_shape):
        # an axis that fits in one tile has no seams, whatever the receptive field
        if t <= 2 * method.halo and size > t:
            least = math.ceil((2 * method.halo + 2) / step) * step
            ran = f" (run as {t}, a multiple of {step})" if t != asked else ""
            raise ValueError(
                f"tile={tile}{ran} is smaller than the receptive field of {method.name!r} "
                f"({2 * method.halo + 1} px); use a tile of at least {least}"
            )
    overlap = spec.overlap
    if overlap is None:  # the method's default, but never as large as a small tile, and none
        # along an axis one tile covers (a z-stack of few planes under a laterally wide PSF)
        overlap = tuple(0 if t >= n else min(method.default_overlap, max(2 * method.halo, t // 2))
                        for t, n in zip(tile_t, spatial_shape))
    overlap_t = tiling.as_tuple(overlap, len(spatial_axes), "overlap")
    for t, o in zip(tile_t, overlap_t):
        if o >= t:
            raise ValueError(f"overlap={overlap} must be smaller than tile={tile}")
    return TileOptions(tile_t, overlap_t, spec.window, int(spec.batch_size),
                        resolve_device(spec.device))


def default_network_tile(method: Method, ndim: int) -> int:
    """DEFAULT_TILE, or larger (up to 4x) for a receptive field that would leave no room."""
    wanted = max(DEFAULT_TILE[ndim], 4 * method.halo)
    wanted = min(wanted, 4 * DEFAULT_TILE[ndim])
    return math.ceil(wanted / method.size_divisor) * method.size_divisor
