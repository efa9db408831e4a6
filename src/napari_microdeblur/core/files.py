"""File to file: deblur one image file into a new TIFF, and find the files of a batch.

The output is written region by region into a temporary file next to it and renamed into
place only when complete, so an interrupted batch can simply be run again: finished outputs
exist and are skipped, unfinished ones left nothing behind.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Generator
from pathlib import Path

import numpy as np

from . import io
from .inference import DeblurProgress, DeblurResult, check_axes, iter_deblur

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".czi", ".nd2", ".lif", ".zarr")


def iter_deblur_file(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    axes: str | None = None,
    overwrite: bool = False,
    output_dtype: str = "float32",
    **deblur_options,
) -> Generator[DeblurProgress, None, DeblurResult]:
    """Deblur ``source`` into ``output`` (TIFF, or Zarr for .zarr): progress records, then the
    DeblurResult.

    Arguments are checked and the input opened before the first record, so a bad file or
    option fails before anything is written.
    """
    io.check_output_path(output, overwrite=overwrite)
    data = io.read_image(source)
    shape = tuple(int(s) for s in data.array.shape)
    axes = check_axes(axes or data.axes or None, shape)
    out_dtype = np.float32 if output_dtype == "float32" else np.dtype(data.array.dtype)
    # validate everything iter_deblur checks before an output file exists
    probe = iter_deblur(data.array, axes=axes, output_dtype=output_dtype,
                        out=_ShapeOnly(shape), **deblur_options)
    probe.close()
    return _write(data, output, shape, out_dtype, axes, overwrite, output_dtype, deblur_options)


class _ShapeOnly:
    """A stand-in output that only has a shape: lets iter_deblur validate without allocating."""

    def __init__(self, shape):
        self.shape = shape


def _write(data, output, shape, out_dtype, axes, overwrite, output_dtype, deblur_options):
    with io.open_output(
        output, shape, out_dtype, axes=axes, pixel_size=data.pixel_size, overwrite=overwrite
    ) as target:
        result = yield from iter_deblur(
            data.array, axes=axes, output_dtype=output_dtype, out=target, **deblur_options
        )
    return result


def deblur_file(source, output, **options) -> DeblurResult:
    """Blocking twin of iter_deblur_file."""
    from .inference import drain

    return drain(iter_deblur_file(source, output, **options))


def copy_atomically(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy ``src`` to ``dst`` through a hidden temporary file, so ``dst`` is never partial."""
    import shutil

    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.partial")
    try:
        shutil.copy2(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def find_inputs(pattern: str | os.PathLike) -> list[Path]:
    """A file, every image file in a directory, or the files a glob matches, sorted."""
    path = Path(pattern)
    if path.is_dir() and not io.is_zarr(path):
        found = [p for p in sorted(path.iterdir())
                 if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
    elif path.exists():
        found = [path]
    else:
        if not glob.has_magic(str(pattern)):
            raise FileNotFoundError(f"input file {str(pattern)!r} does not exist")
        found = [Path(p) for p in sorted(glob.glob(str(pattern)))]
        if not found:
            raise FileNotFoundError(f"input pattern {str(pattern)!r} matches no file")
    if not found:
        raise FileNotFoundError(f"input directory {str(pattern)!r} holds no image file")
    return found


def output_name(source: Path, output_dir: Path, suffix: str = "_deblurred") -> Path:
    """OUTPUT_DIR/<stem><suffix>.tif (.ome.tif kept) for one input of a batch."""
    name = source.name
    for ext in (".ome.tiff", ".ome.tif", ".tiff", ".tif"):
        if name.lower().endswith(ext):
            return output_dir / f"{name[: -len(ext)]}{suffix}{ext}"
    return output_dir / f"{source.stem}{suffix}.tif"
