"""TIFF colours tifffile gives as stored, read as the colours they stand for (``io.read_tiff``):
a colour-palette TIFF (indexed colour) as RGB, not as its palette's indices; an uncompressed
(or losslessly compressed) YCbCr TIFF as RGB, not as raw Y, Cb and Cr values. tifffile decodes
a JPEG-compressed YCbCr TIFF to RGB itself.

A table that never darkens from entry to entry (grays, a display stretch, a gamma, ImageJ's
'Green' or 'Fire') is a LUT on measured values, and an ImageJ file's palette is its LUT: both
read as their indices, as before (applying a stretch or gamma had clipped or remapped the
data). An unordered table (an adaptive palette) is applied as RGB, and grays that only darken
(Pillow's palette of a gray image lists the brightest first) as their gray values.
"""

from __future__ import annotations

import warnings

import numpy as np

from .notes import DeblurNote
from .shown import shown_path

PALETTE, YCBCR = 3, 6  # TIFF PhotometricInterpretation
#: compressions tifffile decodes to the stored Y, Cb and Cr values (none, LZW, Deflate,
#: PackBits, LZMA, Zstd); JPEG (6, 7) it decodes to RGB, the others are left as they are
RAW_CODECS = (1, 5, 8, 32773, 32946, 34925, 50000)
#: ITU-R BT.601 luma weights of red, green and blue: the TIFF 6.0 default YCbCrCoefficients
BT601 = (0.299, 0.587, 0.114)


def stored_colours(tif, series, path, axes: str) -> tuple[np.ndarray, str] | None:
    """(the image as RGB, its axes) for a colour-palette or a YCbCr TIFF tifffile reads as
    stored, said in one note; None for any other (read as it is). Raises ValueError, in one
    line, for a YCbCr TIFF that cannot be converted (subsampled chroma, not 8 or 16 bits)."""
    page = series.keyframe
    photometric = int(page.photometric)
    if (lut := palette_table(tif, series, axes)) is not None:
        return _palette(lut, series, path, axes)
    if photometric == YCBCR and int(page.compression) in RAW_CODECS and axes:
        return _ycbcr(series, path, axes)
    return None


def is_lut(colormap) -> bool:
    """Whether the TIFF ``colormap`` (3 x N) is a LUT on measured values, whose indices are
    the data: it never darkens from entry to entry (gray, a display stretch, a gamma, 'Fire'),
    or only darkens in colours (an inverted 'Fire'). Grays that only darken are an inverted
    table of gray values (Pillow's adaptive palette of a gray image: brightest first), and an
    unordered table is a palette of colours: those are applied."""
    lut = np.asarray(colormap, dtype=np.float64)
    steps = np.diff(lut.sum(axis=0))
    if (steps >= 0).all():
        return True
    return bool((steps <= 0).all() and not (lut == lut[:1]).all())


def palette_table(tif, series, axes: str) -> np.ndarray | None:
    """The 3 x N colour table (8 bits where it holds no more) by which a colour-palette
    ``series`` is read: as RGB, or as the gray values of a table of grays; None where its
    indices are read (no palette, an ImageJ file's LUT, a table ordered by brightness:
    ``is_lut``). ``tiff_header`` uses it too, so the header says what the read gives."""
    page = series.keyframe
    if int(page.photometric) != PALETTE or page.colormap is None or not axes:
        return None
    colormap = np.asarray(page.colormap)
    lut = _table(colormap)
    if tif.is_imagej or is_lut(colormap):
        # a LUT: the indices are the measured values (applying a stretch or gamma table had
        # clipped or remapped them, and made 16-bit data 8-bit)
        return None
    return lut


def _palette(lut, series, path, axes: str) -> tuple[np.ndarray, str]:
    colormap = np.asarray(series.keyframe.colormap)
    gray = bool((lut == lut[:1]).all())
    index = _decoded(series, path)
    if gray:  # one gray per entry: its gray values, one channel
        array = np.take(lut[0], index, mode="clip")
    else:  # samples last: RGB as the package reads it
        array = np.moveaxis(np.take(lut, index, axis=1, mode="clip"), 0, -1)
    used = len(np.unique(index)) if index.size <= 1 << 24 else colormap.shape[1]
    kind = "its gray values" if gray else f"RGB ({np.dtype(array.dtype)})"
    warnings.warn(f"{shown_path(path)}: a colour-palette TIFF ({used} colours), read as {kind}, "
                  "not as its palette's indices", DeblurNote, stacklevel=4)
    return array, axes if gray else axes + "S"


def _table(colormap: np.ndarray) -> np.ndarray:
    """The TIFF ``colormap`` (16-bit entries) in 8 bits where it holds no more: writers store
    an 8-bit value v as v * 257 (the TIFF 6.0 way), v * 256 (Pillow) or v."""
    colormap = np.asarray(colormap, dtype=np.uint16)
    if colormap.max() < 256:
        return colormap.astype(np.uint8)
    for factor in (257, 256):
        if not (colormap % factor).any():
            return (colormap // factor).astype(np.uint8)
    return colormap


def _decoded(series, path) -> np.ndarray:
    try:
        return series.asarray()
    except Exception as error:  # tifffile raises several types for broken files
        raise ValueError(f"cannot read {shown_path(path)}: the TIFF is damaged or truncated "
                         f"({error})") from error


def _ycbcr(series, path, axes: str) -> tuple[np.ndarray, str]:
    """A YCbCr image as RGB (TIFF 6.0 section 21: its coefficients and reference black and
    white where the file gives them, else BT.601 full range, as JFIF)."""
    page = series.keyframe
    cannot = f"cannot read {shown_path(path)}: its colours are YCbCr"
    fix = "; save it as RGB TIFF or PNG in the program that made it"
    subsampling = tuple(getattr(page, "subsampling", None) or (1, 1))
    if subsampling != (1, 1):
        raise ValueError(f"{cannot} with chroma subsampled {subsampling[0]} x {subsampling[1]} "
                         f"and not JPEG-compressed, which this reader does not decode{fix}")
    dtype = np.dtype(series.dtype)
    if dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)) or "S" not in axes or \
            int(series.shape[axes.index("S")]) < 3:
        raise ValueError(f"{cannot} of {dtype} with {len(axes)} axes {axes}, which this "
                         f"reader converts only as 8 or 16 bits with 3 samples{fix}")
    stored = np.moveaxis(_decoded(series, path), axes.index("S"), -1)
    full = float(np.iinfo(dtype).max)
    luma = _rationals(page, "YCbCrCoefficients", 3) or BT601
    half = (full + 1) / 2
    black_white = _rationals(page, "ReferenceBlackWhite", 6) or (0, full, half, full, half, full)
    y, cb, cr = (stored[..., i].astype(np.float64) for i in range(3))
    y = (y - black_white[0]) * full / (black_white[1] - black_white[0])
    cb = (cb - black_white[2]) * (half - 1) / (black_white[3] - black_white[2])
    cr = (cr - black_white[4]) * (half - 1) / (black_white[5] - black_white[4])
    red = cr * (2 - 2 * luma[0]) + y
    blue = cb * (2 - 2 * luma[2]) + y
    green = (y - luma[2] * blue - luma[0] * red) / luma[1]
    rgb = np.clip(np.rint(np.stack([red, green, blue], axis=-1)), 0, full).astype(dtype)
    rgb = np.concatenate([rgb, stored[..., 3:]], axis=-1)  # an alpha sample as it was
    warnings.warn(f"{shown_path(path)}: a YCbCr TIFF, its colours converted to RGB",
                  DeblurNote, stacklevel=4)
    return np.moveaxis(rgb, -1, axes.index("S")), axes


def _rationals(page, name: str, count: int) -> tuple[float, ...] | None:
    """The ``count`` rationals of the tag ``name`` (tifffile: numerator, denominator pairs),
    None where it is missing or malformed (the TIFF default is then taken)."""
    tag = page.tags.get(name)
    values = tuple(getattr(tag, "value", ()) or ())
    if len(values) != 2 * count or not all(values[1::2]):
        return None
    found = tuple(n / d for n, d in zip(values[::2], values[1::2]))
    if name == "ReferenceBlackWhite" and not all(found[i + 1] > found[i] for i in (0, 2, 4)):
        return None
    return found
