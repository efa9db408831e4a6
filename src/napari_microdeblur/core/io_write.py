"""Writing images: checked output paths (``check_output_path``), a whole TIFF
(``write_image``), and outputs written region by region (``open_output``: TIFF or OME-Zarr)
that appear at their path only when complete.

A region-by-region TIFF (``open_tiff_output``) is written in advance, then filled with
positioned writes (``TiffWriteArray``) under a temporary name renamed into place when the run
finishes; nothing is memory-mapped. Reading is ``io``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .atomic_write import write_atomically
from .io import SMALL_AXIS, block_start, is_tiff, is_zarr, normalise_key
from .positioned_io import open_fd, pread, pwrite
from .shown import shown_path
from .tiff_metadata import imagej_axes, tiff_write_kwargs


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
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

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
                      inputs: tuple = ()) -> Path:
    """Refuse an existing output (unless overwrite), one of the ``inputs`` (even with overwrite:
    the user's data is never replaced), and a folder that does not exist or cannot be written
    in (probed now, so the refusal comes before the work, not after it)."""
    path = Path(path)
    check_name_length(path)
    if path.is_dir() and not is_zarr(path):
        raise ValueError(f"output {shown_path(path)} is a directory; give a file name")
    if path.exists() and any(_same_file(path, source) for source in inputs):
        raise ValueError(f"output {shown_path(path)} is the input; give another name (the input is "
                         "never replaced)")
    if path.exists() and not overwrite:
        # the Python API's words; the command line says --overwrite (cli_words)
        raise FileExistsError(f"output {shown_path(path)} exists; choose another name or "
                              "overwrite=True")
    if path.is_file() and not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        # the rename that replaces an output would succeed (only the folder's permission
        # counts), but the user marked the file read-only: it is kept, as write_image keeps it
        raise PermissionError(f"output {shown_path(path)} is read-only; save under another "
                              "name, or make it writable to replace it")
    if not path.parent.exists():
        raise FileNotFoundError(
            f"output directory {shown_path(path.parent)} does not exist; create it first"
        )
    if not path.parent.is_dir():
        raise ValueError(f"output {shown_path(path)}: {shown_path(path.parent)} is a file, "
                         "not a folder")
    if not (is_tiff(path) or is_zarr(path)):
        raise ValueError(
            f"output {shown_path(path)} must end in .tif or .tiff (OME-TIFF: .ome.tif) or .zarr"
        )
    _check_writable(path.parent)
    return path


def check_name_length(path: Path) -> None:
    """Refuse a name longer than the output folder's file system takes, naming the user's name
    (the 'File name too long' error named the hidden temporary name, ``partials``)."""
    from .partials import name_max

    limit = name_max(path.parent)  # 255 where the folder is not there (refused below)
    length = len(os.fsencode(path.name))
    if length > limit:
        raise ValueError(f"output name {path.name!r} is {length} bytes long; the file system "
                         f"takes names of up to {limit}: choose a shorter name")


def _same_file(path: Path, source) -> bool:
    try:
        return path.samefile(source)
    except OSError:  # the source is not a file here (a URL, gone): not this output
        return False


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

    path = check_output_path(path, overwrite=overwrite)
    array = np.asarray(array)
    ome = str(path).lower().endswith((".ome.tif", ".ome.tiff"))
    if not ome:  # in ImageJ's axis order where that makes it a hyperstack Fiji opens as one
        stored = imagej_axes(array.shape, array.dtype, axes)
        array, axes = np.transpose(array, [axes.index(a) for a in stored]), stored
    kwargs = tiff_write_kwargs(array.shape, array.dtype, axes, pixel_size or {}, ome, metadata,
                               record)
    write_atomically(path, lambda tmp: tifffile.imwrite(tmp, array, **kwargs))
    return path


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
    ome = str(path).lower().endswith((".ome.tif", ".ome.tiff"))
    # stored in ImageJ's axis order where that makes a hyperstack; the run indexes it as given
    stored = axes if ome else imagej_axes(shape, dtype, axes)
    stored_shape = permuted(tuple(shape), axes, stored)
    kwargs = tiff_write_kwargs(stored_shape, dtype, stored, pixel_size or {}, ome, metadata,
                               record)
    tmp = _temporary_name(path)
    target = None
    try:
        offset, _ = tifffile.imwrite(tmp, shape=stored_shape, dtype=dtype, returnoffset=True,
                                     **kwargs)
        target = TiffWriteArray(str(tmp), offset, stored_shape, dtype)
        yield target if stored == axes else Reordered(target, axes, stored)
        target.close()
        _replace(tmp, path)
    finally:
        if target is not None:
            target.close()
        if tmp.exists():
            tmp.unlink()


def _replace(tmp: Path, path: Path) -> None:
    """Move a finished temporary output into place (a Zarr store is a directory)."""
    import shutil

    if path.is_dir():
        shutil.rmtree(path)
    os.replace(tmp, path)


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
    Chunks default to one plane of at most 1024 x 1024 pixels, so band-by-band writes touch
    few chunks and memory stays bounded.
    """
    import zarr

    from .zarr_metadata import output_attrs
    from .zarr_order import Reordered, ngff_axes, permuted

    path = check_output_path(path, overwrite=overwrite)
    tmp = _temporary_name(path)
    if chunks is None:
        chunks = tuple(min(n, 1024) if a in "YX" else (n if a in "CS" else 1)
                       for a, n in zip(axes, shape))
    stored = ngff_axes(axes)
    stored_shape = permuted(tuple(shape), axes, stored)
    try:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=2)
        array = group.create_array("0", shape=stored_shape, dtype=dtype,
                                   chunks=permuted(tuple(chunks), axes, stored), fill_value=0)
        group.attrs.update(output_attrs(stored, stored_shape, pixel_size or {}, metadata, record))
        yield array if stored == axes else Reordered(array, axes, stored)
        _replace(tmp, path)
    finally:
        remove_path(tmp)


def open_output(path, shape, dtype, *, axes, pixel_size=None, overwrite=False, metadata=None,
                record=None):
    """TIFF or Zarr output by the path's suffix (see open_tiff_output, open_zarr_output);
    ``metadata`` (an input's ``ImageData.metadata``) is kept in either, with ``record``."""
    opener = open_zarr_output if is_zarr(path) else open_tiff_output
    return opener(path, shape, dtype, axes=axes, pixel_size=pixel_size, overwrite=overwrite,
                  metadata=metadata, record=record)
