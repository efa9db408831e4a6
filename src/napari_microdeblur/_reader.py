"""napari's File > Open for TIFF / OME-TIFF / ImageJ TIFF, (OME-)Zarr and PNG, read as the
package reads its inputs (``core.io.read_image``): the image at its pixel size in um (and a
time step in seconds) with napari's units, where the file places it (an OME-Zarr's
translation), its axes as axis labels, named after its file, one layer per channel where the
file has a channel axis, and the plugin's deblur record of an
output in ``layer.metadata['microdeblur_file']``. napari's own reader opens these files at
scale 1 (a wrong scale bar) and names a Zarr's layer after its array ('res [1]'); its Pillow
reader cut a 16-bit colour PNG (a deblur's output) to 8 bits. A JPEG is left to napari's
reader: always 8 bits, with no pixel size or record that ``core.io`` reads, it would gain
nothing here.

The record is kept under its own key, not the 'microdeblur' key of a layer the plugin made in
this session: the Compare & QC dock takes such a layer for a preview or heatmap, and the writer
saves that record as the layer's own; a layer opened here is saved with its file's record and
a 'resaved' entry, as one napari's reader opened (``_writer.file_provenance``).

Axes are named (labels, channels split) only where the file states them (ImageJ, OME,
tifffile's description, OME-Zarr): a plain TIFF's leading axes are tifffile's guess, and
napari's defaults are kept for them. A layer split from a file's channel axis keeps which
channel it is in ``layer.metadata['microdeblur_file_channel']`` (the writer saves it with the
file's record and channel name: it holds that channel's pixels, not other ones). Planar RGB(A)
(SYX: by a TIFF's colour tag, or stated, as the CLI writes colour in float32) opens as one RGB
layer, its samples moved last, as the CLI deblurs it as colour.

Files it cannot read are declined (None), and napari's other readers take them; a file it
claims (.tif, .tiff, .svs, .ndpi, a Zarr folder; a PNG is left to napari's reader, which
says its error) but cannot read, or a folder that is no Zarr, is declined with the reason in a
warning and a napari notification (``core.io.read_image``'s: a PNG named .tif, a truncated
file): napari itself says only that the reader refused it. npe2 0.10 offers a reader that
accepts folders for every folder (its filename patterns are not matched against folders, npe2
issue #155), so napari asks which reader to use for any folder dropped.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

#: metadata key of the deblur record of the file a layer was opened from
FILE_RECORD_KEY = "microdeblur_file"
#: metadata key of the channel a layer is of the file it was opened from, where the reader
#: split the file's channel axis: {'axis': its index in 'shape', 'index', 'shape': the file's}
FILE_CHANNEL_KEY = "microdeblur_file_channel"
#: what the manifest's reader takes; .ome.tif, .ome.tiff and .ome.zarr end in these
SUFFIXES = (".tif", ".tiff", ".zarr", ".png", ".svs", ".ndpi")
#: the compound suffixes left out of a layer's name, longest first
NAME_SUFFIXES = (".ome.tiff", ".ome.tif", ".ome.zarr", ".tiff", ".tif", ".zarr", ".png", ".svs",
                 ".ndpi")
#: a TIFF up to this size is read whole, as napari's own reader reads every TIFF; a larger
#: one plane by plane as napari shows it (dask), so that opening it reads nothing
READ_WHOLE_BYTES = 1 << 30
#: napari's units of the axes this package calibrates
UNITS = {"Z": "micrometer", "Y": "micrometer", "X": "micrometer", "T": "second"}


def get_reader(path):
    """npe2 reader: a function that reads ``path`` into layer data, or None where this reader
    cannot read it (napari then offers its other readers)."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:  # a stack of files: napari's own reader stacks them
            return None
        path = path[0]
    path = os.fspath(path)
    if os.path.isdir(path):  # npe2 hands this reader every folder (accepts_directories)
        from .core.io import is_zarr

        if not is_zarr(path):
            _tell(f"Microscopy Deblur opens Zarr folders (.zarr, .ome.zarr) only, not folder "
                  f"{Path(path).name!r}: open it with napari's own reader ('napari' in the "
                  "reader dialog, or viewer.open(path, plugin='napari'))")
            return None
    elif not path.rstrip("/\\").lower().endswith(SUFFIXES):
        return None
    try:
        image = _read(path)
    except Exception as error:  # noqa: BLE001 - no TIFF, a damaged one, a Zarr without an image
        if path.lower().endswith(".png"):  # napari's own reader tries it, and says what fails
            return None
        # napari only says the reader refused the file: the reason is said here
        reason = str(error) if isinstance(error, (ValueError, OSError)) else \
            f"{type(error).__name__}: {error}"
        _tell(f"Microscopy Deblur cannot open {Path(path).name!r}: {reason}")
        return None
    return lambda _path: layer_data(image, path)


def _tell(message: str) -> None:
    """A warning for scripts and a napari notification for the viewer: under ``napari.run()``
    napari shows warnings as notifications itself, each message once per session only, so
    there the notification alone (a file dropped again is told again)."""
    try:
        from napari.utils.notifications import notification_manager, show_warning
    except ImportError:
        warnings.warn(message, UserWarning, stacklevel=3)
        return
    if warnings.showwarning != notification_manager.receive_warning:
        warnings.warn(message, UserWarning, stacklevel=3)
    show_warning(message)


def _read(path: str):
    from .core.io import read_image

    # headers only for an uncompressed TIFF and a Zarr; an alpha channel kept, as shown
    return read_image(path, lazy=True, keep_alpha=True)


def layer_name(path: str) -> str:
    """The file's name without its image suffix ('cells.ome.tif' -> 'cells')."""
    name = Path(path.rstrip("/\\")).name
    for suffix in NAME_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def layer_data(image, path: str) -> list[tuple]:
    """napari layer data tuples of ``image`` (``core.io.ImageData``) read from ``path``."""
    array, axes = _viewable(image.array), image.axes
    name = layer_name(path)
    if len(axes) == np.ndim(array) and _planar_colour(image, axes, array.shape):
        array, axes = _samples_last(array, axes)
        if image.note:  # the file's colour tag alone made them RGB: said, as the CLI says it
            _tell(f"Microscopy Deblur opened {Path(path).name!r} as RGB: {_note(image)}")
    shape = tuple(int(n) for n in array.shape)
    metadata = _metadata(image)
    if not axes or len(axes) != len(shape):  # nothing known of its axes: napari's defaults
        return [(array, {"name": name, "metadata": metadata}, "image")]
    rgb = axes.endswith("S") and shape[-1] in (3, 4)
    dims = axes[:-1] if rgb else axes.replace("S", "C")  # samples napari cannot show: channels
    kwargs = {"name": name, "rgb": rgb, "metadata": metadata, **_rgb_limits(image, array, rgb)}
    if axes.endswith("S") and shape[-1] == 2:  # gray + alpha, marked so (else read as C)
        return _gray_alpha(array, image, dims, name, metadata)
    if not image.stated:  # leading axes guessed by tifffile: only the plane's size is sure
        scale, units = _calibration(dims, image, only="YX")
        return [(array, {**kwargs, "scale": scale, "units": units}, "image")]
    if "C" not in dims:
        scale, units = _calibration(dims, image)
        labels = tuple(a.lower() for a in dims)
        colours = _colormaps(image, 1) if not rgb else None
        kwargs.update({"colormap": colours[0]} if colours else {})
        kwargs.update(_placed(dims, image))
        return [(array, {**kwargs, "scale": scale, "units": units, "axis_labels": labels},
                 "image")]
    channel = dims.index("C")
    rest = dims.replace("C", "")
    scale, units = _calibration(rest, image)
    n = shape[channel]
    names = image.metadata.get("channel_names")
    names = names if isinstance(names, list) and len(names) == n else None
    colours = _colormaps(image, n)  # the file's LUTs; napari's magenta / green otherwise
    placed = _placed(rest, image, n)
    # napari splits along channel_axis; a list per channel for each per-axis value (a
    # 3-tuple of labels beside 3 channels would be read as one label per channel)
    return [(array, {**({"colormap": colours} if colours else {}), **placed,
        "name": [f"{name} ({names[i] if names else f'channel {i}'})" for i in range(n)],
        "channel_axis": channel, "rgb": False, "scale": [scale] * n, "units": [units] * n,
        "axis_labels": [tuple(a.lower() for a in rest)] * n,
        "metadata": [{**metadata, FILE_CHANNEL_KEY: {"axis": channel, "index": i,
                                                     "shape": list(shape)}}
                     for i in range(n)]}, "image")]


def _rgb_limits(image, array, rgb: bool) -> dict:
    """contrast_limits (0, 255) for a float RGB deblur output of an 8-bit input, as the Deblur
    dock shows its result (the source layer's limits): napari took the float image's own
    range (22.5-232.8), a washed-out H&E beside the dock's. 8 bits by the input's range it
    was normalised from (the record names no input dtype): within 0-255 and its top past 64,
    so a float image of 0-1, or of 0-10, keeps its own limits (0-10 had shown near black)."""
    from .core.provenance import RECORD_KEY

    record = image.metadata.get(RECORD_KEY)
    if not rgb or np.dtype(array.dtype).kind != "f" or not isinstance(record, dict):
        return {}
    norm = record.get("normalization")
    try:
        low, high = float(norm["offset"]), float(norm["offset"]) + float(norm["scale"])
    except (TypeError, KeyError, ValueError):  # an older or foreign record: napari's limits
        return {}
    return {"contrast_limits": (0.0, 255.0)} if 0.0 <= low and 64.0 < high <= 255.0 else {}


def _planar_colour(image, axes: str, shape) -> bool:
    """Whether ``image`` holds RGB(A) samples before its Y and X (a planar TIFF: SYX by its
    colour tag, or stated so, as the CLI writes a colour output in float32), which napari
    shows as RGB only with the samples last: the CLI deblurred such a file as colour while
    the viewer showed 3 planes or channels and the Deblur dock ran them gray. A float image
    tagged RGB by its tag alone stays planes (``core.axes``: tifffile.imwrite tags any 3 or
    4 float planes RGB, so it is most likely no colour)."""
    s = axes.find("S")
    if s < 0 or s == len(axes) - 1 or int(shape[s]) not in (3, 4):
        return False
    return image.stated or np.dtype(image.array.dtype).kind != "f"


def _samples_last(array, axes: str) -> tuple[object, str]:
    """(``array`` with its S axis moved last, its axes so): a view, lazy for a lazy array."""
    s = axes.index("S")
    if not isinstance(array, np.ndarray) and not type(array).__module__.startswith("dask"):
        import dask.array as da  # a Zarr array has no moveaxis of its own

        array = da.from_array(array, chunks=getattr(array, "chunks", "auto"))
    return np.moveaxis(array, s, -1), axes[:s] + axes[s + 1:] + "S"


def _note(image) -> str:
    """The line the CLI says of a colour guess (``core.axes.guess_note``), in the viewer's
    words: the Axes box cannot retype an RGB layer; napari's own reader opens them as planes."""
    first = int(image.array.shape[image.axes.index("S")])
    alpha = " (the 4th as alpha, passed through by a deblur)" if first == 4 else ""
    other = "ZYX or CYX" if len(image.axes) == 3 else "its axes"
    return (f"its axis of {first} planes is read as R, G, B{alpha} by the file's colour tag; "
            "if it holds Z planes or channels, open it with napari's own reader "
            f"(plugin='napari') and type {other} in the Deblur dock's Axes")


def _gray_alpha(array, image, dims: str, name: str, metadata: dict) -> list[tuple]:
    """A gray + alpha image (napari has no such layer) as its gray, and its alpha hidden and
    named so: 'channel 1' read as a second channel of data. Calibrated and labelled as one
    image of ``dims`` (its C: the samples) is (``layer_data``)."""
    rest, shape = dims[:-1], [int(n) for n in array.shape]
    scale, units = _calibration(rest, image, only="ZYXT" if image.stated else "YX")
    labels = {"axis_labels": [tuple(a.lower() for a in rest)] * 2} if image.stated else {}
    labels.update(_placed(rest, image, 2) if image.stated else {})
    return [(array, {"name": [f"{name} (gray)", f"{name} (alpha)"], **labels,
                     "channel_axis": len(rest), "rgb": False, "colormap": ["gray", "gray"],
                     "visible": [True, False], "scale": [scale] * 2, "units": [units] * 2,
                     "metadata": [{**metadata, FILE_CHANNEL_KEY: {"axis": len(rest), "index": i,
                                                                  "shape": shape}}
                                  for i in range(2)]}, "image")]


def _colormaps(image, channels: int) -> list | None:
    """The napari colormap of each channel from the file's ImageJ LUTs (one per channel), so
    a file Fiji shows red and green opens red and green; None where it has none."""
    from .core.imagej_luts import colormap_from_lut

    luts = image.metadata.get("luts")
    if not isinstance(luts, list) or len(luts) != channels:
        return None
    return [colormap_from_lut(lut) for lut in luts]


def _calibration(dims: str, image, only: str = "ZYXT") -> tuple[tuple, tuple]:
    """(scale, units) of napari's ``dims``: um for the file's pixel sizes, seconds for its time
    interval, 1 'pixel' (napari's default) for any axis the file gives no size."""
    sizes = dict(image.pixel_size)
    interval = image.metadata.get("time_interval")
    if isinstance(interval, (int, float)) and np.isfinite(interval) and interval > 0:
        sizes["T"] = float(interval)
    scale, units = [], []
    for axis in dims:
        size = sizes.get(axis) if axis in only else None
        known = isinstance(size, (int, float)) and np.isfinite(size) and size > 0
        scale.append(float(size) if known else 1.0)
        units.append(UNITS[axis] if known else "pixel")
    return tuple(scale), tuple(units)


def _placed(dims: str, image, layers: int = 0) -> dict:
    """{'translate': ...} of napari's ``dims`` (one per layer where ``layers``): where the file
    places its image (an OME-Zarr's level-0 translation, as napari-ome-zarr places it), in
    the units of the scale ``_calibration`` gives (``zarr_metadata.POSITION_KEY``); {} where
    it sits at 0, napari's own."""
    from .core.zarr_metadata import POSITION_KEY

    position = image.metadata.get(POSITION_KEY)
    offsets = tuple(float(position.get(a, 0.0)) for a in dims) \
        if isinstance(position, dict) else ()
    if not any(offsets):
        return {}
    return {"translate": [offsets] * layers if layers else offsets}


def _metadata(image) -> dict:
    from .core.provenance import RECORD_KEY

    record = image.metadata.get(RECORD_KEY)
    return {FILE_RECORD_KEY: record} if isinstance(record, dict) and record else {}


def _viewable(array):
    """An array napari can slice: a numpy or Zarr array as it is; ``core.io``'s lazy TIFF read
    whole up to ``READ_WHOLE_BYTES``, else wrapped in dask one plane per chunk."""
    if isinstance(array, np.ndarray) or type(array).__module__.startswith(("zarr", "dask")):
        return array
    shape = tuple(int(n) for n in array.shape)
    dtype = np.dtype(array.dtype)
    if int(np.prod(shape)) * dtype.itemsize <= READ_WHOLE_BYTES:
        return np.asarray(array)
    import uuid

    import dask.array as da

    plane = 3 if len(shape) >= 3 and shape[-1] <= 4 else 2  # RGB samples stay with the plane
    chunks = (1,) * (len(shape) - plane) + shape[-plane:]
    # named: dask's token pickles the array, and the copy's end closed the file it reads
    return da.from_array(array, chunks=chunks, meta=np.empty((0,) * len(shape), dtype),
                         name=f"microdeblur-file-{uuid.uuid4().hex}")
