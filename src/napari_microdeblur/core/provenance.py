"""How an output was made, as a JSON record written into the file itself: the method, the
network's weights (sha256), the PSF as given, what was found on the image (iterations,
balance), tiling, normalisation, the input file, the package version and a UTC time.

The record has the key names of the napari dock's ``layer.metadata['microdeblur']``
(``_widgets/_layer_data.deblur_metadata``) where they mean the same, and it is stored where
the napari writer stores that one, as ``{"microdeblur": {...}}``: ImageJ's ``Info`` in an
ImageJ .tif (Fiji: Image > Show Info), the OME Image ``Description`` in an .ome.tif, the
JSON description of a shaped .tif, the group attribute ``microdeblur`` of a .zarr. Built
from the ``PreparedDeblur`` before the run (a TIFF's header is written first), so the
seconds a run took are not in it. ``io.read_image`` gives it back as
``ImageData.metadata['microdeblur']``; a file whose record is malformed reads without one.

An output deblurred again gets its own record; its input's record is kept under
``previous``, without the input's own ``previous`` (one step back: the record stays small,
and the input file still holds the rest).
"""

from __future__ import annotations

import datetime
import json
import math
import os
from pathlib import Path

import numpy as np

RECORD_KEY = "microdeblur"
#: a record larger than this (characters of JSON) is not read back: not one this package wrote
MAX_RECORD_CHARS = 1_000_000


def _plain(value):
    """JSON numbers, strings, lists and dicts only (arrays summarised, NaN as None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return f"array{tuple(value.shape)}"
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _sha256(path) -> str | None:
    from .checkpoint import sha256_file

    try:
        return sha256_file(path)
    except OSError:  # gone since it was read: the name is still recorded
        return None


def psf_given(spec) -> dict:
    """The PSF as the user gave it: a model string ('gaussian:1.6', 'estimate'), a file's name
    and sha256, or 'array' for an array; the array itself is not recorded."""
    from .method import PsfArray

    psf = getattr(spec, "psf", None)
    if isinstance(psf, PsfArray):
        psf = psf.origin if psf.origin else None
        if psf is None:
            return {"psf": "array"}
    if psf is None:
        return {"psf": None}
    if not isinstance(psf, str):
        return {"psf": "array"}
    if os.path.isfile(psf):
        return {"psf": Path(psf).name, "psf_sha256": _sha256(psf)}
    return {"psf": psf}


def _card(parameters: dict) -> dict:
    card = parameters.get("card")
    if hasattr(card, "model_dump"):
        card = card.model_dump()
    return card if isinstance(card, dict) else {}


def _precision(prepared) -> str | None:
    """The arithmetic a network runs in on its device ('auto' resolved); None for others."""
    resolved = getattr(prepared.method.forward, "resolved_precision", None)
    try:
        return resolved(prepared.options.device) if resolved else None
    except Exception:  # noqa: BLE001 - a record never stops a run
        return None


def _run_fields(prepared) -> dict:
    """What one prepared run settled: method, weights, parameters, tiling, normalisation."""
    from .tiling import plan_tiles

    parameters = dict(prepared.method.parameters)
    card = _card(parameters)
    parameters.pop("card", None)
    norm = prepared.normalization
    # the tiles the run cuts (a tile larger than the image is the image), as the dock records
    plan = plan_tiles(prepared.layout.spatial_shape, prepared.options.tile,
                      prepared.options.overlap, size_divisor=prepared.method.size_divisor)
    return {
        "method": prepared.method.name,
        "weights_sha256": card.get("sha256"),
        "weights_source": card.get("source"),
        "arch": card.get("arch"),
        "parameters": _plain(parameters),
        "precision": _precision(prepared),
        "tile": [int(t) for t in plan.tile],
        "overlap": [int(o) for o in plan.overlap],
        "window": prepared.options.window,
        "device": str(prepared.options.device),
        "normalization": {"kind": norm.kind, "offset": float(norm.offset),
                          "scale": float(norm.scale)},
    }


def deblur_record(prepared, spec=None, *, source=None, pixel_size=None, previous=None) -> dict:
    """The record of a deblur ``prepared`` (``inference.prepare_deblur``) of the file ``source``
    with ``spec`` (the MethodSpec as given, 'auto' and all), its pixel sizes in um and the
    input's own record (``previous``). Plain JSON values."""
    from .. import __version__

    record = {
        "source_file": Path(source).name if source is not None else None,
        **_run_fields(prepared),
        "method_spec": _spec_dict(spec),
        **psf_given(spec),
        "axes": prepared.axes,
        "output_dtype": str(np.dtype(prepared.output_dtype)),
        "pixel_size": {a: float(v) for a, v in (pixel_size or {}).items() if a in "ZYX"},
        "software_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if record["psf"] is None and record["parameters"].get("psf") == "array":
        record["psf"] = "estimate"  # 'auto' estimated one from the image (EM, brightfield)
    if prepared.channel_runs:  # one PSF per channel: each channel's run
        record["channels"] = [_run_fields(run) for run in prepared.channel_runs]
    if isinstance(previous, dict) and previous:
        record["previous"] = {k: v for k, v in previous.items() if k != "previous"}
    return _plain(record)


def _spec_dict(spec) -> dict | None:
    """The spec as given, its PSF as ``psf_given`` names it (not an array's values)."""
    if not hasattr(spec, "to_dict"):
        return None
    out = spec.to_dict()
    out["psf"] = psf_given(spec)["psf"]
    return _plain(out)


def record_text(record: dict) -> str:
    """``{"microdeblur": record}`` as ASCII JSON (ImageJ's tags are ASCII)."""
    return json.dumps({RECORD_KEY: record}, ensure_ascii=True)


def with_record(kwargs: dict, record: dict | None, ome: bool) -> dict:
    """``tifffile.imwrite`` keywords (``tiff_metadata.tiff_write_kwargs``) that also carry the
    record, where the napari writer puts it for each TIFF flavour."""
    if not record:
        return kwargs
    if kwargs.get("imagej"):
        kwargs["metadata"]["Info"] = record_text(record)  # Fiji: Image > Show Info
    elif ome:
        kwargs["metadata"]["Description"] = record_text(record)
    else:  # tifffile's JSON description, read back as shaped metadata
        kwargs["metadata"][RECORD_KEY] = json.loads(record_text(record))[RECORD_KEY]
    return kwargs


def parse_record(value) -> dict | None:
    """The record in ``value``: a dict, or JSON text ``{"microdeblur": {...}}`` (ImageJ Info, an
    OME Description). None for anything else (free text, malformed JSON): never raises."""
    if isinstance(value, (str, bytes)):
        if len(value) > MAX_RECORD_CHARS or RECORD_KEY not in str(value):
            return None
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
        value = value.get(RECORD_KEY) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else None
