"""Reading images: TIFF / OME-TIFF through tifffile, other formats through bioio
(``io_bioio``); writing them is ``io_write``.

Large TIFFs are not loaded: ``TiffArray`` reads an uncompressed one region by region with
positional reads (a compressed one: ``tiff_lazy``); ``io_write.open_tiff_output`` writes regions
the same way. Nothing is memory-mapped, so the process's resident memory depends on the tile
size, not the image's.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .declared_sizes import refuse_impossible_ome, refuse_short
from .notes import DeblurNote, DeblurWarning
from .ome_datasets import own_series
from .pixel_units import pixel_size_from_tiff
from .positioned_io import open_fd, pread
from .shown import first_line, shown_path
from .slide_tiff import SLIDE_SUFFIXES, aperio_pixel_size, note_slide_images
from .tiff_colour import stored_colours
from .tiff_header import open_own_image, states_axes, tiff_series_axes
from .tiff_lazy import open_compressed
from .tiff_metadata import tiff_extras

TIFF_SUFFIXES = (".tif", ".tiff", *SLIDE_SUFFIXES)  # slides: read only (``slide_tiff``)
ZARR_SUFFIXES = (".zarr", ".ome.zarr")
ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray")  # Zarr v3, v2 group, v2 array
AXES_PATTERN = re.compile(r"^[TCZYXS]+$")


@dataclass
class ImageData:
    """An image with what is known about it: axes and physical pixel size (um per pixel)."""

    array: object  # numpy array, TiffArray, dask array, ...
    axes: str
    pixel_size: dict[str, float] = field(default_factory=dict)
    path: str | None = None
    # what ``axes`` assumed, where the file does not say and the guess is in doubt (a first
    # axis of 2 to 4: Z planes or channels?); for the caller to show when it uses them
    note: str | None = None
    # what else the file says that an output can keep: channel names, time interval, ImageJ
    # channel colours (``tiff_metadata.tiff_extras``); for ``io_write.open_output(metadata=)``; and
    # 'microdeblur': how the file was made, if this package made it (``provenance``)
    metadata: dict = field(default_factory=dict)
    # the file names its axes itself (ImageJ, OME, tifffile's description; OME-Zarr): an axes
    # string given in their place that differs is a contradiction (``files.image_axes``)
    stated: bool = False


def _check_input_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input file {shown_path(path)} does not exist")
    if path.is_dir():
        from .io_bioio import not_read  # imports this module

        # an N5 container is a folder too: 'give an image file' led nowhere
        why = not_read(path)
        raise ValueError(f"cannot read {shown_path(path)}: {why}" if why else
                         f"input {shown_path(path)} is a directory; give an image file")
    return path


def drop_alpha(array: np.ndarray, axes: str, path, keep=False) -> tuple[np.ndarray, str]:
    """Grayscale + alpha (2 samples) as grayscale, RGBA as RGB, warning in one line; as it is
    with ``keep`` (a deblur passes alpha through). Focus scores and training need intensities
    only: an alpha plane read as a second channel halved the focus score's variance."""
    if keep or not axes.endswith("S") or array.shape[-1] not in (2, 4):
        return array, axes
    gray = array.shape[-1] == 2
    warnings.warn(f"{path}: alpha channel dropped, read as {'grayscale' if gray else 'RGB'}",
                  DeblurNote, stacklevel=3)
    # a slice, not a copy: a lazy (dask) array from bioio stays lazy
    return (array[..., 0], axes[:-1]) if gray else (array[..., :3], axes)


def is_tiff(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(TIFF_SUFFIXES)


class TiffArray:
    """Read-only, array-like view of an uncompressed TIFF image, read region by region.

    Indexing with a tuple of ints and slices returns a numpy array, like numpy would.
    """

    #: a region costs one positioned read, no decoding: the tiler reads it tile by tile
    #: (``tiling.holds_plane``), which keeps a file-to-file run's memory bounded
    cheap_regions = True

    def __init__(self, path: str | os.PathLike, offset: int, shape: tuple, dtype: np.dtype,
                 byteorder: str = "="):
        self.path = str(path)
        self.offset = int(offset)
        self.shape = tuple(int(s) for s in shape)
        # the bytes are in the file's order (ImageJ saves big-endian); regions come back native
        self._file_dtype = np.dtype(dtype).newbyteorder(byteorder)
        self.dtype = np.dtype(dtype).newbyteorder("=")
        self.ndim = len(self.shape)
        self.size = int(np.prod(self.shape, dtype=object))  # Python ints: no int64 wrap
        self._fd = open_fd(self.path)

    def __del__(self):
        with contextlib.suppress(Exception):
            os.close(self._fd)

    def __array__(self, dtype=None, copy=None):
        data = self[(slice(None),) * self.ndim]
        return data if dtype is None else data.astype(dtype)

    def __getitem__(self, key) -> np.ndarray:
        ranges, drop = normalise_key(key, self.shape)
        # Trailing axes read whole (selected whole, or small such as RGB samples) go into one
        # contiguous run per index of the axes before them: one pread per 3 bytes of an RGB
        # row made a 4096 x 4096 RGB file read at 0.1 MP/s.
        k = block_start(ranges, self.shape, small=SMALL_AXIS)
        span = ranges[k][-1] - ranges[k].start + 1 if len(ranges[k]) else 0
        inner = int(np.prod(self.shape[k + 1 :], dtype=np.int64))
        strides = np.cumprod((1,) + self.shape[:0:-1])[::-1] * self.dtype.itemsize
        block = np.empty((*(len(r) for r in ranges[:k]), span, *self.shape[k + 1 :]),
                         dtype=self.dtype)
        for out_index in itertools.product(*(range(len(r)) for r in ranges[:k])):
            pos = sum(int(r[i]) * st for r, i, st in zip(ranges[:k], out_index, strides[:k]))
            pos += ranges[k].start * strides[k]
            raw = pread(self._fd, span * inner * self.dtype.itemsize, self.offset + pos)
            row = np.frombuffer(raw, dtype=self._file_dtype)
            block[out_index] = row.reshape(span, *self.shape[k + 1 :])
        # the selection inside the block: a step along axis k, sub-ranges of the small axes
        select = [slice(None)] * k + [slice(None, None, ranges[k].step)]
        select += [slice(r.start, r.stop, r.step) if r.step > 0 else list(r)
                   for r in ranges[k + 1 :]]
        out = block[tuple(select)] if span else block
        return np.ascontiguousarray(out).reshape(
            [len(r) for i, r in enumerate(ranges) if i not in drop])


SMALL_AXIS = 16  # trailing axes up to this size are read whole and selected in memory


def block_start(ranges: list[range], shape: tuple, small: int = 0) -> int:
    """The first axis of the trailing block moved in one run per index of the axes before it:
    every axis after it is selected whole with step 1 (or, with ``small``, is that small)."""
    k = len(shape) - 1
    while k > 0:
        r, n = ranges[k], shape[k]
        whole = len(r) == n and r.step == 1
        if not (whole or n <= small):
            break
        k -= 1
    return k


def normalise_key(key, shape) -> tuple[list[range], set[int]]:
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (len(shape) - len(key) + 1) + key[i + 1 :]
    key = key + (slice(None),) * (len(shape) - len(key))
    ranges, drop = [], set()
    for axis, (k, n) in enumerate(zip(key, shape)):
        if isinstance(k, (int, np.integer)):
            k = int(k) + n if k < 0 else int(k)
            if not 0 <= k < n:
                raise IndexError(f"index {k} is out of range for axis {axis} of size {n}")
            ranges.append(range(k, k + 1))
            drop.add(axis)
        elif isinstance(k, slice):
            ranges.append(range(*k.indices(n)))
        else:
            raise TypeError(f"TiffArray supports int and slice indices, not {type(k).__name__}")
    return ranges, drop


def read_tiff(path: str | os.PathLike, *, lazy: bool = True, keep_alpha=False,
              opened=None, for_output: bool = False) -> ImageData:
    """Read a TIFF / OME-TIFF (``keep_alpha``: see ``read_image``), lazily where ``lazy``:
    uncompressed as a TiffArray, compressed (large, zarr installed) as ``tiff_lazy``'s.
    ``opened``: ``path`` as an open ``tifffile.TiffFile``, read from, not opened again (each
    opening parses the file's OME-XML again), and left open for its caller to close.
    ``for_output``: see ``read_image``."""
    path = _check_input_path(path)
    tif = opened if opened is not None else _open_tiff(path)
    with contextlib.nullcontext() if opened is not None else tif:
        _refuse_partial(tif, path)  # before tif.series: its lines about the missing planes
        refuse_impossible_ome(tif, path)  # also before: tifffile lists each declared plane
        if not tif.series:
            raise ValueError(f"cannot read {shown_path(path)}: the TIFF contains no image")
        series = own_series(tif)[0]  # a position's file: its own image, not Image 0
        warn_other_series(tif, path)
        if len(series.levels) > 1:  # a pyramid: said in the same line as an OME-Zarr's
            from .zarr_metadata import note_levels

            note_levels(path, {"datasets": series.levels}, series.shape, for_output)
        axes = tiff_series_axes(series)
        pixel_size = aperio_pixel_size(tif, series) or pixel_size_from_tiff(
            tif, series.pages[0], axes)
        offset = series.dataoffset
        has_alpha = axes.endswith("S") and marks_alpha(series)
        if offset is not None:  # else found only when the tiles are read
            refuse_short(path, offset, series.shape, series.dtype)
        # a colour palette or YCbCr as RGB (tifffile gives indices, raw Y/Cb/Cr): read whole
        array = stored_colours(tif, series, path, axes)
        if array is not None:
            array, axes = array
            has_alpha = axes.endswith("S") and marks_alpha(series)
            array, axes = drop_alpha(array, axes, path, keep_alpha or not has_alpha)
        elif lazy and (keep_alpha or not has_alpha):  # an alpha dropped: read whole
            array = (TiffArray(path, offset, series.shape, series.dtype, tif.byteorder)
                     if offset is not None else open_compressed(series, path))
        if array is None:
            try:
                data = series.asarray()
            except Exception as error:  # tifffile raises several types for broken files
                raise ValueError(f"cannot read {shown_path(path)}: the TIFF is damaged or "
                                 f"truncated ({error})") from error
            array, axes = drop_alpha(data, axes, path, keep_alpha or not has_alpha)
        if keep_alpha and not has_alpha:
            axes = samples_as_channels(axes, array.shape)
        note = _tiff_axes_note(tif, series.axes, axes, array.shape)
        extras = tiff_extras(tif)
        stated = bool(axes) and states_axes(tif, series)
    return ImageData(array=array, axes=axes, pixel_size=pixel_size, path=str(path), note=note,
                     metadata=extras, stated=stated)


def _refuse_partial(tif, path: Path) -> None:
    """Refuse a TIFF still being written (or cut short): an ImageJ stack holding 3 of its 5
    planes was read as one plane, with only tifffile's warnings (``tiff_complete``; its IFD
    chain and tags only, no pixels)."""
    from .tiff_complete import open_incomplete_reason

    why = open_incomplete_reason(tif, path)
    if why:
        raise ValueError(f"cannot read {shown_path(path)}: it looks partly written or truncated "
                         f"({why}): if it is still being written, wait until it is complete; if "
                         "it was cut short (a copy, an acquisition stopped early), save the "
                         "planes it holds again, e.g. in Fiji")


def _open_tiff(path: Path):
    try:  # a BinaryOnly position's file: with its dataset's OME-XML (``ome_datasets``)
        return open_own_image(path)
    except Exception as error:  # tifffile raises several types for broken files
        raise ValueError(f"cannot read {shown_path(path)}{not_tiff_reason(path, error)}"
                         ) from error


#: First bytes of the formats a file named .tif may hold instead, their name and suffix
OTHER_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG", ".png"), (b"\xff\xd8\xff", "JPEG", ".jpg"),
                    (b"BM", "BMP", ".bmp"), (b"\x93NUMPY", "NumPy", ".npy"),
                    (b"ZISRAWFILE", "CZI", ".czi"))


def not_tiff_reason(path: Path, error: Exception) -> str:
    """What follows 'cannot read PATH' where tifffile refused ``path``: that it is empty, or
    another format (by its first bytes) to rename, else tifffile's ``error``. tifffile said
    "not a TIFF file: header=b'\\x89PNG'" of a PNG named .tif and "header=b''" of an empty one."""
    try:
        with open(path, "rb") as file:
            head = file.read(16)
    except OSError:
        head = None
    if head == b"":
        return ": the file is empty (0 bytes); save or copy the image again"
    for signature, name, suffix in OTHER_SIGNATURES if head else ():
        if head.startswith(signature):
            return (f" as TIFF: it is a {name} file named {path.suffix}; rename it to "
                    f"{path.stem}{suffix}")
    text = _text_start(head) if head else None
    if text is not None:  # a saved error page or link: tifffile said "header=b'<!DO'"
        kind = "a web page (HTML)" if text.startswith("<") else "text"
        return (f": it is not an image but {kind}, beginning {text!r}; download or save the "
                "image again")
    return f" as TIFF: {error}"


def _text_start(head: bytes) -> str | None:
    """The first word of ``head`` when it reads as text (no image format starts so), else None."""
    try:
        text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8").lstrip()
    except UnicodeDecodeError:
        return None
    if not text or not all(c.isprintable() or c in "\r\n\t" for c in text):
        return None
    return text.split()[0][:12]


def shape_in_axes(path, axes: str, shape) -> tuple[int, ...]:
    """``shape`` of the file written at ``path`` in the order of ``axes`` (its input's): a TIFF
    is written in ImageJ's order, and the command line said "on CZYX (3, 2, 32, 32)" of a
    (2, 3, 32, 32) CZYX input. ``shape`` as it is where the file's axes are other letters."""
    try:
        with warnings.catch_warnings():  # read again for its axes only: its notes were said
            warnings.simplefilter("ignore")
            written = read_image(path, lazy=True, keep_alpha=True).axes
    except (OSError, ValueError):
        return tuple(shape)
    if sorted(written) != sorted(axes) or len(written) != len(shape):
        return tuple(shape)
    return tuple(int(shape[written.index(a)]) for a in axes)


def nonfinite_error(array, shape: tuple[int, ...] | None) -> ValueError:
    """The refusal of an image (of ``shape``; None: ``array`` is one tile of it) whose
    ``array`` (all of it, a sample or a tile) holds NaN or Inf pixels: how many, and a fix for
    every route (the command line has no np.nan_to_num; it said "replace them (e.g.
    np.nan_to_num)" and no count)."""
    count = int(array.size - np.count_nonzero(np.isfinite(array)))
    size = array.size if shape is None else int(np.prod(shape))
    of = (f"in a tile of {size}" if shape is None else f"of {size}" if array.size == size
          else f"in {array.size} read of its {size}")
    return ValueError(
        f"image holds {count} NaN or Inf pixel{'s' * (count != 1)} ({of}); deblurring needs "
        "finite intensities: replace them in the image (in its file, saved again, or with "
        "np.nan_to_num in Python) and deblur it again")


def warn_other_series(tif, path: Path) -> None:
    """A file of several images (OME positions, a thumbnail page) is read as its first: say so,
    or a deblur of a multi-position file silently gave the first position alone. Those of a
    dataset's other files are not this file's (``own_series``): read from those files."""
    count = len(held := own_series(tif))
    if count > 1 and not note_slide_images(tif, path):
        shape = " x ".join(map(str, held[0].shape))
        warnings.warn(f"{path}: the file holds {count} images; only the first ({shape}) is "
                      "read: save each image as its own file to process the others",
                      DeblurWarning, stacklevel=4)


def _tiff_axes_note(tif, found: str, axes: str, shape) -> str | None:
    """``axes.guess_note`` where tifffile found no axes in the file (Q: unknown, I: a page
    sequence, both read as Z) or planar samples it reads as RGB by their colour tag alone."""
    from .axes import guess_note

    described = tif.is_ome or tif.is_imagej or "axes" in ((tif.shaped_metadata or ({},))[0])
    if not axes or not found or found[0] not in "QIS" or (found[0] == "S" and described):
        return None
    return guess_note(shape, axes, dtype=tif.series[0].dtype)


def marks_alpha(series) -> bool:
    """Whether the last sample of a TIFF series is alpha: marked so by the file, or the 4th of
    RGB. An unmarked extra sample of a grayscale image is data (two channels saved Y, X, 2 had
    the second dropped as 'alpha')."""
    page = series.keyframe
    extra = [int(e) for e in (page.extrasamples or ())]
    if series.shape[-1] not in (2, 4) or not extra:
        return False
    return extra[-1] in (1, 2) or (int(page.photometric) == 2 and series.shape[-1] == 4)


def samples_as_channels(axes: str, shape) -> str:
    """``axes`` with an S axis of 2 or 4 samples the file does not mark as colour + alpha
    (two channels saved Y, X, 2) as C: the core reads an S axis of 2 or 4 as having alpha."""
    if axes.endswith("S") and int(shape[-1]) in (2, 4) and "C" not in axes:
        return axes[:-1] + "C"
    return axes


def _read_with_bioio(path: Path, keep_alpha: bool = False) -> ImageData:
    """Other formats through bioio, else aicsimageio (``io_bioio``: neither is required)."""
    from .io_bioio import read_with_bioio  # imports this module: loaded on first use

    return read_with_bioio(path, keep_alpha)


def is_zarr(path: str | os.PathLike) -> bool:
    """A .zarr path (a trailing separator of either kind: Windows' vol.zarr\\ from tab
    completion), or a Zarr group or array inside one (a plate's field, plate.zarr/A/1/0)."""
    if str(path).rstrip("/\\").lower().endswith(ZARR_SUFFIXES):
        return True
    # os.path's, not Path's: a folder that cannot be listed raised EACCES (is then not Zarr)
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, name))
                                       for name in ZARR_MARKERS)


def read_zarr(path: str | os.PathLike, for_output: bool = False) -> ImageData:
    """A Zarr array or an OME-Zarr image (its full-resolution level), opened lazily; channel
    names and time interval in ``metadata`` (``zarr_metadata``); ``for_output``: see
    ``read_image``."""
    from . import zarr_metadata as zm

    try:
        import zarr
    except ImportError:
        raise ValueError(
            f"cannot read {shown_path(path)}: Zarr support needs pip install "
            "'napari-microdeblur[distributed]' (zarr)"
        ) from None
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as error:
        raise ValueError(f"cannot read {shown_path(path)} as Zarr: {error}") from error
    axes, pixel_size, extras = "", {}, {}
    if not hasattr(node, "shape"):  # a group: OME-Zarr multiscales
        node = zm.image_group(node, path)  # bioformats2raw's first series; plates refused
        ome = zm.ome_attrs(node.attrs)
        multiscales = ome.get("multiscales")
        datasets = multiscales[0].get("datasets") if multiscales else None
        if not datasets or not isinstance(datasets[0], dict) or "path" not in datasets[0]:
            raise ValueError(f"{shown_path(path)} is a Zarr group without OME multiscales "
                             "metadata naming its levels (multiscales[0].datasets[].path)")
        level = datasets[0]
        names = [a["name"] if isinstance(a, dict) else a for a in multiscales[0].get("axes", [])]
        axes = "".join(n.upper() for n in names)
        pixel_size, interval = zm.multiscale_sizes(multiscales[0], axes)
        node = _zarr_level(node, level["path"], path)
        zm.note_levels(path, multiscales[0], node.shape, for_output)
        extras = zm.zarr_extras(ome, axes, node.shape, interval, pixel_size)  # its position too
    else:
        axes = "".join(str(a).upper() for a in node.attrs.get("axes", ""))
    zm.refuse_empty_chunks(node, path)
    if not AXES_PATTERN.match(axes or "-") or len(axes) != node.ndim:
        axes, extras = "", {}
    return ImageData(array=node, axes=axes, pixel_size=pixel_size, path=str(path),
                     metadata=extras, stated=bool(axes))


def _zarr_level(group, name, path):
    """The array an OME-Zarr's multiscales names as its first level, refused in one line where
    the store holds none or a group there (an output written inside the store had made its
    level '0' a group: AttributeError 'Group' object has no attribute 'shape')."""
    where = f"its first level {name!r} (multiscales datasets[0].path)"
    try:
        node = group[name]
    except KeyError:
        raise ValueError(f"cannot read {shown_path(path)}: {where} is not in the store; the "
                         "store is incomplete or damaged: write it again") from None
    if not hasattr(node, "shape"):
        raise ValueError(f"cannot read {shown_path(path)}: {where} is a Zarr group, not an "
                         "array; the store is damaged: write it again, or give the path of "
                         "the image inside it")
    return node


def read_image(path: str | os.PathLike, *, lazy: bool = True, keep_alpha=False,
               for_output: bool = False) -> ImageData:
    """Read any supported image. TIFF and Zarr are built in; PNG/JPEG/BMP through imageio (a
    gray palette as gray: ``gray_palette``); NumPy .npy (``read_npy``); the rest via bioio (or
    aicsimageio). An alpha channel is dropped (``drop_alpha``: scores and training need
    intensities) unless ``keep_alpha``, which deblurring gives to keep it as the
    last S sample (the core passes it through); extra TIFF samples not marked as alpha then
    read as channels (``samples_as_channels``). ``for_output``: a deblur writes an output of
    it (a pyramid's note then says the output holds level 0 only; `evaluate` writes none)."""
    if is_zarr(path):
        if not Path(path).exists():
            raise FileNotFoundError(f"input {shown_path(path)} does not exist")
        return read_zarr(path, for_output)
    path = _check_input_path(path)
    if is_tiff(path):
        return read_tiff(path, lazy=lazy, keep_alpha=keep_alpha, for_output=for_output)
    if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"):
        import imageio.v3 as iio

        try:
            array = gray_palette(path)
            array = png_16bit_colour(path) if array is None else array
            array = np.asarray(iio.imread(path)) if array is None else array
        except Exception as error:
            # imageio's 'no backend' message goes on over lines of plugins to install
            raise ValueError(f"cannot read {shown_path(path)}: {first_line(error)}") from error
        array, axes = drop_alpha(array, "YX" if array.ndim == 2 else "YXS", path, keep_alpha)
        return ImageData(array=array, axes=axes, path=str(path), pixel_size=png_pixel_size(path),
                         metadata=png_record(path))
    if path.suffix.lower() == ".npy":
        return read_npy(path)
    return _read_with_bioio(path, keep_alpha)


def gray_palette(path: Path) -> np.ndarray | None:
    """A palette image (PNG, BMP) whose colours are all gray, as its gray values (uint8); None
    for any other (a coloured palette, one with transparency: imageio's RGB(A)). imageio gave
    a gray palette's 8 bits as RGB, which ran a fluorescence image on the brightfield path;
    a palette TIFF reads as gray."""
    try:
        from PIL import Image
    except ImportError:  # imageio's own plugins read it, as RGB
        return None
    with Image.open(path) as image:
        if image.mode != "P" or "transparency" in image.info:
            return None
        palette = np.asarray(image.getpalette() or [], np.uint8).reshape(-1, 3)
        if not len(palette) or (palette != palette[:, :1]).any():
            return None
        index = np.asarray(image)
    lut = np.zeros(256, np.uint8)
    lut[: len(palette)] = palette[:256, 0]
    return lut[index]


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_16bit_colour(path: Path) -> np.ndarray | None:
    """A 16-bit PNG in colour or with alpha, read with its 16 bits (imagecodecs' libpng);
    None for any other file. Pillow, under imageio, gave such a file as 8 bits."""
    with open(path, "rb") as handle:
        head = handle.read(26)
    # IHDR is the first chunk: bit depth at byte 24, colour type at 25 (2 RGB, 4 gray + alpha,
    # 6 RGBA)
    if head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR" or head[24:25] != b"\x10":
        return None
    if head[25] not in (2, 4, 6):
        return None
    import imagecodecs

    return np.asarray(imagecodecs.png_decode(path.read_bytes()))


def png_record(path: Path) -> dict:
    """``{'microdeblur': record}`` where a PNG holds this plugin's record of how it was made
    (a tEXt chunk, ``io_write.png_bytes``); empty for any other image or text."""
    from .provenance import RECORD_KEY, parse_record

    try:
        from PIL import Image

        with Image.open(path) as image:
            text = image.info.get(RECORD_KEY) if image.format == "PNG" else None
    except (ImportError, OSError):
        return {}
    record = parse_record(text)
    return {RECORD_KEY: record} if record else {}


def png_pixel_size(path: Path) -> dict[str, float]:
    """The pixel size (um) a PNG states in metres (pHYs, as ``io_write.png_bytes`` writes it);
    none for a print resolution (72 dpi: 353 um, ``pixel_units.PLAUSIBLE_UM``) or another
    format."""
    from .pixel_units import PLAUSIBLE_UM

    try:
        from PIL import Image

        with Image.open(path) as image:
            # Pillow gives pHYs in metres as dots per inch, and other units not at all
            dpi = image.info.get("dpi") if image.format == "PNG" else None
    except (ImportError, OSError):
        return {}
    if not dpi or min(dpi) <= 0:
        return {}
    sizes = {"Y": 25400.0 / float(dpi[1]), "X": 25400.0 / float(dpi[0])}
    low, high = PLAUSIBLE_UM
    return sizes if all(low <= v <= high for v in sizes.values()) else {}


def read_npy(path: Path) -> ImageData:
    """A NumPy .npy array of numbers (pickled objects are refused, never loaded), read region
    by region as an uncompressed TIFF is; .npy names no axes: they are guessed, as for a
    TIFF without metadata."""
    from numpy.lib import format as npy

    v2 = npy.read_array_header_2_0  # 3.0 is 2.0 with UTF-8 field names (refused below anyway)
    readers = {(1, 0): npy.read_array_header_1_0, (2, 0): v2, (3, 0): v2}
    try:
        with open(path, "rb") as handle:
            version = npy.read_magic(handle)
            if version not in readers:  # np.load would read all of it to say so
                raise ValueError(f"format version {version} is not one of {list(readers)}")
            header = readers[version](handle)
            offset = handle.tell()
    except ValueError as error:  # not a .npy (no magic string), or a damaged header
        raise ValueError(f"cannot read {shown_path(path)} as a NumPy .npy file: "
                         f"{first_line(error)}") from error
    if not np.dtype(header[2]).hasobject:  # Fortran order too
        refuse_short(path, offset, header[0], header[2])
    if header[1]:  # Fortran order: read whole
        array = _load_npy(path)
        shape, dtype = array.shape, array.dtype
    else:
        shape, dtype = header[0], np.dtype(header[2])
    if dtype.hasobject or dtype.names or dtype.kind not in "biuf":
        raise ValueError(f"cannot read {shown_path(path)}: it holds {dtype} values, not an "
                         "image's numbers; save the image as a number array or a TIFF")
    if len(shape) < 2:
        raise ValueError(f"cannot read {shown_path(path)}: its array has shape {shape}; an "
                         "image needs 2 or more dimensions")
    if not header[1]:
        array = TiffArray(path, offset, shape, dtype, dtype.byteorder)
    return ImageData(array=array, axes="", path=str(path))


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.ascontiguousarray(np.load(path, allow_pickle=False))
    except ValueError as error:  # pickled objects, a damaged file
        raise ValueError(f"cannot read {shown_path(path)}: {first_line(error)}; save the image "
                         "as a number array or a TIFF") from error
