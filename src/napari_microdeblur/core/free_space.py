"""Whether a deblur's outputs fit on their disk, checked before any work.

A deblur's TIFF is filled region by region as the run goes (``io_write.open_tiff_output``: a
sparse file), so a disk too small for it was found only at a write deep in the run: a 3000 x
3000 px Richardson-Lucy into a 20 MB folder computed 22 s of its 32 before 'No space left on
device' (a 100000 x 100000 px EM section: hours). Here each output's bytes are estimated from
its input's header (no pixel read: ``input_shape``) as its shape times the type it is written
in (``output_itemsize``), and compared with the room on its folder's disk (``room``).

A TIFF is written uncompressed: outputs that cannot fit, by the sizes read from their inputs'
headers alone, are refused (``NoRoomError``). A Zarr's chunks and a PNG are compressed, by how
much depends on the image (deblurred float32 noise hardly at all), and the outputs past the
first ``HEADERS_AT_MOST`` are guessed: a shortfall that needs either is a warning, the run
goes on. An input whose header is not read here (a bioio format, a damaged file: its own error
comes when it is read) is not counted: an estimate never refuses more than is certain from
what was read. A disk that reports no size (a FUSE or network mount: 0 blocks) is not
checked, and --no-space-check skips the check where a disk misreports its free space.

The check costs O(folders) system calls besides the headers it reads: each output folder is
listed, looked up and its disk found once (a stat per output, three times over, had taken
9 s for 100000 outputs), and a Zarr input's metadata is read once (``zarr_input``)."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import shutil
import stat
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .notes import DeblurWarning
from .shown import shown_path

#: inputs whose headers a batch reads before its work, at most (0.6-1 ms each: 1000 had
#: added 0.9 s before a batch of 10000 small TIFFs, 200 add 0.2 s); the outputs of the others
#: are taken as the smallest of those read (a folder's tiles are alike), which may warn but
#: never refuses: a full disk stops a batch at its first file that finds it full
HEADERS_AT_MOST = 200
#: outputs written compressed: their estimate is an upper bound (``NoRoom.compressed``)
COMPRESSED = (".zarr", ".png")
#: the advice of the refusal, in the command line's words (a caller may give its own)
ELSEWHERE = "free space there or write elsewhere (-o)"
#: the way round a refusal where the disk misreports its free space (a FUSE or network mount)
MISREPORTED = "or --no-space-check if this disk's free space is misreported"


class NoRoomError(ValueError):
    """Outputs that cannot fit in their folder's free space, refused before any work."""


def input_shape(source, zarrs: dict | None = None) -> tuple[tuple[int, ...], np.dtype] | None:
    """(shape, type) of what a deblur of ``source`` reads, alpha kept, from its header only;
    None where this cannot tell without reading it (a format read through bioio; a header
    its reader will refuse, a truncated file: that reader says what is wrong). ``zarrs``:
    the Zarr inputs read so far this run (``zarr_input``), each read once."""
    from . import io
    from .pixel_units import said_later
    from .tiff_metadata import quiet_tifffile

    path = Path(source)
    try:  # its reader says them: a pyramid's level, series, tifffile's own log lines
        with warnings.catch_warnings(), quiet_tifffile(logging.CRITICAL + 1), said_later():
            warnings.simplefilter("ignore")
            if io.is_zarr(path):
                found = zarr_input(path, zarrs)
                return None if found is None else (found.shape, found.dtype)
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


@dataclass(frozen=True)
class ZarrInput:
    """What a deblur reads of a Zarr input (as ``io.read_zarr``), from its metadata only."""

    shape: tuple[int, ...]
    dtype: np.dtype
    position: str | None = None  # where it sits, in words; None at 0 (``zarr_metadata``)
    unread: tuple[str, ...] = ()  # its coordinate transformations' types that are not read


#: the NGFF coordinate transformations a Zarr input's placement is read from
#: (``zarr_metadata._level_transform``); any other (an affine) is left out of every output
READ_TRANSFORMS = ("scale", "translation", "identity")


def zarr_input(source, zarrs: dict | None = None) -> ZarrInput | None:
    """The Zarr input ``source`` (``ZarrInput``), its store opened once for its size and its
    placement (each had opened it: three reads of its metadata); None where it cannot be read
    (its read for the deblur says why). ``zarrs``: the inputs read so far, by path."""
    key = os.fspath(source)
    if zarrs is not None and key in zarrs:
        return zarrs[key]
    try:
        with warnings.catch_warnings():  # said when it is read for the deblur
            warnings.simplefilter("ignore")
            found = _read_zarr_input(source)
    except Exception:  # noqa: BLE001 - unreadable: its read for the deblur says why
        found = None
    if zarrs is not None:
        zarrs[key] = found
    return found


def _read_zarr_input(source) -> ZarrInput:
    """``zarr_input``'s read: the metadata ``io.read_zarr`` reads, as it reads it."""
    import zarr

    from . import zarr_metadata as zm
    from .io import AXES_PATTERN

    node = zarr.open(str(source), mode="r")
    if hasattr(node, "shape"):  # a bare array: no transformations
        zm.refuse_empty_chunks(node, source)
        return ZarrInput(tuple(int(n) for n in node.shape), np.dtype(node.dtype))
    group = zm.image_group(node, source)
    ome = zm.ome_attrs(group.attrs)
    multiscale = ome["multiscales"][0]
    first = multiscale["datasets"][0]
    level = group[first["path"]]
    zm.refuse_empty_chunks(level, source)  # a damaged store: its read refuses it
    shape = tuple(int(n) for n in level.shape)
    names = [a["name"] if isinstance(a, dict) else a for a in multiscale.get("axes", [])]
    axes, words = "".join(n.upper() for n in names), None
    if AXES_PATTERN.match(axes or "-") and len(axes) == len(shape):
        pixel_size, interval = zm.multiscale_sizes(multiscale, axes)
        extras = zm.zarr_extras(ome, axes, shape, interval, pixel_size)
        position = extras.get(zm.POSITION_KEY)
        if isinstance(position, dict) and position:
            words = zm.position_words(position, pixel_size, extras.get("time_interval"))
    transforms = [*(first.get("coordinateTransformations") or []),
                  *(multiscale.get("coordinateTransformations") or [])]
    unread = sorted({str(t.get("type")) for t in transforms if isinstance(t, dict)}
                    - set(READ_TRANSFORMS))
    return ZarrInput(shape, np.dtype(level.dtype), words, tuple(unread))


def _tiff_shape(path: Path):
    """As ``tiff_header.read_tiff_header`` reads it, with the bytes its pixels take in the
    file: a palette's indices are stored, its colours read (a colour palette had seemed
    truncated, 6 bytes read per byte stored, and was never counted)."""
    from .declared_sizes import refuse_impossible_ome
    from .ome_datasets import own_series
    from .ome_first_image import first_ome_series
    from .tiff_header import open_own_image, series_header

    with open_own_image(path) as tif:
        refuse_impossible_ome(tif, path)
        with first_ome_series(tif) as first:
            series = first if first is not None else own_series(tif)[0]
            header = series_header(tif, series)
            if header.contiguous and series.dataoffset + series.nbytes > path.stat().st_size:
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


#: a 16-bit PNG's samples by its colour type (IHDR), as ``io.png_16bit_colour`` reads them
PNG_16BIT_SAMPLES = {2: 3, 4: 2, 6: 4}


def _picture_shape(path: Path):
    """A PNG, JPEG or BMP's size and samples from its header (Pillow: imageio's own reader);
    a palette counted as one sample (it may read as RGB: an estimate low, never high). A
    16-bit PNG in colour is read with its 16 bits (``io.png_16bit_colour``): Pillow gives
    its mode as 8-bit RGB, which had counted half its bytes."""
    from PIL import Image

    from .io import PNG_SIGNATURE

    with open(path, "rb") as handle:
        head = handle.read(26)
    if head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR" and head[24] == 16 and (
            head[25] in PNG_16BIT_SAMPLES):
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        return (height, width, PNG_16BIT_SAMPLES[head[25]]), np.dtype(np.uint16)
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
    from .io_write import ome_written_dtype

    return ome_written_dtype(output, dtype).itemsize


def output_bytes(source, output, output_dtype: str, zarrs: dict | None = None) -> int | None:
    """The bytes ``output`` takes, uncompressed, deblurred from ``source``; None where the
    input's header is not read here (``input_shape``; ``zarrs``: its cache)."""
    found = input_shape(source, zarrs)
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
    #: ``needed`` holds only sizes read from headers, of uncompressed outputs: refused
    sure: bool = False
    sized: int = 0  # the outputs ``needed`` counts, where ``sure``

    def words(self, single, elsewhere: str = ELSEWHERE, misreported: str = MISREPORTED) -> str:
        """The line saying so; ``single``: the one output's path, else None (a batch)."""
        what = (f"output {shown_path(single)}" if single is not None else
                f"the {self.outputs} output{'s' * (self.outputs > 1)} this run writes")
        free, folder = size_words(self.free), shown_path(self.folder)
        if self.sure:
            if self.sized < self.outputs:  # the others' sizes are not known: not counted
                line = (f"{what} need more than the {free} free in {folder} (the "
                        f"{self.sized} whose inputs' headers were read alone need about "
                        f"{size_words(self.needed)})")
            else:
                need = "need" if single is None and self.outputs > 1 else "needs"
                line = (f"{what} {need} about {size_words(self.needed)} in {folder}, which "
                        f"has {free} free")
            return f"{line}: nothing was computed or written; {elsewhere}; {misreported}"
        guessed = (f" (the first {HEADERS_AT_MOST} inputs' headers read, each other output "
                   "taken as the smallest of theirs)") if self.guessed else ""
        need = "may need up to" if self.compressed else "may need"
        line = (f"{what} {need} about {size_words(self.needed)}{guessed} in {folder}, which "
                f"has {free} free")
        if self.compressed:  # an upper bound: said, not refused
            return (f"{line} (uncompressed; written compressed, it may fit: if the disk fills, "
                    f"the run stops and nothing is left of the output); {elsewhere}")
        return (f"{line} (an estimate: if the disk fills, the run stops at the file that finds "
                f"it full); {elsewhere}")


@dataclass
class _Tally:
    """Bytes a run adds to a disk, output by output, and the most at any moment."""

    running: int = 0
    peak: int = 0

    def add(self, new: int, old: int) -> None:
        """An output of ``new`` bytes written, then the ``old`` bytes it replaces freed
        (``atomic_write``)."""
        self.peak = max(self.peak, self.running + new)
        self.running += new - old


@dataclass
class _Disk:
    folder: Path
    #: the uncompressed outputs sized from their inputs' headers: what is certain
    sure: _Tally = field(default_factory=_Tally)
    #: with the compressed outputs' upper bounds and the guessed ones: what is likely
    likely: _Tally = field(default_factory=_Tally)
    outputs: int = 0
    sized: int = 0  # the outputs ``sure`` counts
    guessed: int = 0
    compressed: bool = True


def shortfalls(pairs, output_dtype: str, overwrite: bool,
               zarrs: dict | None = None) -> list[NoRoom]:
    """The disks that cannot hold the outputs of ``pairs`` ((input, output), in the order
    they are written) not yet there, or with ``overwrite`` all of them: a replaced output's
    old bytes are freed only when its new one is complete (``atomic_write``). Empty where
    each fits, where nothing was estimated, or where a disk does not say its size. ``zarrs``:
    the Zarr inputs read (``zarr_input``)."""
    pairs = [(source, os.path.normpath(os.fspath(target))) for source, target in pairs]
    pairs = [(source, target, *os.path.split(target)) for source, target in pairs]
    places = _Places(Counter(head for _, _, head, _ in pairs))
    read, smallest = 0, None
    for source, target, head, name in pairs:
        disk, exists = places.find(head, name, target)
        if exists and not overwrite:
            continue  # skipped by the batch, or refused as existing
        compressed = name.lower().endswith(COMPRESSED)
        if read < HEADERS_AT_MOST:
            read += 1
            new = output_bytes(source, target, output_dtype, zarrs)
            if new is not None:
                smallest = new if smallest is None else min(smallest, new)
            old = _size(target) if exists else 0
            guessed = False
        else:  # past the headers read: a replaced output taken as its new one's size
            new, guessed = smallest, True
            old = (new or 0) if exists else 0
        sure = 0 if new is None or guessed or compressed else new
        disk.sure.add(sure, old)  # an unread or guessed output: its old bytes freed alone
        disk.likely.add(new or 0, old)
        if new is None:
            continue  # not counted: its read says what is wrong with it
        disk.outputs += 1
        disk.sized += not (guessed or compressed)
        disk.guessed += guessed
        disk.compressed &= compressed
    found = []
    for disk in places.disks.values():
        free = room(disk.folder) if disk.outputs else None
        if free is not None and disk.sure.peak > free:
            found.append(NoRoom(disk.folder, disk.sure.peak, free, disk.outputs,
                                disk.compressed, disk.guessed, sure=True, sized=disk.sized))
        elif free is not None and disk.likely.peak > free:
            found.append(NoRoom(disk.folder, disk.likely.peak, free, disk.outputs,
                                disk.compressed, disk.guessed))
    return found


class _Places:
    """The output folders of a run, each looked up once: the disk it is on, and (for a
    folder that two or more outputs go to) its listing."""

    def __init__(self, counts: Counter):
        self.counts = counts  # outputs per folder
        self.disks: dict[int, _Disk] = {}
        self.folders: dict[str, tuple[_Disk, set | None]] = {}

    def find(self, head: str, name: str, target: str) -> tuple[_Disk, bool]:
        """The disk of the output ``target`` (``name`` in the folder ``head``), and whether
        it exists."""
        found = self.folders.get(head)
        if found is None:
            folder = existing_folder(Path(target))
            disk = self.disks.setdefault(os.stat(folder).st_dev, _Disk(folder))
            names = None
            if self.counts[head] > 1:  # one listing, not a look-up per output
                names = set()
                with contextlib.suppress(OSError):
                    names = set(os.listdir(head or os.curdir))
            found = self.folders[head] = (disk, names)
        disk, names = found
        return disk, name in names if names is not None else os.path.lexists(target)


def _size(path) -> int:
    try:
        found = os.stat(path)
    except OSError:
        return 0
    return found.st_size if stat.S_ISREG(found.st_mode) else 0  # a Zarr store: not counted


def room(folder) -> int | None:
    """The bytes this process may still write on ``folder``'s disk; None where the disk does
    not say (a FUSE or network mount that reports 0 blocks: refusing on it would be a
    guess). Blocks a disk keeps in reserve (ext4's 5%: f_bfree, not f_bavail, which
    ``shutil.disk_usage`` gives) are counted where this process may write them
    (``may_write_reserve``: root's, unless the mount gives them to another user)."""
    usage = shutil.disk_usage(folder)
    if usage.total <= 0:
        return None
    free = usage.free
    if hasattr(os, "statvfs"):
        found = os.statvfs(folder)
        if found.f_blocks <= 0:
            return None
        reserve = (found.f_bfree - found.f_bavail) * found.f_frsize
        if reserve > 0 and may_write_reserve(os.stat(folder).st_dev):
            free += reserve
    return free


#: the bit of CAP_SYS_RESOURCE in /proc's CapEff: its holder may write a disk's reserve
CAP_SYS_RESOURCE = 24


def may_write_reserve(device: int) -> bool:
    """Whether this process may write the blocks the disk ``device`` keeps in reserve, as
    Linux decides (ext4_has_free_clusters): its user is the reserve's (resuid, root unless
    the mount says otherwise), a group of its is the reserve's (resgid, where not root's), or
    it holds CAP_SYS_RESOURCE. Root in a container may not: a mount with resuid=65534 and
    the capability dropped (as here, where root sees 237 GB free and may write 75 GB). No
    /proc (macOS): root's, as there."""
    if not hasattr(os, "geteuid"):
        return False  # Windows: its free space is the user's own
    try:
        texts = [Path("/proc/self", name).read_text() for name in ("status", "mountinfo",
                                                                   "uid_map")]
    except OSError:
        return os.geteuid() == 0
    return reserve_is_ours(*texts, device, os.geteuid(), {os.getegid(), *os.getgroups()})


def reserve_is_ours(status: str, mountinfo: str, uid_map: str, device: int, uid: int,
                    groups: set) -> bool:
    """``may_write_reserve`` from the texts of /proc/self/status, mountinfo and uid_map."""
    if uid_map.split() != ["0", "0", "4294967295"]:
        return False  # a user namespace: its root is no root of the disk's
    caps = re.search(r"^CapEff:\s*([0-9a-fA-F]+)", status, re.MULTILINE)
    if caps and int(caps.group(1), 16) >> CAP_SYS_RESOURCE & 1:
        return True
    options = _mount_options(mountinfo, device)
    with contextlib.suppress(ValueError):
        resgid = int(options.get("resgid", 0))
        return uid == int(options.get("resuid", 0)) or (resgid != 0 and resgid in groups)
    return False


def _mount_options(mountinfo: str, device: int) -> dict:
    """The superblock options (key=value) of the filesystem ``device`` is in mountinfo."""
    numbers = f"{os.major(device)}:{os.minor(device)}"
    for line in mountinfo.splitlines():
        # id parent major:minor root point options [optional...] - type source superoptions
        fields = line.split()
        if len(fields) < 10 or fields[2] != numbers or "-" not in fields[6:]:
            continue
        after = fields[fields.index("-", 6) + 1:]
        options = after[2].split(",") if len(after) > 2 else []
        return dict(option.split("=", 1) for option in options if "=" in option)
    return {}


def check_outputs_fit(pairs, output_dtype: str = "float32", overwrite: bool = False, *,
                      elsewhere: str = ELSEWHERE, zarrs: dict | None = None) -> None:
    """Refuse (``NoRoomError``) where the outputs of ``pairs`` cannot fit on their disk
    (``shortfalls``), before any work; where they are written compressed or partly guessed,
    a warning. One output (``pairs`` of one) is named; a batch's are counted. ``zarrs``: the
    Zarr inputs read (``zarr_input``)."""
    pairs = list(pairs)
    single = Path(pairs[0][1]) if len(pairs) == 1 else None
    try:
        found = shortfalls(pairs, output_dtype, overwrite, zarrs)
    except OSError:  # a folder that cannot be read: the write says what is wrong with it
        return
    for short in found:
        if short.sure:
            raise NoRoomError(short.words(single, elsewhere))
        warnings.warn(short.words(single, elsewhere), DeblurWarning, stacklevel=2)


def size_words(count: int) -> str:
    """Bytes as a person reads them: '4.19 MB', '40 GB' (powers of 1000, as df -H)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"
