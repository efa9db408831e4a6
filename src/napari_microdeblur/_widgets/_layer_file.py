"""An image layer's pixel sizes, from its scale or else from the file it was opened from.

napari's builtin reader opens a TIFF at scale 1 on every axis (it does not read ImageJ or OME
resolution), so a file dragged into the viewer has no pixel size by its scale. Where a layer's
Y and X scale are at napari's default of 1 and ``layer.source.path`` is a file the package reads
(TIFF / OME-TIFF / ImageJ, Zarr, other formats through bioio when it is installed), its sizes
come from the file's metadata: headers only, read once per (path, size, mtime). Only when the
layer's data has the file's image shape (a layer cropped, replaced or computed from it has other
pixels or none of its own) and only on the axes where the file's and the dock's axes agree. An
axis the layer's scale gives (not 1) keeps its scale: the layer wins over its file.

The file's axes (``file_axes_of``), where its metadata states them (ImageJ hyperstack, OME,
a tifffile description with axes, OME-Zarr or a Zarr array's ``axes``; not the Q and I that
tifffile gives axes it cannot name) and the layer's data has its shape (singleton axes
aside: a reader may squeeze them): napari names no axes, and a (3, 2, Y, X) ZCYX stack
guessed from its shape is CZYX. A planar RGB file (SYX) that the plugin's reader opened as an
RGB layer has its samples last there (``samples_as_shown``): compared so, it is the file's.

A deblurred result (``layer.metadata['microdeblur']``) has no source path: it records the pixel
sizes its input had (``pixel_size``, um), read when its scale is 1 (``recorded_sizes``).
A layer opened from such a result has its record in the file only (``file_record_of``: the
writer keeps it in a file saved again), and a layer opened from an OME-TIFF, ImageJ TIFF or
OME-Zarr its channel names and time interval (``file_channels_of``: napari's reader drops them).
A layer the plugin's reader split from the file's channel axis holds one channel of it
(``file_channel_of``): it is compared with that channel's shape, and has that channel's name.

A header can take seconds to read (tens of MB of OME-XML): within ``unread_headers_deferred()``
a header not read yet is not read on this thread (taken as no file, its key listed), so that
a dock reads it in the background (``read_header``, ``_header_reads``) and asks again once it
is there."""

from __future__ import annotations

import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np

from ..core.thread_warnings import caught

__all__ = ["file_axes_of", "file_channel_of", "file_channels_of", "file_key_of", "file_record_of",
           "header_read", "layer_pixel_sizes", "read_header", "unread_headers_deferred"]

_NO_SIZES = (".png", ".jpg", ".jpeg", ".bmp")  # formats without a pixel size
_ZARR_ATTRIBUTES = ".zattrs"  # a Zarr v2's attributes (its pixel sizes) change here
_CACHED = 64  # headers kept, the last read
_HEADERS: OrderedDict = OrderedDict()  # file key -> header
_READING: dict = {}  # file key -> Event set when the thread reading it is done
_LOCK = threading.Lock()
_DEFERRED: ContextVar[list | None] = ContextVar("microdeblur_deferred_headers", default=None)


def layer_pixel_sizes(layer, axes: str) -> tuple[dict[str, float], dict[str, str]]:
    """({axis: size} for 'Z', 'Y', 'X', {axis: where it came from}) of image ``layer`` whose
    axes are ``axes`` (the dock's): the layer's scale where not 1 ("layer 'A' scale"), else the
    file's metadata ("file cells.tif") when Y and X are both at 1 (``file_sizes_of``). A scale
    whose layer unit is a length (napari's ``layer.units``, 'nanometer' say) is converted to um;
    under napari's default unit 'pixel' it is taken as um; under any other unit ('second' on a
    time axis the Axes box calls Z) it is no pixel size: a time step never becomes dz=. A
    negative scale only flips the axis on screen: its size is the absolute value."""
    scale = [abs(float(v)) for v in layer.scale]
    if len(axes) != len(scale):
        return {}, {}
    units = [str(u) for u in (getattr(layer, "units", None) or ())]
    per_unit = ([_um_per(u) for u in units] if len(units) == len(scale)
                else [1.0] * len(scale))
    sizes = {a: v * k for a, v, k in zip(axes, scale, per_unit)
             if a in "ZYX" and v != 1.0 and k is not None}
    origins = dict.fromkeys(sizes, f"layer {layer.name!r} scale")
    if "Y" in sizes or "X" in sizes:
        return sizes, origins  # a real scale: the layer's, as it is
    found = file_sizes_of(layer, axes) or recorded_sizes(layer, axes)
    if found:
        sizes_found, origin = found
        for axis, value in sizes_found.items():
            if axis not in sizes:
                sizes[axis], origins[axis] = value, origin
    return sizes, origins


#: napari's units that state no unit: a scale under them is taken as um
NO_UNIT = ("", "pixel", "px", "dimensionless")


def _um_per(unit: str) -> float | None:
    """um per ``unit`` (napari's unit names), 1.0 for no unit, None for one that is no length."""
    from ..core.pixel_units import um_per_unit

    if unit.strip().lower() in NO_UNIT:
        return 1.0
    return um_per_unit(unit)


def recorded_sizes(layer, axes: str) -> tuple[dict[str, float], str] | None:
    """(the pixel sizes a deblurred layer's record keeps from its input, on the layer's
    ``axes``, where they came from), or None: a result has no file to read them from."""
    record = getattr(layer, "metadata", None)
    record = record.get("microdeblur") if isinstance(record, dict) else None
    recorded = record.get("pixel_size") if isinstance(record, dict) else None
    if not isinstance(recorded, dict):
        return None
    sizes = {}
    for axis, value in recorded.items():
        if axis in "ZYX" and axis in axes and isinstance(value, (int, float)) and value > 0:
            sizes[axis] = float(value)
    source = record.get("source_layer")
    return (sizes, f"the deblur record of {source!r}") if sizes else None


def file_sizes_of(layer, axes: str) -> tuple[dict[str, float], str] | None:
    """(the sizes the file ``layer`` was opened from gives on the layer's ``axes``, 'file
    NAME'), or None: no such file, no size in it, or another shape than the layer's data."""
    found = _header_of(layer)
    if found is None:
        return None
    (file_axes, file_shape, pairs, _stated), name, shape = found
    file_axes, file_shape = samples_as_shown(layer, file_axes, file_shape)
    mapped = _map_axes(dict(pairs), file_axes, file_shape, shape, axes) if pairs else {}
    return (mapped, f"file {name}") if mapped else None


def file_axes_of(layer) -> tuple[str, str] | None:
    """(the axes of ``layer``'s dims as the file it was opened from states them, the file's
    name), or None: no such file, axes not stated (a bare TIFF), another shape than the
    layer's data, or axes napari does not show so (S without napari's RGB flag)."""
    from ..core.axes import check_axes

    found = _header_of(layer)
    if found is None:
        return None
    (file_axes, file_shape, _pairs, stated), name, shape = found
    file_axes, file_shape = samples_as_shown(layer, file_axes, file_shape)
    axes = _axes_on(file_axes, file_shape, shape) if stated else ""
    if not axes or axes.endswith("S") != bool(getattr(layer, "rgb", False)):
        return None
    try:
        check_axes(axes, shape)
    except (TypeError, ValueError):
        return None
    return axes, name


def file_record_of(layer) -> tuple[dict, str, str] | None:
    """(the plugin's deblur record in the file ``layer`` was opened from, the file's name, ''
    where the layer's data has the file's image shape and dtype, else what differs), or None:
    no such file, or no record in it. Headers only, read when asked (a save), not
    cached: the record is not part of ``read_header``'s header."""
    from ..core.provenance import RECORD_KEY

    found = _file_extras_of(layer)
    if found is None:
        return None
    extras, name, differs = found
    record = extras.get(RECORD_KEY)
    if not isinstance(record, dict) or not record:
        return None
    return record, name, differs


def file_channels_of(layer) -> dict:
    """The channel names and time interval (s) the file ``layer`` was opened from states
    (``tiff_extras``, a Zarr's metadata) where the layer's data has the file's image shape
    (its dtype aside: a retyped layer keeps its channels and time steps); {} otherwise. A
    layer of one channel of the file (``file_channel_of``) has that channel's name alone.
    Headers only, read when asked (a save)."""
    found = _file_extras_of(layer)
    if found is None or found[2].startswith("the layer's data has shape"):
        return {}
    return {k: found[0][k] for k in ("channel_names", "time_interval") if k in found[0]}


def file_channel_of(layer) -> dict | None:
    """{'index': i, 'count': n, 'name': the file's name of it or None} of the channel of its
    file ``layer`` holds, where the plugin's reader split the file's channel axis into layers
    and the file still has that shape; None otherwise. Headers only."""
    found = _file_extras_of(layer)
    return found[0].get(_CHANNEL) if found is not None else None


_CHANNEL = "file_channel"  # where ``_file_extras_of`` puts ``file_channel_of``'s answer


def _file_extras_of(layer) -> tuple[dict, str, str] | None:
    """(the extras of the file ``layer`` was opened from, its name, '' where the layer's data
    has the file's image shape and dtype, else what differs), or None: no such file. For a
    layer of one channel of the file: that channel's shape, and its name alone."""
    key = file_key_of(layer)
    if key is None:
        return None
    try:
        with caught():  # a Zarr's notes ('pyramid') were said when napari opened it
            shape, dtype, extras = _file_record_header(key[0])
    except Exception:  # noqa: BLE001 - a file moved or changed since: nothing from it
        return None
    expected, extras = _channel_slice(layer, shape, extras)
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    mine = tuple(int(n) for n in data.shape)
    expected = _moved_like(layer, expected, mine)
    differs = ""
    if [n for n in mine if n != 1] != [n for n in expected if n != 1]:  # a reader may squeeze
        whose = f"the file's {shape}" if expected == shape else \
            f"its channel of the file's {shape}: {expected}"
        differs = f"the layer's data has shape {mine}, {whose}"
    elif np.dtype(data.dtype) != dtype:
        differs = f"the layer's data is {np.dtype(data.dtype)}, the file's {dtype}"
    return extras, Path(layer.source.path).name, differs


def samples_as_shown(layer, axes: str, shape: tuple) -> tuple[str, tuple]:
    """A file's ``axes`` and ``shape`` as an RGB ``layer`` shows them where the file holds its
    RGB(A) samples before Y and X (planar SYX): the S axis last, as the plugin's reader moves
    it (``_reader.layer_data``); as they are otherwise."""
    s = axes.find("S")
    if not getattr(layer, "rgb", False) or s < 0 or s == len(axes) - 1 or \
            len(axes) != len(shape) or shape[s] not in (3, 4):
        return axes, tuple(shape)
    return axes[:s] + axes[s + 1:] + "S", (*shape[:s], *shape[s + 1:], shape[s])


def _moved_like(layer, expected: tuple, mine: tuple) -> tuple:
    """``expected`` (a file's shape) with one axis of 3 or 4 moved last where that makes it an
    RGB ``layer``'s ``mine``, singleton axes aside (planar RGB, ``samples_as_shown``: its shape
    alone is known here); as it is otherwise."""
    kept = [n for n in mine if n != 1]
    if not getattr(layer, "rgb", False) or [n for n in expected if n != 1] == kept:
        return expected
    for s, n in enumerate(expected):
        moved = (*expected[:s], *expected[s + 1:], n)
        if n in (3, 4) and s < len(expected) - 1 and [m for m in moved if m != 1] == kept:
            return moved
    return expected


def _channel_slice(layer, shape: tuple, extras: dict) -> tuple[tuple, dict]:
    """(the shape of the file's image that ``layer`` holds, the file's ``extras`` for it):
    ``shape`` and ``extras`` as they are, or, for a layer the plugin's reader split from the
    file's channel axis (``_reader.FILE_CHANNEL_KEY``) while the file keeps the shape it was
    read with, ``shape`` without that axis, its channel (``file_channel_of``) and its name."""
    from .._reader import FILE_CHANNEL_KEY

    meta = getattr(layer, "metadata", None)
    info = meta.get(FILE_CHANNEL_KEY) if isinstance(meta, dict) else None
    try:
        read = tuple(int(n) for n in info["shape"])
        axis, index = int(info["axis"]), int(info["index"])
    except (TypeError, KeyError, ValueError):
        return shape, extras
    if not (0 <= axis < len(read) and 0 <= index < read[axis]) or \
            [n for n in read if n != 1] != [n for n in shape if n != 1]:
        return shape, extras  # another file under that name now: compared whole
    names = extras.get("channel_names")
    name = names[index] if isinstance(names, list) and len(names) == read[axis] else None
    extras = {k: v for k, v in extras.items() if k != "channel_names"}
    if name:
        extras["channel_names"] = [name]
    extras[_CHANNEL] = {"index": index, "count": read[axis], "name": name or None}
    return read[:axis] + read[axis + 1:], extras


def _file_record_header(path: str) -> tuple[tuple, np.dtype, dict]:
    """(shape, dtype, extras: record, channel names, time interval) of the image ``path`` is
    read as (a position's file: its own), no pixel read: a TIFF's from tifffile's headers, a
    Zarr's from its lazy array; other formats (bioio) hold no record this package writes."""
    if in_background(path):
        from ..core.ome_datasets import own_series
        from ..core.tiff_header import open_own_image
        from ..core.tiff_metadata import tiff_extras

        # a position's file: its own position's shape and channel names, not Pos0's
        with open_own_image(path) as tif:
            series = own_series(tif)[0]
            return tuple(int(n) for n in series.shape), np.dtype(series.dtype), tiff_extras(tif)
    from ..core.io import is_zarr, read_zarr

    if not is_zarr(path):
        return (), np.dtype("u1"), {}
    image = read_zarr(path)
    return tuple(int(n) for n in image.array.shape), np.dtype(image.array.dtype), image.metadata


def file_key_of(layer) -> tuple[str, int, int] | None:
    """The key ``read_header`` takes for the file ``layer`` was opened from (resolved path,
    size, mtime), or None where there is no such file the package reads. Stats the file only."""
    path = getattr(getattr(layer, "source", None), "path", None)
    if not path:
        return None
    try:
        return _file_key(Path(path))
    except (OSError, ValueError):
        return None


def in_background(path: str) -> bool:
    """Whether the header of file ``path`` is read off the GUI thread: TIFFs (their OME-XML
    can be tens of MB); a Zarr's or bioio's is read where it is asked for, as it warns."""
    return path.lower().endswith((".tif", ".tiff"))


def header_read(key: tuple) -> bool:
    """Whether the header of ``key`` (``file_key_of``) is read already (answers at once)."""
    with _LOCK:
        return key in _HEADERS


#: The longest a thread waits for another one reading the same header before it reads it
#: itself (Run pressed while a worker reads it: Run must not hang on a stuck reader)
WAIT_FOR_READER_S = 20.0


def read_header(key: tuple, elsewhere=None) -> tuple[str, tuple, tuple, bool]:
    """``_file_header`` of ``key``, read once per key: from the cache, else read by
    ``elsewhere(key)`` where given (another process, say; None from it: read here) or here,
    or, while another thread reads it, when that thread is done (each reads once; after
    ``WAIT_FOR_READER_S``, read here as well)."""
    while True:
        with _LOCK:
            if key in _HEADERS:
                _HEADERS.move_to_end(key)
                return _HEADERS[key]
            reading = _READING.get(key)
            if reading is None:
                reading = _READING[key] = threading.Event()
                break
        if not reading.wait(WAIT_FOR_READER_S):
            return _file_header(*key)
    try:
        header = elsewhere(key) if elsewhere is not None else None
        if header is None:
            header = _file_header(*key)
        with _LOCK:
            _HEADERS[key] = header
            while len(_HEADERS) > _CACHED:
                _HEADERS.popitem(last=False)
        return header
    finally:
        with _LOCK:
            _READING.pop(key, None)
        reading.set()


@contextmanager
def unread_headers_deferred() -> Iterator[list]:
    """Within: a header not read yet is not read on this thread, its file taken as none (no
    sizes, no axes from it) and its key appended to the list given (a dock reads those in a
    worker and asks again). Headers already read answer as always."""
    missed: list = []
    token = _DEFERRED.set(missed)
    try:
        yield missed
    finally:
        _DEFERRED.reset(token)


def _header_of(layer) -> tuple[tuple, str, tuple] | None:
    """(``read_header`` of the file ``layer`` was opened from, its name, the layer's data
    shape), or None where there is no such file the package reads, or its header is not read
    yet within ``unread_headers_deferred``."""
    key = file_key_of(layer)
    if key is None:
        return None
    missed = _DEFERRED.get()
    if missed is not None and not header_read(key) and in_background(key[0]):
        if key not in missed:
            missed.append(key)
        return None
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    shape = tuple(int(n) for n in getattr(data, "shape", ()))
    return read_header(key), Path(layer.source.path).name, shape


def _axes_on(file_axes: str, file_shape: tuple, shape: tuple) -> str:
    """The file's axes on the dims of a layer of ``shape``: dim by dim in order, a file axis
    of 1 the layer lacks skipped (squeezed by its reader); '' where the shapes differ
    otherwise (a crop, a layer given other data) or the layer has a dim the file lacks."""
    if len(file_axes) != len(file_shape):
        return ""
    found, i = [], 0
    for n in shape:
        while i < len(file_shape) and file_shape[i] != n and file_shape[i] == 1:
            i += 1
        if i == len(file_shape) or file_shape[i] != n:
            return ""
        found.append(file_axes[i])
        i += 1
    return "".join(found) if all(n == 1 for n in file_shape[i:]) else ""


def _map_axes(sizes: dict, file_axes: str, file_shape: tuple, shape: tuple, axes: str) -> dict:
    """The file's ``sizes`` on the layer's ``axes``, where the layer's data ``shape`` is the
    file's ``file_shape`` (singleton axes aside: bioio drops them, other readers may not);
    by position, on the axes both name alike. A file without axes gives Y and X only."""
    if not file_axes:
        return {a: sizes[a] for a in "YX" if a in sizes and a in axes} if shape == file_shape \
            else {}
    kept = [i for i, n in enumerate(file_shape) if n != 1]
    layer_kept = [i for i, n in enumerate(shape) if n != 1]
    if [file_shape[i] for i in kept] != [shape[i] for i in layer_kept]:
        return {}
    found = {}
    for fi, li in zip(kept, layer_kept):
        a = file_axes[fi] if fi < len(file_axes) else ""
        if a and a in "ZYX" and li < len(axes) and axes[li] == a and a in sizes:
            found[a] = sizes[a]
    return found


def _file_key(path: Path) -> tuple[str, int, int] | None:
    """(resolved path, size, mtime) of a file the package reads headers of, else None; a Zarr
    directory's mtime is its metadata file's (its attributes change there)."""
    suffix = path.suffix.lower()
    if suffix in _NO_SIZES or not path.exists():
        return None
    if path.is_dir():
        from ..core.io import ZARR_MARKERS  # what makes a folder a Zarr, as the reader says

        names = (*ZARR_MARKERS, _ZARR_ATTRIBUTES)
        marks = [path / m for m in names if (path / m).is_file()]
        if not marks and suffix != ".zarr":
            return None
        stats = [p.stat() for p in marks] or [path.stat()]
        return str(path.resolve()), 0, max(s.st_mtime_ns for s in stats)
    if suffix not in (".tif", ".tiff") and importlib.util.find_spec("bioio") is None:
        return None  # other formats are read through bioio only (never installed for this)
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _file_header(path: str, size: int, mtime_ns: int) -> tuple[str, tuple, tuple, bool]:
    """(axes, shape, ((axis, um), ...), whether the file states its axes) of the image in file
    ``path``, from its headers; size and mtime key ``read_header``'s cache (a file written
    again is read again). Nothing for a file that does not read: the layer is there, unknown
    as before."""
    try:
        if in_background(path):  # headers only, no warnings: safe in a worker thread
            return _tiff_header(path)
        # 'several images', 'pyramid': said when it is read; dropped for this thread only
        # (catch_warnings swapped the process's recorder under a deblur's worker thread)
        with caught():
            from ..core.io import read_image  # Zarr and bioio: lazy, no pixels read

            image = read_image(path)
            # a Zarr's axes are its metadata's or none; bioio names default ones
            stated = bool(image.axes) and Path(path).is_dir()
            return image.axes, tuple(int(n) for n in image.array.shape), \
                tuple(image.pixel_size.items()), stated
    except Exception:  # noqa: BLE001 - any unreadable file: no size, as for a file without
        return "", (), (), False


def _tiff_header(path: str) -> tuple[str, tuple, tuple, bool]:
    """``_file_header`` of a TIFF, from its headers (``core.tiff_header``)."""
    from ..core.tiff_header import read_tiff_header

    header = read_tiff_header(path)
    return header.axes, header.shape, tuple(header.pixel_size.items()), header.stated
