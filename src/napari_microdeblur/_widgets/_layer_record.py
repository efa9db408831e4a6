"""What a Deblur dock result records beyond the run's settings, so that it can be made again
from its record (``_layer_data.deblur_metadata``): the arithmetic a network ran in ('auto'
resolved, as the CLI's record has it), a PSF given as an array or a layer by its shape, the
sha256 of its float32 values, its values when small and where it came from (a PSF from beads:
the bead layer, its file and the report), and the file the input layer was opened from.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PureWindowsPath

import numpy as np

from ..core.provenance import plain_values

#: a PSF of at most this many values is recorded with its values (2048 float32 as JSON are
#: ~31 kB: the record stays under ``provenance.MAX_PREVIOUS_CHARS`` when deblurred again)
PSF_VALUES_MAX = 2048
#: a PSF layer's own record is kept under ``psf_origin`` up to this many characters of JSON
PSF_ORIGIN_CHARS = 8000


def ran_precision(req, result) -> str | None:
    """The precision a network ran in: the one asked for, or 'auto' as resolved on the result's
    device (``method.auto_precision``); None for a method that is no network. A session
    network's model is at hand; for a bundled one on a CUDA card without bfloat16 the model is
    not, so a network whose float16 overflows reads 'float16' (it ran float32)."""
    asked = result.parameters.get("precision")
    channels = result.parameters.get("channels")
    if asked is None and isinstance(channels, list):  # a PSF per channel: each channel's
        asked = next((c.get("precision") for c in channels
                      if isinstance(c, dict) and c.get("precision")), None)
    if not isinstance(asked, str) or asked != "auto":
        return asked if isinstance(asked, str) else None
    import torch

    from ..core.method import auto_precision

    model = getattr(getattr(req, "network", None), "model", None)
    try:
        return auto_precision(torch.device(str(result.device)), model)
    except (RuntimeError, ValueError):  # a device this torch cannot name: not guessed
        return None


def given_psf_array(req) -> np.ndarray | None:
    """The PSF of ``req`` as float32 values where it was given as an array (a 'layer:NAME' in
    the PSF box, or an array passed in); None for a model, a file, 'estimate' or none."""
    from ..core.method import PsfArray

    psf = getattr(getattr(req, "method", None), "psf", None)
    if isinstance(psf, PsfArray):
        return psf.array
    if hasattr(psf, "shape"):
        return np.ascontiguousarray(psf, dtype=np.float32)
    return None


def psf_array_fields(req) -> dict:
    """``psf_array``: shape, sha256 of the float32 values (C order) and, for at most
    ``PSF_VALUES_MAX`` values, the values; ``psf_origin``: the PSF layer's name, file and own
    record (a PSF from beads: bead layer, bead file, report). {} for a PSF that is no array."""
    values = given_psf_array(req)
    if values is None:
        return {}
    values = np.ascontiguousarray(values, dtype=np.float32)
    digest = hashlib.sha256(values.tobytes()).hexdigest()
    array = {"shape": [int(n) for n in values.shape], "sha256": digest, "dtype": "float32"}
    if values.size <= PSF_VALUES_MAX:
        # 9 significant digits give each float32 back exactly: the sha256 holds on a rerun
        array["values"] = np.vectorize(lambda v: float(f"{v:.9g}"), otypes=[float])(
            values).tolist()
    fields = {"psf_array": array}
    origin = psf_layer_origin(getattr(req, "psf_text", ""), digest)
    if origin:
        fields["psf_origin"] = origin
    return fields


def psf_layer_origin(psf_text: str, digest: str) -> dict:
    """Where the PSF layer named in ``psf_text`` ('layer:NAME') came from: its name, the file
    it was opened from and its own record (trimmed to ``PSF_ORIGIN_CHARS``), read from the
    current viewer's layer of that name while its values still hash to ``digest`` (measured
    again since: not this PSF, so only its name)."""
    from ._psf_sources import LAYER_PREFIX

    if not psf_text.startswith(LAYER_PREFIX):
        return {}
    name = psf_text[len(LAYER_PREFIX):].strip()
    origin: dict = {"layer": name}
    layer = viewer_layer(name)
    if layer is None or layer_digest(layer) != digest:
        return origin
    path = getattr(getattr(layer, "source", None), "path", None)
    if path:
        origin["file"] = PureWindowsPath(str(path)).name  # its name, not the user's folders
    record = layer.metadata.get("microdeblur") if isinstance(layer.metadata, dict) else None
    if isinstance(record, dict):
        kept = plain_values(record)
        if len(json.dumps(kept)) > PSF_ORIGIN_CHARS:  # a result's record: its method only
            kept = {k: kept[k] for k in ("method", "psf_from_beads", "bead_file")
                    if k in kept}
        origin["record"] = kept
    return origin


def viewer_layer(name: str):
    """The layer ``name`` of napari's current viewer, or None (no viewer, no such layer)."""
    import napari

    viewer = napari.current_viewer()
    if viewer is None:
        return None
    return next((la for la in viewer.layers if la.name == name), None)


def layer_digest(layer) -> str | None:
    """sha256 of a layer's values as float32 (C order), as ``psf_array`` records them."""
    from ._layers import layer_data

    try:
        values = np.ascontiguousarray(np.asarray(layer_data(layer)), dtype=np.float32)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(values.tobytes()).hexdigest()


def input_file(placement: dict) -> str | None:
    """The name of the file the input layer was opened from (no folders), None for none."""
    path = placement.get("source_path")
    return PureWindowsPath(str(path)).name if path else None
