"""napari's File > Save Selected Layers... for one image layer, through the package's own
writer: an ImageJ hyperstack (.tif), OME-TIFF (.ome.tif) or OME-Zarr (.zarr) that keeps what
napari's builtin writer drops.

napari hands the writer a layer's data and state, not the layer: it is found by its data in the
open viewers (``viewer_layer``) and read as the docks read it. Kept: the axes (the plugin's
record in ``layer.metadata['microdeblur']['axes']``, else the layer's file, else the shape's
guess as the docks make it, a first dim of 2-4 settled by its napari label or unit and step (a
length is Z); still in doubt, a .tif is saved without axes, as napari's builtin saves it, Y/X
sizes in a length unit kept, and a line says so), the pixel sizes in um where the units are
lengths (a unitless light-microscope scale as um, with a line; else the layer's file's or
record's), a time interval where T has a time unit (any of napari's), else the record's or
file's, channel names from the record or file (``source_channels``; not in ImageJ's .tif), RGB
as RGB, and the plugin's provenance record as JSON (ImageJ's Info in a .tif, the OME Image
Description, the description's JSON in a TIFF ImageJ cannot hold, the group's ``microdeblur``
attribute in a .zarr). A layer napari opened from such a file is saved with the file's record
and an entry under ``resaved`` (``file_provenance``; for one channel the plugin's reader split
off: its index and name); one whose data is no longer the file's image, without it, in one line.
A .zarr keeps the Y and X chunks of the Zarr the layer (or the layer a result was deblurred
from) was opened from, by the CLI's rule (``io_write.output_chunks``: 64-2048 px).
A .zarr keeps where the layer sits (its translate, as an NGFF translation); a TIFF does not,
and says so (``_writer_position``).

napari lists its own writer first there unless this plugin was found first, so
``save_calibrated`` (File > IO Utilities > Save image layer with calibration..., the Deblur
dock's "Save result...") saves through this writer whatever the dialog offers first.

The file appears whole or not at all (a temporary name, then rename). An existing file is
replaced, as napari's own writers do after its dialog asked; never the file of the layer or of
its input (``_writer_paths.check_not_a_source``)."""

from __future__ import annotations

import math
import os
import warnings
from types import SimpleNamespace  # stands for a layer's data or a Zarr: its shape, chunks

import numpy as np

from ._writer_paths import EXTENSIONS as EXTENSIONS  # the manifest's suffixes, as before
from ._writer_paths import calibrated_path, check_not_a_source, check_ome_dtype
from ._writer_position import position_note, position_said, zarr_position
from ._writer_units import certain_yx, seconds_per, settled_axes, unit_name
from .core.provenance import RECORD_KEY


def write_image_layer(path: str, data, meta: dict) -> list[str]:
    """npe2 single-layer writer: ``data`` and ``meta`` as in ``layer.as_layer_data_tuple()``.
    Returns the path written. A refusal (ValueError) is also warned: napari's
    ``layer.save(..., plugin=)`` and ``napari.save_layers`` drop the error and say only that
    the plugin "is not a valid writer"; napari's save dialog records warnings and shows the
    error itself."""
    try:
        return _write_layer(path, data, meta, viewer_layer(data, meta))
    except ValueError as error:
        warnings.warn(f"napari-microdeblur did not save {os.path.basename(os.fspath(path))!r}: "
                      f"{error}", UserWarning, stacklevel=2)
        raise


def save_calibrated(layer, path, chosen_filter: str = "") -> list[str]:
    """Save the image ``layer`` through this writer, whichever writer napari's own save dialog
    lists first (that follows the order Python finds the installed plugins in)."""
    from ._widgets._layers import is_image_layer

    if not is_image_layer(layer):
        raise ValueError(f"layer {getattr(layer, 'name', layer)!r} is not an image layer; select "
                         "the image layer to save")
    data, meta, _ = layer.as_layer_data_tuple()
    return _write_layer(calibrated_path(path, chosen_filter), data, meta, layer)


def saved_contents(path) -> str:
    """What the file ``path`` just written holds of the layer's calibration, read back from
    its headers (no pixel read): 'with axes ZYX, pixel size 0.1 x 0.1 um, z step 0.3 um and
    its deblur record', and what it lacks ('; without axes, pixel size'): a save may leave
    them out (axes in doubt, a scale with no unit), each said in a line of its own. '' where
    it cannot be read back."""
    from .core.thread_warnings import caught

    try:
        with caught():  # its notes were said when it was written
            axes, sizes, extras = _saved_header(os.fspath(path))
    except Exception:  # noqa: BLE001 - written, but not readable here: nothing claimed
        return ""
    kept, lacking = [], []
    (kept if axes else lacking).append(f"axes {axes}" if axes else "axes")
    if sizes.get("Y") and sizes.get("X"):
        kept.append(f"pixel size {sizes['Y']:.4g} x {sizes['X']:.4g} um")
    else:
        lacking.append("pixel size")
    if sizes.get("Z") and "Z" in axes:
        kept.append(f"z step {sizes['Z']:.4g} um")
    names = extras.get("channel_names")
    if isinstance(names, list) and any(names):
        kept.append("channel names " + ", ".join(map(str, names)))
    if extras.get("time_interval"):
        kept.append(f"time interval {extras['time_interval']:.4g} s")
    kept += position_said(path, sizes, extras, lacking)
    (kept if extras.get(RECORD_KEY) else lacking).append(
        "its deblur record" if extras.get(RECORD_KEY) else "deblur record")
    said = ("with " + ", ".join(kept[:-1]) + (" and " if len(kept) > 1 else "") + kept[-1]
            if kept else "")
    return ((said + "; ") if said and lacking else said) + (
        "without " + ", ".join(lacking) if lacking else "")


def _saved_header(path: str) -> tuple[str, dict, dict]:
    """(the axes ``path`` states, '' for none; its pixel sizes in um; its extras: record,
    channel names, time interval), from its headers."""
    from .core.io import is_zarr, read_zarr

    if is_zarr(path):
        image = read_zarr(path)  # lazy: metadata only
        return image.axes or "", dict(image.pixel_size), dict(image.metadata)
    import tifffile

    from .core.tiff_header import read_tiff_header
    from .core.tiff_metadata import tiff_extras

    header = read_tiff_header(path)
    with tifffile.TiffFile(path) as tif:
        extras = tiff_extras(tif)
    return (header.axes if header.stated else ""), dict(header.pixel_size), extras


def _write_layer(path: str, data, meta: dict, layer) -> list[str]:
    """The writer for ``layer``, the viewer's layer holding ``data`` (None: none found)."""
    from .core.io import is_zarr
    from .core.io_write import write_image

    array = data[0] if meta.get("multiscale") else data  # a pyramid: its full resolution
    if layer is not None:  # the file napari shows it from is never replaced
        check_not_a_source(path, layer)
    check_ome_dtype(path, array.dtype, meta.get("name"))
    record = provenance(meta)
    if record is None and layer is not None:  # napari's reader leaves a file's record out
        record, meta = file_provenance(meta, layer)
    axes = layer_axes(tuple(array.shape), meta, layer)
    from ._widgets._layers import layer_axes_origin

    guessed = layer is None or not layer_axes_origin(layer)[1]  # from the shape alone
    # a guess in doubt that the first dim's own unit or label settles is no guess
    settled, note = settled_axes(tuple(array.shape), axes, meta) if axes and guessed else ("", "")
    if note:
        _tell(note)
    axes = settled or axes
    if not axes or (guessed and not settled and _in_doubt(tuple(array.shape), axes, meta, path,
                                                          layer is not None)):
        written = _write_unnamed(path, array, meta, record)  # as napari's builtin, + record
        _tell(position_note(path, meta))
        return written
    pixel_size, extras = layer_calibration(axes, meta, layer)
    extras = {**source_channels(meta, layer), **extras}  # the layer's own T scale wins
    from .core.imagej_luts import saved_colours  # the colormap as ImageJ's LUT, for Fiji

    extras.update(saved_colours(axes, array.shape, meta, lambda: _tiff_source(meta, layer)))
    if is_zarr(path):
        extras.update(zarr_position(axes, meta, pixel_size, extras))
        _write_zarr(path, array, axes, pixel_size, extras, record,
                    like=stored_like(array, axes, meta, layer))
    else:  # overwrite: napari's save dialog asked to replace; the record as the CLI keeps it
        _hint_float_rgb(array, axes, meta)
        write_image(path, array, axes=axes, pixel_size=pixel_size, overwrite=True,
                    metadata=extras, record=record)
    _tell(position_note(path, meta))
    return [os.fspath(path)]


def viewer_layer(data, meta: dict):
    """The image layer being saved (the writer is handed its data, not the layer), in any open
    viewer: the one holding ``data`` itself, else the only one of that name and shape in all
    of them (two viewers may each show a file of the same name and shape: neither is taken);
    None where there is none (a script calling the writer without a viewer). With viewers open
    and no layer found, one line says the layer's file calibration and record are not kept."""
    viewers = open_viewers()
    if not viewers:
        return None
    from ._widgets._layers import is_image_layer, layer_data, unwrap

    layers = [unwrap(la) for v in viewers for la in v.layers if is_image_layer(unwrap(la))]
    array = data[0] if meta.get("multiscale") else data
    for la in layers:
        if la.data is data or layer_data(la) is array:
            return la
    shape = tuple(getattr(array, "shape", ()))
    named = [la for la in layers if la.name == meta.get("name")
             and tuple(layer_data(la).shape) == shape and bool(la.rgb) == bool(meta.get("rgb"))]
    if len(named) == 1:
        return named[0]
    why, fix = ((f"{len(named)} layers of that name and shape are open", "save it with File > IO "
                 "Utilities > Save image layer with calibration... in its viewer") if named else
                ("it is in no open viewer", "add it to a viewer before saving"))
    _tell(f"layer {meta.get('name')!r}: {why}, so the pixel sizes, axes and record of the file "
          f"it was opened from are not read: saved with the layer's own scale and units only; "
          f"to keep them, {fix}, or set its scale and units (e.g. layer.units = 'um')")
    return None


def open_viewers() -> list:
    """napari's open viewers, the current one first; [] without napari or Qt. napari has no
    public list of them: its Viewer class keeps one (``Viewer.close_all`` reads it)."""
    try:
        import napari

        current = napari.current_viewer()
    except Exception:  # noqa: BLE001 - no napari, no Qt: a script without a viewer
        return []
    others = list(getattr(napari.Viewer, "_instances", ()))
    return ([current] if current is not None else []) + [v for v in others if v is not current]


def _in_doubt(shape: tuple, axes: str, meta: dict, path, in_viewer: bool) -> bool:
    """Whether ``axes``, guessed from the shape alone (no record, no file stating them), may
    be wrong (``core.axes.guess_note``). Says so in one line: a .tif is then saved without
    axes, as napari's builtin saves it (a wrong label is worse than none); OME formats, which
    need axes, are saved with the guess."""
    from .core.axes import guess_note, other_readings
    from .core.io import is_zarr

    recorded = _record_axes((meta.get("metadata") or {}).get(RECORD_KEY), shape,
                            bool(meta.get("rgb")))
    others = other_readings(shape, axes)
    if recorded or meta.get("rgb") or not others:
        return False
    other = others[0]  # the likelier one (layers are never guessed SYX, which has two)
    fix = ("" if in_viewer else "save it from the viewer, or ") + \
        "set layer.metadata['microdeblur'] = {{'axes': {0!r}}}"
    name, shape = meta.get("name"), tuple(int(n) for n in shape)
    if is_zarr(path) or str(path).lower().endswith((".ome.tif", ".ome.tiff")):
        _tell(f"layer {name!r}: " + guess_note(shape, axes, give=fix))
        return False
    lost = "axes" if certain_yx(meta) else "axes or pixel sizes"  # Y/X in a unit are kept
    _tell(f"layer {name!r}: shape {shape} may be {axes} or {other}: saved without {lost}, as "
          f"napari's own writer saves it; to keep them, {fix.format(other)} (or {axes!r}), or "
          "give its first axis a step and unit (e.g. layer.scale[0] = 0.3 and layer.units = "
          "'um' for Z planes)")
    return True


def _record_axes(record, shape: tuple, rgb: bool) -> str | None:
    """The axes the plugin recorded for the layer, if they still fit its data."""
    from .core.io import AXES_PATTERN

    axes = record.get("axes") if isinstance(record, dict) else None
    if not isinstance(axes, str) or not AXES_PATTERN.match(axes) or len(set(axes)) != len(axes):
        return None
    if len(axes) != len(shape) or axes.endswith("S") != rgb or not {"Y", "X"} <= set(axes):
        return None
    return axes


def layer_axes(shape: tuple, meta: dict, layer=None) -> str:
    """The layer's axes as the docks take them: for the viewer's ``layer``, its record, else
    its file's axes, else its napari labels, else its shape (``guess_layer_axes``); with no
    layer, the same from ``meta`` (napari's RGB flag is S). '' where none (over 5 dims)."""
    from ._widgets._layers import guess_layer_axes

    if layer is not None:
        return guess_layer_axes(layer)
    rgb = bool(meta.get("rgb"))
    if axes := _record_axes((meta.get("metadata") or {}).get(RECORD_KEY), shape, rgb):
        return axes
    # the docks' guess reads the layer's labels, shape and RGB flag only (no pixels touched)
    shaped = SimpleNamespace(data=SimpleNamespace(shape=shape), rgb=rgb, multiscale=False,
                             axis_labels=meta.get("axis_labels"))
    return guess_layer_axes(shaped)  # '' past 5 dims


def layer_calibration(axes: str, meta: dict, layer=None) -> tuple[dict[str, float], dict]:
    """Pixel sizes in um of the layer's Z, Y, X dims whose unit is a length, and the extras
    (``tiff_metadata``) its T dim gives: ``time_interval`` in seconds for a time unit. Where
    the scale gives no Y/X size, those of the file the viewer's ``layer`` was opened from
    (napari's reader opens it at scale 1) or of its record, as the docks read them. A flipped
    axis (negative scale) is saved at its size, unflipped: TIFF has no way to state a flip."""
    from .core.pixel_units import NO_UNITS, PLAUSIBLE_UM, um_per_unit

    dims = axes.replace("S", "")  # napari has no dim for RGB samples
    scale = list(meta.get("scale") or [1.0] * len(dims))
    units = list(meta.get("units") or [None] * len(dims))
    sizes, extras, assumed, unitless, untimed = {}, {}, [], [], ""
    for axis, step, unit in zip(dims, scale, units):
        # a negative step only flips the axis on screen: its size is the absolute value
        step, name = abs(float(step)), unit_name(unit)
        if not math.isfinite(step) or step == 0:
            continue
        if axis in "ZYX" and um_per_unit(name) is not None:
            sizes[axis] = step * um_per_unit(name)
        elif axis == "T" and seconds_per(unit):
            extras["time_interval"] = step * seconds_per(unit)
        elif axis == "T" and (step != 1.0 or name not in NO_UNITS):  # said, as for lengths
            untimed = f"{step:g}" + (f" {name}" if name not in NO_UNITS else "")
        elif axis in "ZYX" and step != 1.0:
            # no length unit (napari's default 'pixel'): um, as the docks read a scale, where
            # it is a light-microscope size (the PSF-scale check's range); 1 is unknown
            if PLAUSIBLE_UM[0] < step < PLAUSIBLE_UM[1]:
                sizes[axis] = step
                assumed.append(axis)
            else:
                unitless.append(axis)
    if len(sizes.keys() & {"Y", "X"}) == 1:  # the outputs hold both or neither
        sizes.pop("Y", None), sizes.pop("X", None)
    if layer is not None and not sizes.keys() & {"Y", "X"}:
        sizes.update(_file_sizes(layer, dims, sizes))
    if not sizes:  # a result at scale 1 keeps its input's sizes in its record (um)
        sizes = _recorded_sizes(dims, meta)
    name = meta.get("name")
    if assumed and sizes.keys() & set(assumed):
        _tell(f"layer {name!r}: scale of {', '.join(assumed)} has no length unit, saved as um; "
              "set the layer's units (e.g. layer.units = 'nm') if it is in another unit")
    if unitless:
        _tell(f"layer {name!r}: scale of {', '.join(unitless)} has no length unit and is no "
              "size in um, saved uncalibrated; set the layer's units (e.g. 'nm') to keep it")
    if untimed:
        _tell(f"layer {name!r}: scale of T ({untimed}) has no time unit known here, not saved "
              "as its time interval; set the layer's unit of T to 's', 'ms' or 'us' to keep it")
    return sizes, extras


def source_channels(meta: dict, layer=None) -> dict:
    """The channel names and time interval (s) of the layer's source, as the CLI keeps its
    input's (``tiff_metadata.tiff_extras``): its record's (a deblurred layer's input's), else
    those of the file the viewer's ``layer`` was opened from (napari's reader drops them).
    The writer's formats keep names only where they count the layer's channels."""
    from ._widgets._layer_file import file_channels_of

    record = (meta.get("metadata") or {}).get(RECORD_KEY)
    record = record if isinstance(record, dict) else {}
    found = {}
    names = record.get("channel_names")
    if isinstance(names, (list, tuple)) and names and all(isinstance(n, str) for n in names):
        found["channel_names"] = list(names)
    interval = record.get("time_interval")
    if isinstance(interval, (int, float)) and math.isfinite(interval) and interval > 0:
        found["time_interval"] = float(interval)
    if layer is not None and len(found) < 2:  # headers only, and only what the record lacks
        found = {**file_channels_of(layer), **found}
    return found


def _file_sizes(layer, dims: str, known: dict) -> dict[str, float]:
    """The sizes (um) the docks find for ``layer`` in its file or record, on the axes
    ``known`` lacks; none that come from its scale (its units were read above)."""
    from ._widgets._layer_file import layer_pixel_sizes

    scale_origin = f"layer {layer.name!r} scale"
    found, origins = layer_pixel_sizes(layer, dims)
    sizes = {a: v for a, v in found.items() if origins.get(a) != scale_origin and a not in known}
    return sizes if {"Y", "X"} <= sizes.keys() | known.keys() else {}


def _recorded_sizes(dims: str, meta: dict) -> dict[str, float]:
    """The input's pixel sizes a deblurred layer's record keeps (``pixel_size``, um), on the
    layer's Z, Y and X; Y and X both or neither."""
    record = (meta.get("metadata") or {}).get(RECORD_KEY)
    recorded = record.get("pixel_size") if isinstance(record, dict) else None
    if not isinstance(recorded, dict):
        return {}
    sizes = {a: float(v) for a, v in recorded.items() if a in "ZYX" and a in dims
             and isinstance(v, (int, float)) and math.isfinite(v) and v > 0}
    return sizes if {"Y", "X"} <= sizes.keys() else {}


def _hint_float_rgb(array, axes: str, meta: dict) -> None:
    """RGB(A) saved as a float TIFF (a deblurred 8-bit RGB layer, by default): most viewers
    (Pillow, browsers, an OS's preview) cannot open it, as the command line warns too."""
    from .core.axes import is_rgb, is_rgba

    shape = tuple(array.shape)
    if (is_rgb(axes, shape) or is_rgba(axes, shape)) and np.dtype(array.dtype).kind == "f":
        _tell(f"layer {meta.get('name')!r}: RGB written as {np.dtype(array.dtype)} TIFF, which "
              "many viewers cannot open; the Deblur dock's Output dtype 'as input' gives 8-bit "
              "RGB (values clipped to 0-255)")


def _tell(message: str | None) -> None:
    """A warning for scripts, and a notification for the viewer: napari's save dialog records
    the warnings of a save that succeeds and shows none of them. None: nothing to say."""
    if not message:
        return
    warnings.warn(message, UserWarning, stacklevel=4)
    try:
        from napari.utils.notifications import show_warning
    except ImportError:
        return
    show_warning(message)


def provenance(meta: dict) -> dict | None:
    """The plugin's record of how the layer was made, as plain JSON values; None if none."""
    from .core.provenance import plain_values

    record = (meta.get("metadata") or {}).get(RECORD_KEY)
    if not isinstance(record, dict) or not record:
        return None
    record = plain_values(record)  # arrays summarised, as a file's record
    if "source_layer" in record or "method_spec" in record:
        record = _as_file_record(record)
    return record


#: what a record copied from the file a layer was opened from says of the pixels saved
RESAVED_NOTE = ("the pixels as the napari layer opened from that file held them when saved; "
                "a change made to them in napari is not recorded")


def file_provenance(meta: dict, layer) -> tuple[dict | None, dict]:
    """(the record in the file the viewer's ``layer`` was opened from, kept as it is with an
    entry under ``resaved`` for this save; ``meta`` with it, for the axes and pixel sizes it
    records), or (None, ``meta``): no such file or record, or the layer's data is not the
    file's image (cropped, another dtype): said in one line, the record being of other pixels."""
    from ._reader import FILE_CHANNEL_KEY
    from ._widgets._layer_file import file_channel_of, file_record_of

    found = file_record_of(layer)
    if found is None:
        return None, meta
    record, name, differs = found
    if differs:
        _tell(f"layer {meta.get('name')!r}: saved without the deblur record of file {name}, "
              f"whose pixels it no longer holds ({differs})")
        return None, meta
    meta = {**meta, "metadata": {**(meta.get("metadata") or {}), RECORD_KEY: record}}
    split = isinstance(layer.metadata, dict) and FILE_CHANNEL_KEY in layer.metadata
    return _resaved(record, name, file_channel_of(layer) if split else None), meta


def _resaved(record: dict, name: str, channel: dict | None = None) -> dict:
    """A copy of a file's ``record`` with this save of its pixels to another file listed last
    under ``resaved`` (each save of a save adds one; ``channel``: the one channel of the file
    saved, ``_layer_file.file_channel_of``); its own fields as they were."""
    import datetime

    from . import __version__

    entry = {"from_file": name, "software_version": __version__,
             "saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "note": RESAVED_NOTE}
    if channel:
        entry["channel"] = channel
    earlier = record.get("resaved")
    earlier = earlier if isinstance(earlier, list) else [] if earlier is None else [earlier]
    return {**record, "resaved": [*earlier, entry]}


def _as_file_record(record: dict) -> dict:
    """A deblurred layer's record (``_layer_data.deblur_metadata``) with what the CLI's outputs
    hold and the layer's lacks: the PSF at the top level (from its method spec), the package
    version that made it (this session's: the docks made it) and when it was saved."""
    import datetime

    from . import __version__

    spec = record.get("method_spec")
    psf = spec.get("psf") if isinstance(spec, dict) else None
    if "psf" not in record and isinstance(psf, str):
        record["psf"] = psf
    record.setdefault("software_version", __version__)
    record["saved"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return record


def _write_unnamed(path, array, meta: dict, record) -> list[str]:
    """A layer of more dims than the axes model names: a TIFF without axes or calibration."""
    import tifffile

    from .core.atomic_write import write_atomically
    from .core.io import is_zarr
    from .core.io_write import check_output_path

    if is_zarr(path) or str(path).lower().endswith((".ome.tif", ".ome.tiff")):
        kind = "OME-Zarr" if is_zarr(path) else "OME-TIFF"  # OME names 5 axes at most
        raise ValueError(f"layer {meta.get('name')!r} has {np.ndim(array)} dimensions, more than "
                         f"{kind}'s 5; save it as .tif")
    path = check_output_path(path, overwrite=True)
    array = np.asarray(array)
    extra = {"metadata": {RECORD_KEY: record}} if record is not None else {}
    if sizes := certain_yx(meta):  # napari's last dims, Y and X, whatever the first holds
        extra.update(resolution=(1e4 / sizes["X"], 1e4 / sizes["Y"]), resolutionunit="CENTIMETER")
    extra.update({} if meta.get("rgb") else {"photometric": "minisblack"})  # not by its shape
    write_atomically(path, lambda tmp: tifffile.imwrite(tmp, array, **extra))
    return [os.fspath(path)]


def _write_zarr(path, array, axes, pixel_size, extras, record, like=None) -> None:
    try:
        import zarr  # noqa: F401  (said here, before the store is begun)
    except ImportError:
        raise ValueError("saving as .zarr needs pip install 'napari-microdeblur[distributed]' "
                         "(zarr); or save as .tif") from None
    from .core.io_write import open_zarr_output, output_chunks

    shape, dtype = tuple(array.shape), np.dtype(array.dtype)
    loop = len(axes) - (3 if axes.endswith("S") else 2)  # plane by plane: a lazy layer streams
    # the record goes on the image group, next to its OME metadata (zarr_metadata.output_attrs)
    with open_zarr_output(path, shape, dtype, axes=axes, pixel_size=pixel_size, overwrite=True,
                          chunks=output_chunks(axes, shape, dtype, like), metadata=extras,
                          record=record) as target:
        for index in np.ndindex(*array.shape[:loop]):
            target[index] = np.asarray(array[index])


def stored_like(array, axes: str, meta: dict, layer=None):
    """What the saved Zarr takes its Y and X chunks from (``io_write.output_chunks``, as the
    CLI keeps a Zarr input's): ``array`` itself where it is a Zarr array, else the Zarr file
    the viewer's ``layer`` was opened from, else that of the layer a deblurred result was made
    from (its record's ``source_layer`` and ``source_file``, still open in a viewer). None
    where none is known: the default chunks."""
    if isinstance(getattr(array, "chunks", None), tuple) and all(
            isinstance(c, (int, np.integer)) for c in array.chunks):
        return array  # a dask array's chunks are tuples of blocks: how it was read, not stored
    if layer is None:
        return None
    path = _zarr_path(layer) or _source_zarr_path(meta, layer)
    return _file_chunks(path, axes, tuple(array.shape)) if path else None


def _zarr_path(layer) -> str | None:
    from .core.io import is_zarr

    path = getattr(getattr(layer, "source", None), "path", None)
    return str(path) if path and is_zarr(str(path)) else None


def _tiff_source(meta: dict, layer) -> str | None:
    """The TIFF ``layer`` (or the layer the result ``layer`` was deblurred from) came from."""
    return None if layer is None else (
        _tiff_path(layer) or _source_zarr_path(meta, layer, _tiff_path))


def _tiff_path(layer) -> str | None:
    path = str(getattr(getattr(layer, "source", None), "path", None) or "")
    return path if path.lower().endswith((".tif", ".tiff")) else None


def _source_zarr_path(meta: dict, layer, path_of=None) -> str | None:
    """The Zarr file (``path_of``'s: a TIFF) of the layer the result ``layer`` was deblurred
    from, where exactly one layer of the record's ``source_layer`` name, opened from its
    ``source_file``, is open in a viewer holding ``layer`` (in any open viewer where none)."""
    record = (meta.get("metadata") or {}).get(RECORD_KEY)
    if not isinstance(record, dict) or not record.get("source_layer") or not record.get(
            "source_file"):
        return None
    from ._widgets._layers import unwrap

    viewers = open_viewers()
    own = [v for v in viewers if any(unwrap(la) is layer for la in v.layers)]
    paths = {(path_of or _zarr_path)(unwrap(la)) for v in (own or viewers) for la in v.layers
             if unwrap(la).name == record["source_layer"]}
    named = {p for p in paths if p and os.path.basename(p.rstrip("/\\")) == record["source_file"]}
    return named.pop() if len(named) == 1 else None


def _file_chunks(path: str, axes: str, shape: tuple):
    """The Y and X chunks of the Zarr ``path``'s full-resolution level, placed on the saved
    image's ``axes`` (one on the others: only Y and X are kept); None where it is unreadable
    or names no Y and X (a plain array: its last two dims)."""
    from .core.io import read_zarr
    from .core.thread_warnings import caught

    try:
        with caught():  # its notes ('a pyramid') were said when napari opened it
            image = read_zarr(path)
    except Exception:  # noqa: BLE001 - moved or changed since: the default chunks
        return None
    ndim, chunks = len(image.array.shape), getattr(image.array, "chunks", None)
    file_axes = image.axes or "-" * (ndim - 2) + "YX"
    if len(file_axes) != ndim or chunks is None or not {"Y", "X"} <= set(axes) & set(file_axes):
        return None
    found = {a: (int(image.array.shape[file_axes.index(a)]), int(chunks[file_axes.index(a)]))
             for a in "YX"}
    return SimpleNamespace(shape=tuple(found.get(a, (n, 1))[0] for a, n in zip(axes, shape)),
                           chunks=tuple(found.get(a, (n, 1))[1] for a, n in zip(axes, shape)))
