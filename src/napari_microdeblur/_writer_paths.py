"""Where the writer (``_writer``) saves and what it refuses before writing: the suffix a name
typed without one gets (``calibrated_path``), the file types of the calibrated save's dialog,
the file the layer saved was opened from (never replaced: a layer opened from cells.tif and
saved as 'cells' with ImageJ TIFF chosen replaced cells.tif, Qt's overwrite question having
been asked of 'cells'), nor that of a result's input (a float32 result replaced the raw
file it was deblurred from), and a type OME-TIFF cannot hold."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: the suffixes of the manifest's writer; .tif first: napari appends it to a bare name
EXTENSIONS = (".tif", ".tiff", ".ome.tif", ".ome.tiff", ".zarr", ".ome.zarr")
#: the calibrated save's file types (File > IO Utilities and the Deblur dock's Save result...),
#: each with the suffix a name typed without one gets
SAVE_TYPES = (("ImageJ TIFF", (".tif", ".tiff")), ("OME-TIFF", (".ome.tif", ".ome.tiff")),
              ("OME-Zarr", (".zarr", ".ome.zarr")))
#: formats napari's own writers save and this one does not: refused, not renamed to .tif
OTHER_FORMATS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".npy", ".npz", ".csv", ".svg")


def save_filter() -> str:
    """The save dialog's file types, in Qt's ';;' form; ImageJ TIFF first (Qt's default)."""
    return ";;".join(f"{kind} ({' '.join('*' + e for e in exts)})" for kind, exts in SAVE_TYPES)


def calibrated_path(path, chosen_filter: str = "") -> str:
    """``path`` with the suffix of the file type chosen in the dialog where it has none of
    this writer's (a layer name such as 'img 1.5um deblurred' keeps its dots)."""
    name = os.fspath(path)
    if name.lower().endswith(EXTENSIONS):
        return name
    if name.lower().endswith(OTHER_FORMATS):
        raise ValueError(f"{os.path.basename(name)!r}: a calibrated save is an ImageJ TIFF (.tif), "
                         "OME-TIFF (.ome.tif) or OME-Zarr (.zarr); other formats are in File > "
                         "Save Selected Layers...")
    kinds = [exts[0] for kind, exts in SAVE_TYPES if chosen_filter.startswith(kind)]
    return name + (kinds[0] if kinds else EXTENSIONS[0])


def check_not_a_source(path, layer, viewer=None) -> None:
    """Refuse ``path`` where it is a file napari shows a layer from (and may still read: a
    Zarr on every redraw), as the command line never replaces its input: the file the saved
    ``layer`` was opened from; that of the layer a deblurred result was made from (a result has
    no file of its own: ``input_layers``); where ``viewer`` is given (the docks' save), that of
    any layer in it. Paths are compared as files (a .zarr folder too), and a path inside such a
    folder or holding it is refused as well ('in.ome.zarr/0' had made the store's level a group
    and broken it, as the command line's ``atomic_write.check_not_an_input`` refuses)."""
    from ._widgets._layers import unwrap
    from .core.atomic_write import path_relation
    from .core.shown import shown_path

    inputs = [(la, f", the input of {layer.name!r}", "the result") for la in input_layers(layer)]
    others = [(la, "", repr(layer.name)) for la in (viewer.layers if viewer is not None else ())]
    for other, note, what in [(layer, "", "it"), *inputs, *others]:
        source = getattr(getattr(other, "source", None), "path", None)
        how = path_relation(Path(path), source) if source else None
        if how is None:
            continue
        what = "it" if unwrap(other) is unwrap(layer) else what
        name = shown_path(os.path.basename(os.fspath(path)))
        if how == "is":
            raise ValueError(f"{name} is the file layer {other.name!r} was opened from{note}; "
                             f"save {what} under another name (the file a layer was opened "
                             "from is never replaced)")
        raise ValueError(f"{shown_path(path)} {how.rstrip(',')}, which layer {other.name!r} was "
                         f"opened from{note}; save {what} under another name, outside it (the "
                         "file a layer was opened from is never replaced)")


def input_layers(layer) -> list:
    """The open layers a deblurred result ``layer`` may have been made from: those its record
    (``layer.metadata['microdeblur']``) names by ``source_layer``, or whose file has its
    ``source_file`` name (the record keeps no folder), in the viewers holding ``layer``, else in
    all open viewers (a script's layer in none). [] for a layer with no such record."""
    record = getattr(layer, "metadata", None)
    record = record.get("microdeblur") if isinstance(record, dict) else None
    if not isinstance(record, dict) or not (record.get("source_layer") or
                                            record.get("source_file")):
        return []
    from ._widgets._layers import unwrap
    from ._writer import open_viewers

    viewers = open_viewers()
    held = [v for v in viewers if any(unwrap(la) is unwrap(layer) for la in v.layers)]
    found = []
    for other in (unwrap(la) for v in (held or viewers) for la in v.layers):
        path = str(getattr(getattr(other, "source", None), "path", None) or "")
        name = os.path.basename(path.replace("\\", "/").rstrip("/"))
        if other is not unwrap(layer) and (other.name == record.get("source_layer") or (
                path and name == record.get("source_file"))):
            found.append(other)
    return found


def check_ome_dtype(path, dtype, name) -> None:
    """Refuse a 64-bit integer layer as OME-TIFF (its XML names no such type; float16 is
    written as float32, ``io_write.tiff_output_dtype``), in the writer's words."""
    from .core.io_write import is_ome_tiff

    dtype = np.dtype(dtype)
    if is_ome_tiff(path) and dtype.kind in "iu" and dtype.itemsize > 4:
        raise ValueError(f"layer {name!r} is {dtype}, which OME-TIFF cannot hold: save it as "
                         ".tif or .zarr, or convert it first (layer.data = "
                         "layer.data.astype('float32'))")
