"""How an output was made, as a JSON record written into the file itself: the method, the
network's weights (sha256), the PSF as given, what was found on the image (iterations,
balance), precision, device (and its hardware's name: bf16 results depend on it), tiling,
blend window, normalisation, the input file (its name, and its sha256, size and modification
time where it is one file: not a Zarr store or folder), the package and torch versions and a
UTC time.

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
and the input file still holds the rest); an input record over ``MAX_PREVIOUS_CHARS`` is kept
as its method, time and version only (with the rest, the output's record could pass
``MAX_RECORD_CHARS`` and read back as none).

Records travel inside shared files: no folder of the user's is recorded (``file_names``). A
file (PSF, weights, input) is recorded by its name, a PSF file with its sha256 and a network's
weights with theirs; with one PSF per channel ('A.tif;gaussian:2'), each part by its name and
``psf_sha256`` a list in channel order (None for a part that is no file). A per-channel run
records each channel's settled parameters under ``channels`` and no top-level ``parameters``;
a run field that differs between channels (the overlap a wider PSF needs) is under ``channels``
only.
A record read from a file (``parse_record``) is plain JSON no deeper than
``MAX_RECORD_DEPTH``: anything else is no record.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import os
import platform
import re
from pathlib import Path

import numpy as np

RECORD_KEY = "microdeblur"
#: a record larger than this (characters of JSON) is not read back: not one this package wrote
MAX_RECORD_CHARS = 1_000_000
#: an input's record larger than this (characters of JSON) is summarised under 'previous'
MAX_PREVIOUS_CHARS = 64_000
#: a record nested deeper than this is not read back (this package's are about 6 deep)
MAX_RECORD_DEPTH = 20
#: keys whose text names a file (each ';' part): recorded as the file's name only
PATH_KEYS = frozenset({"psf", "weights", "weights_source", "source", "source_file", "origin"})
_FOLDERS = re.compile(r"^.*[/\\]", re.DOTALL)  # a part up to its last separator
_ABSOLUTE = re.compile(r"^(?:[/\\~]|[A-Za-z]:[/\\])")  # '/..', '~/..', 'C:\..', '\\server'
_SUMMARY_KEYS = ("method", "created", "software_version")
#: fields a record holds only for some runs: never a caller's (deblur_record's ``extra``)
_OPTIONAL_KEYS = frozenset({"previous", "channels", "parameters", "psf_estimated",
                            "psf_sha256", "input_sha256", "input_size", "input_mtime_ns"})
_LAYER_KEYS = frozenset({"source_layer"})  # a layer's name, as the docks find the layer by


def plain_values(value):
    """JSON numbers, strings, lists and dicts only (arrays summarised, NaN as None, other
    objects as text): what a record may hold, in a file or on a layer."""
    if isinstance(value, dict):
        return {str(k): plain_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_values(v) for v in value]
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


def file_name(text: str) -> str:
    """``text`` without folders: '/home/a/psfA.tif;C:\\b\\psfB.tif' -> 'psfA.tif;psfB.tif' (each
    ';' part); a model ('gaussian:1.6'), a bundled weights name or 'estimate' is unchanged."""
    return ";".join(_FOLDERS.sub("", part) for part in text.split(";"))


def file_names(value, key: str | None = None):
    """A copy of the record ``value`` where no folder of the user's is left: the text of a
    ``PATH_KEYS`` key, and any text but a layer's name that starts as an absolute path, is
    its file name (``file_name``). Containers keep their type."""
    if isinstance(value, dict):
        return {k: file_names(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(file_names(v, key) for v in value)
    if isinstance(value, str) and key not in _LAYER_KEYS and (
            key in PATH_KEYS or _ABSOLUTE.match(value)):
        return file_name(value)
    return value


def _is_file(text: str) -> bool:
    try:
        return os.path.isfile(text)
    except (OSError, ValueError):  # an optics model is a name too long for a file
        return False


def psf_given(spec) -> dict:
    """The PSF as the user gave it: a model string ('gaussian:1.6', 'estimate'), a file's name
    and sha256, or 'array' for an array; the array itself is not recorded. One PSF per channel
    ('A;B'): each part so, ``psf_sha256`` a list in channel order (None: not a file)."""
    from .channel_psfs import channel_sources
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
    parts = channel_sources(psf)
    if parts is None:
        if _is_file(psf):
            return {"psf": Path(psf).name, "psf_sha256": _sha256(psf)}
        return {"psf": file_name(psf)}  # a model, or a file gone since: its name
    shas = [_sha256(part) if _is_file(part) else None for part in parts]
    given = {"psf": file_name(";".join(parts))}
    return {**given, "psf_sha256": shas} if any(shas) else given


def _card(parameters: dict) -> dict:
    card = parameters.get("card")
    if hasattr(card, "model_dump"):
        card = card.model_dump()
    return card if isinstance(card, dict) else {}


def _precision(method, device) -> str | None:
    """The arithmetic a network runs in on ``device`` ('auto' resolved); None for others."""
    import torch

    resolved = getattr(method.forward, "resolved_precision", None)
    try:
        return resolved(torch.device(device)) if resolved else None
    except Exception:  # noqa: BLE001 - a record never stops a run
        return None


def run_fields(method, normalization, *, tile, overlap, window, device) -> dict:
    """What one run of the Method ``method`` settled: method, weights, parameters, precision
    ('auto' resolved for ``device``), the tiles and overlaps it cut, the blend ``window`` and
    normalisation. Shared by a deblur's record and a selective one's (``--focus-below``)."""
    parameters = dict(method.parameters)
    card = _card(parameters)
    parameters.pop("card", None)
    return {
        "method": method.name,
        "weights_sha256": card.get("sha256"),
        "weights_source": card.get("source"),
        "arch": card.get("arch"),
        "parameters": plain_values(parameters),
        "precision": _precision(method, device),
        "tile": [int(t) for t in tile],
        "overlap": [int(o) for o in overlap],
        "window": window,
        "device": str(device),
        "normalization": {"kind": normalization.kind, "offset": float(normalization.offset),
                          "scale": float(normalization.scale)},
    }


def _run_fields(prepared) -> dict:
    """``run_fields`` of one prepared run, with the tiles it cuts (a tile larger than the
    image is the image), as the dock records them."""
    from .tiling import plan_tiles

    plan = plan_tiles(prepared.layout.spatial_shape, prepared.options.tile,
                      prepared.options.overlap, size_divisor=prepared.method.size_divisor)
    return run_fields(prepared.method, prepared.normalization, tile=plan.tile,
                      overlap=plan.overlap, window=prepared.options.window,
                      device=prepared.options.device)


def input_sha256(source) -> str | None:
    """sha256 of the input file ``source``; None for a folder (a Zarr store: its chunks are
    many files, not hashed) or a file that cannot be read again. It reads the file once more: 0.4 s
    for 500 MB from the page cache here (2 shared cores), 1.7 s just after writing it; a cold
    disk's read speed bounds it."""
    from .checkpoint import sha256_file

    if source is None or not _is_file(str(source)):
        return None
    try:
        return sha256_file(source)
    except OSError:  # gone since it was read: its name is still recorded
        return None


def _stat_key(source) -> tuple:
    info = os.stat(source)
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def input_identity(source) -> dict:
    """The input file ``source`` as its record names it: ``input_sha256``, and the size in
    bytes and modification time (ns) it had while hashed (``input_size``, ``input_mtime_ns``):
    a rerun (``cli_changed_inputs``) takes an input whose size and time both match as the one
    hashed, unread, and hashes it again otherwise (a file replaced, its time set back). Size
    and time are left out where the file changed while hashed (still being written); {} where
    it has no sha256 (``input_sha256``)."""
    try:
        before = _stat_key(source) if source is not None and _is_file(str(source)) else None
    except OSError:
        before = None
    sha = input_sha256(source)
    if sha is None:
        return {}
    try:
        after = _stat_key(source)
    except OSError:  # gone since it was hashed
        after = None
    if before is None or after != before:
        return {"input_sha256": sha}
    return {"input_sha256": sha, "input_size": int(after[2]), "input_mtime_ns": int(after[3])}


@functools.lru_cache(maxsize=8)
def device_name(device: str) -> str | None:
    """The hardware a run used, by name: the GPU's (bf16 and float16 results depend on it),
    else the CPU's model name (Linux: /proc/cpuinfo; elsewhere ``platform.processor``)."""
    import torch

    try:
        if device.startswith("cuda"):
            return torch.cuda.get_device_name(torch.device(device))
        if device.startswith("mps"):
            return f"Apple MPS ({platform.machine()})"
    except Exception:  # noqa: BLE001 - a record never stops a run
        return None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # not Linux
        pass
    return platform.processor() or platform.machine() or None


def deblur_record(prepared, spec=None, *, source=None, pixel_size=None, previous=None,
                  extra: dict | None = None, stored=None) -> dict:
    """The record of a deblur ``prepared`` (``inference.prepare_deblur``) of the file ``source``
    with ``spec`` (the MethodSpec as given, 'auto' and all), its pixel sizes in um and the
    input's own record (``previous``). ``extra``: a caller's own fields (``microdeblur watch``:
    ``focus``, why the file was deblurred), added beside these; one that would replace a field
    of the run is an error. ``stored``: the type the output file holds where its writer casts
    the run's (a PNG: the input's 8 or 16 bits of a float32 run; recorded as float32, its
    rerun command asked for a float32 PNG). Plain JSON values."""
    runs = [_run_fields(run) for run in prepared.channel_runs]
    output_dtype = prepared.output_dtype if stored is None else stored
    return run_record(_run_fields(prepared), spec, source=source, axes=prepared.axes,
                      output_dtype=output_dtype, pixel_size=pixel_size,
                      previous=previous, extra=extra, channels=runs)


def run_record(fields: dict, spec=None, *, source=None, axes: str, output_dtype,
               pixel_size=None, previous=None, extra: dict | None = None,
               channels: list | None = None) -> dict:
    """The record of a run whose ``run_fields`` are ``fields`` (``channels``: each channel's,
    one PSF per channel) of the file ``source`` (by name, its ``input_identity``), with the
    versions of this package and torch and the device's name (``device_name``); the other
    arguments as ``deblur_record``'s."""
    import torch

    from .. import __version__

    given = psf_given(spec)
    record = {
        "source_file": Path(source).name if source is not None else None,
        **input_identity(source),
        **fields,
        "device_name": device_name(str(fields["device"])),
        "method_spec": spec_dict(spec, given),
        **given,
        "axes": axes,
        "output_dtype": str(np.dtype(output_dtype)),
        "pixel_size": {a: float(v) for a, v in (pixel_size or {}).items() if a in "ZYX"},
        "software_version": __version__,
        "torch_version": torch.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    used = record["parameters"].get("psf")
    # used 'estimate': every channel held one value, passed through with nothing estimated
    if record["psf"] in (None, "estimate") and isinstance(used, str) and used not in (
            "array", "estimate"):
        # 'estimate', or 'auto' for EM and brightfield: the PSF found on this image, as the
        # model string the CLI prints for reuse (image_settings.spec_for_image settles it so)
        record["psf"], record["psf_estimated"] = used, True
    if channels:  # one PSF per channel: each channel's run, not channel 0's
        runs = record["channels"] = channels
        for key in runs[0]:
            # each channel's own, under 'channels'; the top level keeps what all share (a
            # wider PSF's channel cuts wider overlaps: channel 0's would misstate the others)
            if key in ("parameters", "normalization") or any(r[key] != runs[0][key]
                                                               for r in runs):
                del record[key]
    if previous := _previous(previous):
        record["previous"] = previous
    if extra:
        # a caller's field never overwrites how the output was made
        taken = sorted(set(extra) & (set(record) | _OPTIONAL_KEYS))
        if taken:
            raise ValueError(f"record fields {taken} are the run's own; give other names")
        record.update(extra)
    return file_names(plain_values(record))


def _previous(previous) -> dict | None:
    """The input's record as ``previous`` keeps it: without its own ``previous``; over
    ``MAX_PREVIOUS_CHARS``, its method, time and version only. None for no (or a bad) one."""
    previous = parse_record(previous) if isinstance(previous, dict) else None
    if not previous:
        return None
    kept = {k: v for k, v in previous.items() if k != "previous"}
    if len(json.dumps(kept, default=str)) <= MAX_PREVIOUS_CHARS:
        return kept
    summary = {k: kept[k] for k in _SUMMARY_KEYS
               if isinstance(kept.get(k), str) and len(kept[k]) <= 200}
    return {**summary, "summarised": "the rest is in the input file's record"}


def spec_dict(spec, given: dict | None = None) -> dict | None:
    """The MethodSpec ``spec`` as given, plain JSON: its PSF as ``psf_given`` names it (not
    an array's values; ``given``: its result, where the caller has it: a PSF file's sha256 is
    read once), files by their names (``file_names``). None for no spec."""
    if not hasattr(spec, "to_dict"):
        return None
    out = spec.to_dict()
    out["psf"] = (given or psf_given(spec))["psf"]
    return file_names(plain_values(out))


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


def _plain_json(value) -> bool:
    """Whether ``value`` is JSON-like (dicts with text keys, lists, text, numbers, None) no
    deeper than ``MAX_RECORD_DEPTH``; checked without recursion (a hostile record is deep)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            if depth > MAX_RECORD_DEPTH:
                return False
            if isinstance(item, dict):
                if not all(isinstance(k, str) for k in item):
                    return False
                item = item.values()
            stack.extend((v, depth + 1) for v in item)
        elif not (item is None or isinstance(item, (str, bool, int, float, np.number,
                                                      np.bool_))):
            return False
    return True


def parse_record(value) -> dict | None:
    """The record in ``value``: a dict, or JSON text ``{"microdeblur": {...}}`` (ImageJ Info, an
    OME Description). None for anything else (free text, malformed JSON, a record deeper than
    ``MAX_RECORD_DEPTH`` or with values JSON has not): never raises."""
    if isinstance(value, (str, bytes)):
        if len(value) > MAX_RECORD_CHARS or RECORD_KEY not in str(value):
            return None
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
        value = value.get(RECORD_KEY) if isinstance(value, dict) else None
    return value if isinstance(value, dict) and _plain_json(value) else None
