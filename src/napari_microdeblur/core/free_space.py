"""Whether a deblur's outputs fit on their disk, checked before any work.

A deblur's TIFF is filled region by region as the run goes (``io_write.open_tiff_output``: a
sparse file), so a disk too small for it was found only at a write deep in the run: a 3000 x
3000 px Richardson-Lucy into a 20 MB folder computed 22 s of its 32 before 'No space left on
device' (a 100000 x 100000 px EM section: hours). Here each output's bytes are estimated from
its input's header (no pixel read: ``input_shape``) as its shape times the type it is written
in (``output_itemsize``), and compared with ``shutil.disk_usage`` of its folder.

A TIFF is written uncompressed: one that cannot fit is refused (``NoRoomError``). A Zarr's
chunks and a PNG are compressed, by how much depends on the image (deblurred float32 noise
hardly at all): there the shortfall is a warning, the run goes on. An input whose header is
not read here (a bioio format, a damaged file: its own error comes when it is read) is not
counted: an estimate never refuses more than is certain from what was read."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .notes import DeblurWarning
from .shown import shown_path

#: inputs whose headers a batch reads before its work, at most (0.3-0.9 ms each); the
#: outputs of the others are taken as the smallest of those read (a folder's tiles are alike)
HEADERS_AT_MOST = 1000
#: outputs written compressed: their estimate is an upper bound (``NoRoom.compressed``)
COMPRESSED = (".zarr", ".png")
#: the advice of the refusal, in the command line's words (a caller may give its own)
ELSEWHERE = "free space there or write elsewhere (-o)"


class NoRoomError(ValueError):
    """Outputs that cannot fit in their folder's free space, refused before any work."""


def input_shape(source) -> tuple[tuple[int, ...], np.dtype] | None:
    """(shape, type) of what a deblur of ``source`` reads, alpha kept, from its header only;
    None where this cannot tell without reading it (a format read through bioio; a header
    its reader will refuse, a truncated file: that reader says what is wrong)."""
    from . import io
    from .tiff_metadata import quiet_tifffile

    path = Path(source)
    try:  # its reader says them: a pyramid's level, series, tifffile's own log lines
        with warnings.catch_warnings(), quiet_tifffile(logging.CRITICAL + 1):
            warnings.simplefilter("ignore")
            if io.is_zarr(path):
                array = io.read_zarr(path).array
                return tuple(int(n) for n in array.shape), np.dtype(array.dtype)
            if io.is_tiff(path):
                return _tiff_shape(path)
            suffix = path.suffix.lower()
            if suffix == ".npy":
                return _npy_shape(path)
            if suffix in (".png", ".jpg", ".jpeg", ".bmp"):
                return _picture_shape(path)
    except Exception:  # noqa: BLE001 - unreadable here: its read says why, not this check
        return None
    return None


def _tiff_shape(path: Path):
    from .tiff_header import read_tiff_header

    header = read_tiff_header(path)
    if header.contiguous and _declares_more(path, header.shape, header.dtype):
        return None  # truncated or damaged: io.read_tiff refuses it in its words
    return header.shape, header.dtype


def _npy_shape(path: Path):
    from numpy.lib import format as npy

    with open(path, "rb") as handle:
        version = npy.read_magic(handle)
        reader = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, _, dtype = reader(handle)
    dtype = np.dtype(dtype)
    if dtype.hasobject or dtype.kind not in "biuf" or _declares_more(path, shape, dtype):
        return None
    return tuple(int(n) for n in shape), dtype


def _picture_shape(path: Path):
    """A PNG, JPEG or BMP's size and samples from its header (Pillow: imageio's own reader);
    a palette counted as one sample (it may read as RGB: an estimate low, never high)."""
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
        bands, mode = len(image.getbands()), image.mode
    dtype = np.dtype(np.uint16 if mode.startswith("I;16") else np.int32 if mode == "I"
                     else np.float32 if mode == "F" else np.uint8)
    return ((height, width) if bands == 1 else (height, width, bands)), dtype


def _declares_more(path: Path, shape, dtype) -> bool:
    """Whether an uncompressed file declares more pixel bytes than it holds."""
    return math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize > path.stat().st_size


def output_itemsize(output, dtype: np.dtype, output_dtype: str) -> int:
    """Bytes per value of ``output`` deblurred from an input of ``dtype`` with
    --output-dtype ``output_dtype`` ('float32' or 'input'): a PNG holds the input's 8 or 16
    bits; OME-TIFF has no float16 (written as float32: ``io_write.tiff_output_dtype``)."""
    name = str(output).lower()
    if name.endswith(".png"):
        return min(np.dtype(dtype).itemsize, 2)
    if output_dtype != "input":
        return 4
    dtype = np.dtype(dtype)
    if dtype == np.float16 and name.endswith((".ome.tif", ".ome.tiff")):
        return 4
    return dtype.itemsize


def output_bytes(source, output, output_dtype: str) -> int | None:
    """The bytes ``output`` takes, uncompressed, deblurred from ``source``; None where the
    input's header is not read here (``input_shape``)."""
    found = input_shape(source)
    if found is None:
        return None
    shape, dtype = found
    return math.prod(shape) * output_itemsize(output, dtype, output_dtype)


def existing_folder(path: Path) -> Path:
    """``path``'s folder, or its nearest one that exists (--recursive's, made later)."""
    folder = Path(os.path.abspath(path)).parent
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    return folder


@dataclass
class NoRoom:
    """What a disk lacks for the outputs written into ``folder``."""

    folder: Path
    needed: int  # bytes, at the fullest moment of the run
    free: int
    outputs: int  # the outputs counted
    compressed: bool  # all written compressed: ``needed`` is an upper bound
    guessed: int = 0  # outputs past HEADERS_AT_MOST, taken as the smallest read

    def words(self, single, elsewhere: str = ELSEWHERE) -> str:
        """The line saying so; ``single``: the one output's path, else None (a batch)."""
        what = (f"output {shown_path(single)}" if single is not None else
                f"the {self.outputs} output{'s' * (self.outputs > 1)} this run writes")
        guessed = (f" (the first {HEADERS_AT_MOST} inputs' headers read, each other output "
                   "taken as the smallest of theirs)") if self.guessed else ""
        need = "may need up to" if self.compressed else ("need" if single is None
                                                          and self.outputs > 1 else "needs")
        line = (f"{what} {need} about {size_words(self.needed)}{guessed} in "
                f"{shown_path(self.folder)}, which has {size_words(self.free)} free")
        if self.compressed:  # an upper bound: said, not refused
            return (f"{line} (uncompressed; written compressed, it may fit: if the disk fills, "
                    f"the run stops and nothing is left of the output); {elsewhere}")
        return f"{line}: nothing was computed or written; {elsewhere}"


@dataclass
class _Disk:
    folder: Path
    running: int = 0  # bytes this run has added so far, replaced outputs' old ones freed
    peak: int = 0
    outputs: int = 0
    guessed: int = 0
    compressed: bool = True


def shortfalls(pairs, output_dtype: str, overwrite: bool) -> list[NoRoom]:
    """The disks that cannot hold the outputs of ``pairs`` ((input, output), in the order
    they are written) not yet there, or with ``overwrite`` all of them: a replaced output's
    old bytes are freed only when its new one is complete (``atomic_write``). Empty where
    each fits, or where nothing was estimated."""
    disks: dict[int, _Disk] = {}
    listed: dict[Path, set] = {}
    read, smallest = 0, None
    for source, target in pairs:
        target = Path(target)
        names = listed.get(target.parent)
        if names is None:  # one listing a folder: a batch of a million outputs
            with contextlib.suppress(OSError):
                names = set(os.listdir(target.parent))
            names = listed[target.parent] = names or set()
        exists = target.name in names
        if exists and not overwrite:
            continue  # skipped by the batch, or refused as existing
        if read < HEADERS_AT_MOST:
            read += 1
            new = output_bytes(source, target, output_dtype)
            if new is not None:
                smallest = new if smallest is None else min(smallest, new)
            guessed = 0
        else:
            new, guessed = smallest, 1
        if new is None:
            continue
        folder = existing_folder(target)
        disk = disks.setdefault(os.stat(folder).st_dev, _Disk(folder))
        disk.peak = max(disk.peak, disk.running + new)
        disk.running += new - (_size(target) if exists else 0)
        disk.outputs += 1
        disk.guessed += guessed
        disk.compressed &= str(target).lower().rstrip("/\\").endswith(COMPRESSED)
    found = []
    for disk in disks.values():
        free = shutil.disk_usage(disk.folder).free
        if disk.peak > free:
            found.append(NoRoom(disk.folder, disk.peak, free, disk.outputs, disk.compressed,
                                disk.guessed))
    return found


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0  # a Zarr store: not counted
    except OSError:
        return 0


def check_outputs_fit(pairs, output_dtype: str = "float32", overwrite: bool = False, *,
                      elsewhere: str = ELSEWHERE) -> None:
    """Refuse (``NoRoomError``) where the outputs of ``pairs`` cannot fit on their disk
    (``shortfalls``), before any work; where they are written compressed, a warning. One
    output (``pairs`` of one) is named; a batch's are counted."""
    pairs = list(pairs)
    single = Path(pairs[0][1]) if len(pairs) == 1 else None
    try:
        found = shortfalls(pairs, output_dtype, overwrite)
    except OSError:  # a folder that cannot be read: the write says what is wrong with it
        return
    for short in found:
        if short.compressed:
            warnings.warn(short.words(single, elsewhere), DeblurWarning, stacklevel=2)
        else:
            raise NoRoomError(short.words(single, elsewhere))


def size_words(count: int) -> str:
    """Bytes as a person reads them: '4.19 MB', '40 GB' (powers of 1000, as df -H)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"
