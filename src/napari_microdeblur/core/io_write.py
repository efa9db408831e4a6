"""Writing images: checked output paths (``check_output_path``), a whole TIFF
(``write_image``), outputs written region by region (``open_output``: TIFF or OME-Zarr)
that appear at their path only when complete, and a deblur's 8- or 16-bit PNG (``open_png_output``).

A region-by-region TIFF (``open_tiff_output``) is written in advance, then filled with
positioned writes (``TiffWriteArray``) under a temporary name renamed into place when the run
finishes; nothing is memory-mapped. Without ``overwrite``, an output that another run wrote
while this one ran is kept and this run's refused (``atomic_write.move_into_place``:
``OutputExistsError``), not silently replaced. Reading is ``io``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .atomic_write import (
    check_not_an_input,
    discard,
    exists_error,
    move_into_place,
    not_yours,
    write_atomically,
    write_error,
)
from .io import SMALL_AXIS, block_start, is_tiff, is_zarr, normalise_key
from .notes import DeblurNote, DeblurWarning
from .positioned_io import open_fd, pread, pwrite
from .shown import shown_path
from .slide_tiff import is_slide
from .tiff_metadata import imagej_axes, tiff_write_kwargs

LOSSY_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")


class OutputHint(UserWarning):
    """How to get an output that more programs open (8-bit RGB written as float32 TIFF); the
    command line says it once per run, not once per file of a batch."""


class TiffWriteArray:
    """Write-only, array-like target inside an uncompressed TIFF written in advance."""

    def __init__(self, path: str, offset: int, shape: tuple, dtype: np.dtype):
        self.path = path
        self.offset = int(offset)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)
        self._fd = open_fd(path, writable=True)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:  # closed even where fsync fails (a full disk): no descriptor left open
                os.fsync(fd)
            finally:
                os.close(fd)

    def __setitem__(self, key, value) -> None:
        ranges, drop = normalise_key(key, self.shape)
        full_shape = tuple(len(r) for r in ranges)
        value = np.broadcast_to(
            np.asarray(value, dtype=self.dtype).reshape(
                [len(r) for i, r in enumerate(ranges) if i not in drop]
            ).reshape(full_shape),
            full_shape,
        )
        strides = np.cumprod((1,) + self.shape[:0:-1])[::-1] * self.dtype.itemsize
        k = block_start(ranges, self.shape)  # whole trailing axes: one write per run
        # part of a small trailing axis (one colour of an RGB row, written channel by
        # channel): read the row, set the part, write the row back, instead of a pwrite per
        # pixel (0.1 MP/s on a 4096 x 4096 RGB file)
        k_small = block_start(ranges, self.shape, small=SMALL_AXIS)
        if k_small < k:
            k = k_small
            inner = tuple(slice(r.start, r.stop, r.step) for r in ranges[k + 1 :])
        else:
            inner = None
        if ranges[k].step != 1:
            raise ValueError("TiffWriteArray writes contiguous runs along the last axis only")
        run_shape = (len(ranges[k]), *self.shape[k + 1 :])
        nbytes = int(np.prod(run_shape, dtype=np.int64)) * self.dtype.itemsize
        for out_index in itertools.product(*(range(len(r)) for r in ranges[:k])):
            pos = sum(int(r[i]) * st for r, i, st in zip(ranges[:k], out_index, strides[:k]))
            pos += ranges[k].start * strides[k]
            if inner is None:
                run = value[out_index]
            else:
                run = np.frombuffer(pread(self._fd, nbytes, self.offset + pos),
                                    dtype=self.dtype).reshape(run_shape).copy()
                run[(slice(None), *inner)] = value[out_index]
            pwrite(self._fd, np.ascontiguousarray(run).tobytes(), self.offset + pos)


def check_output_path(path: str | os.PathLike, *, overwrite: bool = False,
                      inputs: tuple = (), png: bool = False,
                      suffixes: tuple[str, ...] | None = None) -> Path:
    """Refuse an existing output (unless overwrite), one of the ``inputs`` (the image first, then
    any PSF or weights file the run reads; even with overwrite: the user's data is never
    replaced), an output inside an input folder (a Zarr store) or holding an input, and a
    folder that does not exist or cannot be written in (probed now, so the refusal comes
    before the work, not after it); a .png only where the caller writes one (``png``: a
    deblur, ``open_png_output``), a JPEG always. ``suffixes``: the endings taken instead of
    an image's (trained weights: ``('.safetensors',)``). The name is checked before whether
    it exists: '/dev/full' was told to add --overwrite, then to end in .tif."""
    given = os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)
    path = Path(path)
    check_name_length(path)
    if path.is_dir() and not is_zarr(path):
        raise ValueError(f"output {shown_path(path)} is a directory; give a file name")
    check_not_an_input(path, inputs)
    if is_zarr(path) and path.exists() and not path.is_dir():
        # found only when the finished store was renamed onto it, after the whole run
        raise ValueError(f"output {shown_path(path)} is a file, not a Zarr folder; give another "
                         "name, or remove the file")
    if png and not path.exists() and given.endswith(("/", os.sep)) and not is_zarr(path):
        # a deblur writes into a folder that exists; 'must end in .tif' hid that it did not
        raise FileNotFoundError(f"output folder {shown_path(path)} does not exist; create it "
                                "first, or name a .tif, .png or .zarr file")
    if suffixes is None:
        check_output_suffix(path, png)
    elif not str(path).lower().endswith(tuple(s.lower() for s in suffixes)):
        raise ValueError(f"output {shown_path(path)} must end in {' or '.join(suffixes)}")
    if path.exists() and not overwrite:
        # the Python API's words (the command line says --overwrite: cli_words), or why
        raise exists_error(path)  # overwrite would not replace another user's file either
    if path.is_file() and not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        # the rename that replaces an output would succeed (only the folder's permission
        # counts), but the user marked the file read-only: it is kept, as write_image keeps it
        raise PermissionError(f"output {shown_path(path)} is read-only; save under another "
                              "name, or make it writable to replace it")
    if path.is_file() and (why := not_yours(path)) is not None:  # before the work, not after
        raise PermissionError(f"output {shown_path(path)}: {why}")
    if not path.parent.exists():
        raise FileNotFoundError(
            f"output directory {shown_path(path.parent)} does not exist; create it first"
        )
    if not path.parent.is_dir():
        raise ValueError(f"output {shown_path(path)}: {shown_path(path.parent)} is a file, "
                         "not a folder")
    _check_writable(path.parent)
    return path


def check_output_suffix(path: Path, png: bool = False) -> None:
    """A TIFF or Zarr output, or a PNG where ``png``; a JPEG refused saying why."""
    if str(path).lower().endswith(LOSSY_SUFFIXES):
        raise ValueError(f"output {shown_path(path)}: JPEG is lossy and adds the compression "
                         "artefacts that deblurring removes; write "
                         f"{'.png or ' if png else ''}.tif")
    if is_slide(path):  # read as TIFFs, but a scanner's format this writes no file of
        raise ValueError(f"output {shown_path(path)}: {path.suffix} slides are read, not "
                         "written; name the output .tif, .ome.tif (OME-TIFF) or .zarr")
    if not (is_tiff(path) or is_zarr(path) or (png and is_png(path))):
        # a deblur's output may be a folder ('-o newdir/': the command line drops the '/'):
        # 'must end in .tif' alone hid that the folder was missing
        folder = (" (or, for a folder of outputs, create the folder first)"
                  if png and not path.suffix and not path.exists() else "")
        raise ValueError(f"output {shown_path(path)} must end in .tif or .tiff (OME-TIFF: "
                         f".ome.tif){', .png' if png else ''} or .zarr{folder}")


def is_png(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(".png")


def check_name_length(path: Path) -> None:
    """Refuse a name longer than the output folder's file system takes, naming the user's name
    (the 'File name too long' error named the hidden temporary name, ``partials``)."""
    from .partials import name_max

    limit = name_max(path.parent)  # 255 where the folder is not there (refused below)
    length = len(os.fsencode(path.name))
    if length > limit:
        raise ValueError(f"output name {path.name!r} is {length} bytes long; the file system "
                         f"takes names of up to {limit}: choose a shorter name")


def _check_writable(folder: Path) -> None:
    """Create and remove a small file in ``folder``: permission bits say too little (as root,
    on a read-only mount, in /sys)."""
    import tempfile

    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".microdeblur-probe-")
    except OSError as error:
        raise PermissionError(f"cannot write in the output folder {shown_path(folder)} "
                              f"({error.strerror}); choose another") from None
    os.close(handle)
    os.unlink(probe)


def _temporary_name(path: Path) -> Path:
    """This run's hidden name for ``path``; a killed run's left there first is removed."""
    from .partials import fresh_temporary_name

    return fresh_temporary_name(path)


def write_image(
    path: str | os.PathLike,
    array: np.ndarray,
    *,
    axes: str,
    pixel_size: dict[str, float] | None = None,
    overwrite: bool = False,
    metadata: dict | None = None,
    record: dict | None = None,
) -> Path:
    """Write a TIFF (OME-TIFF for .ome.tif; an ImageJ hyperstack where it fits, see
    ``tiff_metadata``) atomically (``atomic_write``): a temporary name, then rename; a failed
    write leaves what was at ``path`` and no temporary file, a full disk or a read-only file is
    one ``OSError`` line naming ``path``. ``metadata``: an input's ``ImageData.metadata``
    (channel names, time interval, channel colours) to keep; ``record``: how this output was
    made (``provenance``; the input's own record is not copied)."""
    import tifffile

    if not is_tiff(path):  # a TIFF under a .zarr or .png name opens as nothing else reads it
        raise ValueError(f"output {shown_path(Path(path))}: this writes a TIFF; name it .tif or "
                         ".tiff (.ome.tif for OME-TIFF)")
    path = check_output_path(path, overwrite=overwrite)
    array = np.asarray(array)
    ome = is_ome_tiff(path)
    if array.dtype != (dtype := tiff_output_dtype(path, array.dtype)):
        array = array.astype(dtype)
    if not ome:  # in ImageJ's axis order where that makes it a hyperstack Fiji opens as one
        stored = imagej_axes(array.shape, array.dtype, axes)
        array, axes = np.transpose(array, [axes.index(a) for a in stored]), stored
    kwargs = tiff_write_kwargs(array.shape, array.dtype, axes, pixel_size or {}, ome, metadata,
                               record)
    _name_one_channel(kwargs, axes, metadata, ome)
    with _ome_refused(path):
        write_atomically(path, lambda tmp: tifffile.imwrite(tmp, array, **kwargs),
                         overwrite=overwrite)
    return path


def one_channel_name(axes: str, metadata: dict | None) -> str | None:
    """The name of the one channel an image without a C axis holds, where ``metadata``
    (``tiff_extras``: one channel split from a named file) names one; None otherwise."""
    names = (metadata or {}).get("channel_names")
    if "C" in axes or "S" in axes or not isinstance(names, list) or len(names) != 1:
        return None
    return str(names[0]) or None


def _name_one_channel(kwargs: dict, axes: str, metadata: dict | None, ome: bool) -> None:
    """The OME Channel tifffile writes for an image without C named (it has no Name else)."""
    name = one_channel_name(axes, metadata)
    if ome and name and isinstance(kwargs.get("metadata"), dict):
        kwargs["metadata"]["Channel"] = {"Name": [name]}


def is_ome_tiff(path) -> bool:
    return str(path).lower().endswith((".ome.tif", ".ome.tiff"))


def ome_written_dtype(path, dtype) -> np.dtype:
    """The type ``dtype`` is stored as in a TIFF output at ``path``: OME's XML names no
    float16, so an OME-TIFF stores it as float32 (no note: ``tiff_output_dtype`` says it)."""
    dtype = np.dtype(dtype)
    return np.dtype(np.float32) if dtype == np.float16 and is_ome_tiff(path) else dtype


def tiff_output_dtype(path, dtype) -> np.dtype:
    """The type a TIFF output at ``path`` of ``dtype`` is written as, checked before any work
    (tifffile refused OME-TIFF's missing types with an ``OmeXmlError`` when it closed the file,
    after a whole deblur): OME's XML names no float16 (written as float32, the same values,
    in one note) and no 64-bit integers (refused in one line)."""
    dtype = np.dtype(dtype)
    if not is_ome_tiff(path):
        return dtype
    if ome_written_dtype(path, dtype) != dtype:
        import warnings

        warnings.warn(f"output {shown_path(Path(path))}: OME-TIFF has no float16 pixel type; "
                      "written as float32 (the same values)", DeblurNote, stacklevel=4)
        return np.dtype(np.float32)
    if dtype.kind in "iu" and dtype.itemsize > 4:
        raise ValueError(f"output {shown_path(Path(path))}: OME-TIFF has no {dtype} pixel type; "
                         "write .tif or .zarr, or float32 (output_dtype='float32')")
    return dtype


@contextlib.contextmanager
def _ome_refused(path):
    """tifffile's refusal of what OME's XML cannot say as one ValueError line naming ``path``
    (``tiff_output_dtype`` refuses the types it knows of first)."""
    import tifffile

    try:
        yield
    except tifffile.OmeXmlError as error:
        raise ValueError(f"output {shown_path(Path(path))}: OME-TIFF cannot hold this image "
                         f"({error}); write .tif or .zarr") from None


@contextlib.contextmanager
def open_tiff_output(
    path: str | os.PathLike,
    shape: tuple,
    dtype,
    *,
    axes: str,
    pixel_size: dict[str, float] | None = None,
    overwrite: bool = False,
    metadata: dict | None = None,
    record: dict | None = None,
) -> Iterator[TiffWriteArray]:
    """Yield a write-only array inside a new TIFF; the file appears at ``path`` only on success.
    ``metadata``, ``record``: as for ``write_image``.

    If the block raises (an error, a Ctrl-C, a cancelled generator), the temporary file is
    removed and nothing is left at ``path``.
    """
    import tifffile

    from .zarr_order import Reordered, permuted

    path = check_output_path(path, overwrite=overwrite)
    ome = is_ome_tiff(path)
    dtype = tiff_output_dtype(path, dtype)  # before the temporary file: refused, nothing made
    # stored in ImageJ's axis order where that makes a hyperstack; the run indexes it as given
    stored = axes if ome else imagej_axes(shape, dtype, axes)
    stored_shape = permuted(tuple(shape), axes, stored)
    kwargs = tiff_write_kwargs(stored_shape, dtype, stored, pixel_size or {}, ome, metadata,
                               record)
    _name_one_channel(kwargs, stored, metadata, ome)
    tmp = _temporary_name(path)
    target = None
    try:
        with _named(path), _ome_refused(path):
            offset, _ = tifffile.imwrite(tmp, shape=stored_shape, dtype=dtype,
                                         returnoffset=True, **kwargs)
            target = TiffWriteArray(str(tmp), offset, stored_shape, dtype)
        yield target if stored == axes else Reordered(target, axes, stored)
        with _named(path):
            target.close()
            move_into_place(tmp, path, overwrite)
    finally:
        if target is not None:
            with contextlib.suppress(OSError):  # an error of its own was said above
                target.close()
        discard(tmp)  # not where the folder went read-only: the next run removes it


@contextlib.contextmanager
def _named(path: Path):
    """An error writing the output (not one of the caller's block) as one line naming
    ``path`` as given: the system's named the hidden temporary file."""
    try:
        yield
    except OSError as exc:
        raise write_error(exc, path) from None


def remove_path(path: Path) -> None:
    """Delete a file or a directory tree (a Zarr store), if it exists."""
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


@contextlib.contextmanager
def open_zarr_output(
    path: str | os.PathLike,
    shape: tuple,
    dtype,
    *,
    axes: str,
    pixel_size: dict[str, float] | None = None,
    chunks: tuple | None = None,
    overwrite: bool = False,
    metadata: dict | None = None,
    record: dict | None = None,
):
    """Yield a new OME-Zarr (v0.4, one level) image array; it appears at ``path`` on success only.
    ``metadata``: an input's ``ImageData.metadata``; its channel names and time interval are
    kept (``zarr_metadata.output_attrs``); ``record``: as for ``write_image``.

    Stored in NGFF order (T, C, Z, Y, X; RGB samples last: ``zarr_order``), which NGFF
    requires; ``shape``, ``chunks`` and the yielded array's keys are in ``axes`` order (an
    ImageJ TZCYX input's, say: the array is then a ``zarr_order.Reordered`` view).
    Chunks: ``output_chunks`` (one plane, at most 1024 x 1024 pixels, or as a Zarr input's).
    """
    import zarr

    from .zarr_metadata import output_attrs
    from .zarr_order import Reordered, ngff_axes, permuted

    path = check_output_path(path, overwrite=overwrite)
    # numpy's 'Q'/'q' (tifffile's 64-bit integers) equal uint64/int64 but zarr 3 matches the
    # 'L'/'l' kinds only ("No Zarr data type found"): the same type by its byte-order string
    dtype = np.dtype(np.dtype(dtype).str)
    tmp = _temporary_name(path)
    if chunks is None:
        chunks = output_chunks(axes, shape, dtype)
    stored = ngff_axes(axes)
    stored_shape = permuted(tuple(shape), axes, stored)
    try:
        with _named(path):
            group = zarr.open_group(str(tmp), mode="w", zarr_format=2)
            array = group.create_array("0", shape=stored_shape, dtype=dtype,
                                       chunks=permuted(tuple(chunks), axes, stored),
                                       fill_value=0)
            attrs = output_attrs(stored, stored_shape, pixel_size or {}, metadata, record)
            name = one_channel_name(stored, metadata)
            if name and "omero" not in attrs:  # its one channel's name, as napari-ome-zarr reads
                attrs["omero"] = {"channels": [{"label": name, "active": True,
                                                "color": "FFFFFF"}]}
            group.attrs.update(attrs)
        yield array if stored == axes else Reordered(array, axes, stored)
        move_into_place(tmp, path, overwrite)
    finally:
        discard(tmp)


def open_output(path, shape, dtype, *, axes, pixel_size=None, overwrite=False, metadata=None,
                record=None, like=None):
    """TIFF or Zarr output by the path's suffix (see open_tiff_output, open_zarr_output);
    ``metadata`` (an input's ``ImageData.metadata``) is kept in either, with ``record``.
    ``like``: the input array (``ImageData.array``); a Zarr output takes its chunks on Y and X
    where they are sensible (``output_chunks``)."""
    if is_zarr(path):
        return open_zarr_output(path, shape, dtype, axes=axes, pixel_size=pixel_size,
                                chunks=output_chunks(axes, shape, dtype, like),
                                overwrite=overwrite, metadata=metadata, record=record)
    return open_tiff_output(path, shape, dtype, axes=axes, pixel_size=pixel_size,
                            overwrite=overwrite, metadata=metadata, record=record)


#: the default chunk side on Y and X of a Zarr output (a plane larger is cut into these)
CHUNK_SIDE = 1024
#: a Zarr input's chunk side on Y or X is kept between these: smaller ones make a file per
#: few pixels (a 16 px chunk: 65 536 files for a 4096 x 4096 plane); larger ones are read,
#: decompressed and written again whole for each band of tile rows the run writes into them
#: (a 4096 px chunk some 18 times at 256 px tiles)
CHUNK_SIDES_KEPT = (64, 2048)
#: nor a chunk (one plane of it, all channels, in the output's type) past this many bytes
CHUNK_BYTES_KEPT = 64 << 20


def output_chunks(axes: str, shape, dtype, like=None) -> tuple[int, ...]:
    """The chunks of a Zarr output of ``shape`` (in ``axes`` order): one plane along Z and T
    (the run writes plane by plane, band by band: a chunk over several planes would be
    decompressed and written again for each of them) and whole along C and S (the samples of
    a pixel are written together); on Y and X the chunks of ``like``, a Zarr input of the
    same axes, where each side is within ``CHUNK_SIDES_KEPT`` and a chunk's plane within
    ``CHUNK_BYTES_KEPT``, else at most ``CHUNK_SIDE`` pixels."""
    shape = tuple(int(n) for n in shape)
    chunks = [min(n, CHUNK_SIDE) if a in "YX" else (n if a in "CS" else 1)
              for a, n in zip(axes, shape)]
    sides = _input_sides(axes, shape, like)
    if sides is None:
        return tuple(chunks)
    low, high = CHUNK_SIDES_KEPT
    kept = {a: min(c, shape[axes.index(a)]) for a, c in sides.items()}
    # an input chunk spanning a whole small axis (a 40 px wide image) is no small chunk
    if not all((low <= c or c == shape[axes.index(a)]) and c <= high for a, c in kept.items()):
        return tuple(chunks)
    plane = [kept.get(a, c) for a, c in zip(axes, chunks) if a in "YXCS"]
    if int(np.prod(plane, dtype=np.int64)) * np.dtype(dtype).itemsize > CHUNK_BYTES_KEPT:
        return tuple(chunks)
    return tuple(kept.get(a, c) for a, c in zip(axes, chunks))


def _input_sides(axes: str, shape: tuple, like) -> dict[str, int] | None:
    """{'Y': side, 'X': side} of the chunks of ``like`` (a Zarr array: one side per axis),
    where it has the output's Y and X; None for an input without such chunks (a TIFF, a NumPy
    array, a dask array from a reader, whose blocks say how it was read, not stored) or of
    other dims."""
    chunks = getattr(like, "chunks", None)
    if chunks is None or len(chunks) != len(axes) or "Y" not in axes or "X" not in axes:
        return None
    sides = {}
    for a in "YX":
        i = axes.index(a)
        c = chunks[i]
        if not isinstance(c, (int, np.integer)) or c < 1 or int(like.shape[i]) != shape[i]:
            return None
        sides[a] = int(c)
    return sides


def png_dtype(path, dtype, axes: str, shape) -> np.dtype:
    """The type of a deblur's .png output: the input's 8 or 16 bits (``dtype``). Refused, before
    any work, where PNG cannot hold the image: a float or other input type (rescaled to 8 or
    16 bits it would no longer be the input's intensities), or more than one gray or RGB(A)
    plane (``axes``, ``shape``: the input's)."""
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)):
        raise ValueError(f"output {shown_path(path)}: PNG holds 8- or 16-bit values and the input "
                         f"is {dtype}; write .tif (float32 keeps the values)")
    if png_axes(axes, shape) is None:
        size = " x ".join(map(str, shape))
        raise ValueError(f"output {shown_path(path)}: PNG holds one gray or RGB(A) plane and the "
                         f"image is {axes} {size}; write .tif")
    return dtype


def png_axes(axes: str, shape) -> str | None:
    """``axes`` without its axes of size 1, where that is one PNG plane (YX, or YXS of 2 to 4
    samples: gray + alpha, RGB, RGBA); None where it is not."""
    kept = "".join(a for a, n in zip(axes, shape) if int(n) > 1 or a in "YX")
    samples = int(shape[axes.index("S")]) if "S" in kept else 1
    # S anywhere (a planar RGB TIFF reads SYX): written with its samples last
    return kept if sorted(kept) in (sorted("YX"), sorted("YXS")) and samples <= 4 else None


@contextlib.contextmanager
def open_png_output(path, shape, dtype, *, axes: str, stored, pixel_size=None,
                    overwrite: bool = False, record: dict | None = None):
    """Yield an in-memory array of ``shape`` and ``dtype`` (the run's: float32, so that values
    outside ``stored``'s range are counted, not silently cut); when the block completes it
    is written as a PNG of dtype ``stored`` (``png_dtype``, ``write_png``) holding ``record``;
    on an error nothing is written."""
    from .memory import check_result_fits

    path = check_output_path(path, overwrite=overwrite, png=True)
    check_result_fits(shape, dtype)
    out = np.empty(shape, dtype)
    yield out
    write_png(path, out, axes=axes, dtype=stored, pixel_size=pixel_size, record=record,
              overwrite=overwrite)


def write_png(path, array, *, axes: str, dtype, pixel_size=None, record=None,
              overwrite: bool = True) -> Path:
    """``array`` (one plane, ``png_axes``) as an 8- or 16-bit PNG, atomically; values rounded
    and clipped to ``dtype``'s range, the pixels clipped counted in one warning line. The pixel
    size (um) is kept as PNG's pHYs (pixels per metre) where X and Y have one; ``record`` (how
    the output was made, ``provenance``) as a text chunk, read back by ``io.read_image``.
    ``overwrite=False``: a file at ``path``, or one another run writes meanwhile, is kept
    (``OutputExistsError``)."""
    import warnings

    dtype = np.dtype(dtype)
    kept = png_axes(axes, array.shape)
    plane = np.asarray(array).reshape([n for a, n in zip(axes, array.shape) if a in kept])
    plane = np.transpose(plane, [kept.index(a) for a in ("YXS" if "S" in kept else "YX")])
    kept = "YXS" if "S" in kept else "YX"
    info = np.iinfo(dtype)
    if plane.dtype.kind == "f":
        plane = np.rint(plane)
    outside = (plane < info.min) | (plane > info.max)
    outside = outside.any(axis=-1) if kept == "YXS" else outside
    clipped = int(np.count_nonzero(outside))
    if clipped:
        warnings.warn(f"{shown_path(path)}: {clipped} of {outside.size} pixels "
                      f"({100 * clipped / outside.size:.2g} %) clipped to {info.min}-{info.max} "
                      f"for the {info.bits}-bit PNG; write .tif to keep their values (float32)",
                      DeblurWarning, stacklevel=4)
    plane = np.clip(plane, info.min, info.max).astype(dtype)
    data = png_bytes(plane, pixel_size or {}, record)
    write_atomically(path, lambda tmp: Path(tmp).write_bytes(data), overwrite=overwrite)
    return Path(path)


def png_bytes(plane: np.ndarray, pixel_size: dict[str, float], record: dict | None = None) -> bytes:
    """A PNG file of ``plane`` (Y, X[, samples]; uint8 or uint16). Written here, not by Pillow,
    which writes no 16-bit RGB(A) and no pixel size in metres. ``record``: a tEXt chunk keyed
    ``microdeblur`` holding ``provenance.record_text`` (ASCII JSON)."""
    import struct
    import zlib

    height, width = plane.shape[:2]
    samples = plane.shape[2] if plane.ndim == 3 else 1
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[samples]  # gray, gray + alpha, RGB, RGBA
    rows = np.ascontiguousarray(plane, plane.dtype.newbyteorder(">")).view(np.uint8)
    rows = rows.reshape(height, -1)
    up = rows.copy()
    up[1:] -= rows[:-1]  # filter 'Up' on every row: differences compress better than values
    filtered = np.concatenate([np.full((height, 1), 2, np.uint8), up], axis=1)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8 * plane.dtype.itemsize, colour, 0, 0, 0)
    parts = [b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", header)]
    per_metre = [round(1e6 / pixel_size[a]) if pixel_size.get(a, 0) > 0 else 0 for a in "XY"]
    if all(0 < n < 2**31 for n in per_metre):
        parts.append(chunk(b"pHYs", struct.pack(">IIB", *per_metre, 1)))  # unit 1: the metre
    if record:  # before the pixels, where readers that stop early still find it
        from .provenance import RECORD_KEY, record_text

        parts.append(chunk(b"tEXt", RECORD_KEY.encode() + b"\0" + record_text(record).encode()))
    parts += [chunk(b"IDAT", zlib.compress(filtered.tobytes(), 6)), chunk(b"IEND", b"")]
    return b"".join(parts)
