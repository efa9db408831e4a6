"""A TIFF's first image as ``io.read_tiff`` describes it, from its headers only: no pixel is
decoded (``io.read_image`` decodes a small or, without zarr, any compressed TIFF whole).

Read by ``microdeblur info`` and by the docks for a layer napari opened from a file
(``_widgets/_layer_file``: its pixel sizes and stated axes)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .declared_sizes import refuse_impossible_ome


@dataclass
class TiffHeader:
    axes: str  # as read_tiff names them ('' where tifffile cannot name them all)
    shape: tuple[int, ...]
    dtype: np.dtype
    pixel_size: dict[str, float]  # um
    stated: bool  # ImageJ, OME or tifffile's description names every axis (no Q, no I)
    contiguous: bool  # uncompressed, one block: io.read_tiff reads it lazily itself
    metadata: dict = field(default_factory=dict)  # tiff_metadata.tiff_extras: see extras=


def tiff_series_axes(series) -> str:
    """A tifffile series' axes as this package names them: tifffile's unknown axes I and Q
    as Z; "" where the result is no axes string it accepts (a letter twice, say)."""
    from .io import AXES_PATTERN  # here: io imports this module

    axes = series.axes.replace("I", "Z").replace("Q", "Z")
    return axes if AXES_PATTERN.match(axes) and len(set(axes)) == len(axes) else ""


def states_axes(tif, series) -> bool:
    """Whether the file names every axis of ``series`` itself: ImageJ, OME or tifffile's own
    description, with no axis tifffile could not name (Q unknown, I a page sequence)."""
    described = tif.is_ome or tif.is_imagej or "axes" in ((tif.shaped_metadata or ({},))[0])
    return bool(described) and not set(series.axes) & set("QI")


def read_tiff_header(path, *, extras: bool = False) -> TiffHeader:
    """The header of ``path``'s first image (``tiff_header``); of a long OME-XML, from its
    first Image's part only (``ome_first_image``: tifffile's parse of all of it held Python's
    lock for 1.2 s on 41 MB). Raises what tifffile raises for a file it cannot read."""
    import tifffile

    from .ome_first_image import first_ome_series

    with tifffile.TiffFile(path) as tif:
        refuse_impossible_ome(tif, path)  # before tifffile builds any series
        with first_ome_series(tif) as first:
            series = first if first is not None else tif.series[0]
            return series_header(tif, series, extras=extras)


def tiff_header(tif, *, extras: bool = False) -> TiffHeader:
    """The header of an open ``tifffile.TiffFile``'s first image; ``extras``: its channel
    names, time interval and record too (``tiff_metadata.tiff_extras``) where its pixels are
    not contiguous (a contiguous file is read lazily by io.read_tiff, which reads them itself:
    parsing them here too took seconds on a large OME-XML). Its whole OME-XML is parsed, as
    io.read_tiff of the same ``tif`` parses it (``read_tiff_header`` parses less). Raises what
    tifffile raises for a file it cannot read."""
    refuse_impossible_ome(tif, tif.filehandle.path)  # before tifffile builds its series
    return series_header(tif, tif.series[0], extras=extras)


def series_header(tif, series, *, extras: bool = False) -> TiffHeader:
    """``tiff_header`` of the image ``series`` of the open ``tifffile.TiffFile`` ``tif``.
    Unmarked extra samples (2 or 4) are channels, as io.read_tiff keeps them."""
    from .io import marks_alpha, samples_as_channels
    from .pixel_units import pixel_size_from_tiff
    from .slide_tiff import aperio_pixel_size
    from .tiff_colour import palette_table
    from .tiff_metadata import tiff_extras

    axes = tiff_series_axes(series)
    sizes = aperio_pixel_size(tif, series) or pixel_size_from_tiff(tif, series.pages[0], axes)
    stated = bool(axes) and states_axes(tif, series)
    if axes.endswith("S") and not marks_alpha(series):
        axes = samples_as_channels(axes, series.shape)
    shape, dtype = tuple(int(n) for n in series.shape), np.dtype(series.dtype)
    if (table := palette_table(tif, series, axes)) is not None:  # as io.read_tiff reads it
        dtype = table.dtype
        if not (table == table[:1]).all():  # colours: RGB samples last
            axes, shape = axes + "S", (*shape, 3)
    contiguous = series.dataoffset is not None
    return TiffHeader(axes, shape, dtype, sizes, stated, contiguous,
                      tiff_extras(tif) if extras and not contiguous else {})


