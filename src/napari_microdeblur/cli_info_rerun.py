"""What `microdeblur info` takes from a deblur record for the command that remakes it and for
its PSF words (``cli_info``): the PSF as it ran, not as it was asked for ('auto' computed a 3D
model deeper than the stack with the stack's nz=, and the command naming the asked nz=21 was
refused on its 15 planes), and whether a napari result was made from one channel of its file,
which no deblur option selects (its command named the whole file with --axes ZYX, refused),
or from one part of it (a dock's 'current slice' or 'visible field of view': the command
remakes the whole stack, which neither info nor the command had said)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from .core.channel_psfs import CHANNEL_SEPARATOR

__all__ = ["asked_words", "command_path", "one_channel_refusal", "part_words", "ran_psf",
           "say_part_note"]


def command_path(path) -> str:
    """``path`` as a command's word: './-x.tif' for '-x.tif', which the command line took for
    an option ('microdeblur deblur -x.tif -o -x_deblurred_rerun.tif' was refused)."""
    text = str(path)
    return f".{os.sep}{text}" if text.startswith("-") else text


def ran_psf(record: dict):
    """The PSF a record's run used, as ``--psf`` gives it: where a model ran as another model
    string than the one asked (``parameters['psf']``: nz= cut to the stack's, pixel= filled
    from the file), the one that ran; one PSF per channel, each channel's from its own run
    (``channels``); else the record's ``psf`` (a file's name: its run says 'array'; one
    starting with '-' as ``command_path`` writes it)."""
    ran = _ran_psf(record)
    return command_path(ran) if isinstance(ran, str) else ran


def _ran_psf(record: dict):
    """``ran_psf`` as the record has it."""
    asked = record.get("psf")
    if not isinstance(asked, str):
        return asked
    runs = record.get("channels") if isinstance(record.get("channels"), list) else None
    parts = [p.strip() for p in asked.split(CHANNEL_SEPARATOR)]
    if runs and len(parts) == len(runs) > 1:
        return CHANNEL_SEPARATOR.join(_ran(part, run) for part, run in zip(parts, runs))
    return _ran(asked, record)


def _ran(asked: str, run) -> str:
    """The model string ``run`` (a record, or one channel's) ran for the PSF ``asked``, where
    both are models (or ``asked`` is 'estimate'); else ``asked``."""
    from .core.psf import is_psf_model
    from .core.psf_estimate import is_estimate

    found = run.get("parameters") if isinstance(run, dict) else None
    used = found.get("psf") if isinstance(found, dict) else None
    if (isinstance(used, str) and used != asked and is_psf_model(used)
            and (is_psf_model(asked) or is_estimate(asked))):
        return used
    return asked


def asked_words(record: dict) -> str:
    """' (given as ...)' where the PSF that ran (``ran_psf``) is not the one asked; else ''."""
    asked, ran = record.get("psf"), _ran_psf(record)
    return f" (given as {asked})" if isinstance(asked, str) and ran != asked else ""


def one_channel_refusal(info: dict, record: dict, describe) -> str | None:
    """The line refusing a command for a napari result made from one channel layer of its
    file (the plugin's reader opens one layer per channel, named 'FILE (NAME)' or 'FILE
    (channel i)'), which no deblur option selects; None for any other record. The channel
    is known by the layer's name, or by the file (``describe``, its header) where it is beside
    the result or here: C of more than one channel, which the result's axes lack."""
    layer, source = record.get("source_layer"), record.get("source_file")
    axes = str(record.get("axes") or "")
    if not isinstance(layer, str) or not isinstance(source, str) or "C" in axes:
        return None
    which = _channel_by_name(layer, source, record)
    file = _source_header(info, source, describe)
    names = file.get("channel_names") if isinstance(file.get("channel_names"), list) else []
    file_axes, shape = str(file.get("axes") or ""), file.get("shape") or []
    split = ("C" in file_axes and len(shape) == len(file_axes)
             and shape[file_axes.index("C")] > 1 and sorted(axes + "C") == sorted(file_axes))
    if which is None and not split:
        return None
    name = which if isinstance(which, str) else None
    numbered = isinstance(which, int)  # the layer's name says 'channel N', N from 0
    if name in names:
        which = names.index(name)  # a named channel: its number in the file
    said = (f"channel {which + 1}" if isinstance(which, int) else "one channel") + (
        f" ({name!r})" if name else "")
    # counted from 1, as Fiji counts; the reader's layer names count from 0 ('... (channel 1)'
    # for the 2nd had read as another channel than 'channel 2'): said beside it
    return (f"{Path(info['file']).name} was made in napari from {said} of {source} (layer "
            f"{layer!r}{', whose name counts channels from 0' if numbered else ''}), and no "
            "deblur option selects one channel: no command remakes it; "
            "save that layer as its own file and deblur it, or deblur the whole file with one "
            f"PSF per channel (--psf 'A{CHANNEL_SEPARATOR}B')")


def _channel_by_name(layer: str, source: str, record: dict):
    """The channel the reader's layer name says (its index from 0, or its name where the
    record's ``channel_names`` hold that one name); None where the name is not the reader's."""
    from ._reader import layer_name

    found = re.fullmatch(re.escape(layer_name(source)) + r" \((.+)\)", layer)
    if found is None:
        return None
    label = found.group(1)
    if number := re.fullmatch(r"channel (\d+)", label):
        return int(number.group(1))
    names = record.get("channel_names")
    return label if isinstance(names, list) and names == [label] else None


def _source_header(info: dict, source: str, describe) -> dict:
    """``describe`` of the result's input, beside the result or in this folder; {} where
    neither holds it or it cannot be read."""
    for path in (Path(info["file"]).parent / source, Path(source)):
        if path.is_file():
            try:
                return describe(str(path))
            except (ValueError, TypeError, OSError, RuntimeError):
                return {}
    return {}


#: The dock scopes that deblur a part of a layer (``_widgets._layers.SCOPES``)
PART_SCOPES = ("current slice", "visible field of view")


def _sizes(info: dict, axes: str) -> dict:
    """{letter: length} of the file ``info`` describes, by its axes (else the record's)."""
    shape = info.get("shape") or []
    file_axes = str(info.get("axes") or "")
    if len(file_axes) != len(shape):
        file_axes = axes if len(axes) == len(shape) else ""
    return {a: int(n) for a, n in zip(file_axes, shape)}


def part_words(info: dict, record: dict) -> str | None:
    """'plane Z=3' ('Y 10-73, X 20-83 of plane Z=3' for a field of view) of a dock's result
    made from part of its layer (``record['scope']``, ``record['offset']``: the first index
    of each layer axis), indices from 0 as the result's layer name has them; None for a whole
    stack, a 2D layer's one slice or a record without them."""
    scope, offset = record.get("scope"), record.get("offset")
    layer_axes = str(record.get("axes") or "").replace("S", "")  # napari's dims: no RGB S
    if (scope not in PART_SCOPES or not isinstance(offset, (list, tuple))
            or len(offset) != len(layer_axes)
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offset)):
        return None
    sizes = _sizes(info, str(record.get("axes") or ""))
    # an axis the result holds one index of (absent from the file: written squeezed)
    fixed = [f"{a}={o}" for a, o in zip(layer_axes, offset)
             if a not in "YX" and sizes.get(a, 1) == 1]
    crop = [f"{a} {o}-{o + sizes[a] - 1}" for a, o in zip(layer_axes, offset)
            if scope == "visible field of view" and a in "YX" and a in sizes]
    plane = f"plane {', '.join(fixed)}" if fixed else ""
    if crop:
        return f"{', '.join(crop)} of {plane or 'the image'}"
    return plane or None


def _source(record: dict) -> str:
    layer = record.get("source_layer")
    return str(record.get("source_file") or (f"napari layer {layer!r}" if layer else "its input"))


def say_part_note(info: dict) -> None:
    """The note that ``info['command']`` deblurs the whole input of a result made from part of
    it (no deblur option selects a plane or a crop): on stderr, as the PSF notes, and in
    --json as 'command_note'; stdout keeps the command alone, to paste or run."""
    record = info.get("microdeblur")
    part = part_words(info, record) if isinstance(record, dict) else None
    if not part:
        return
    name, source = Path(info["file"]).name, _source(record)
    note = (f"{name} is {part} of {source} (the Deblur dock's {record['scope']!r}), and no "
            f"deblur option takes one part: this command remakes the whole of {source}, whose "
            f"{part} is {name}")
    info["command_note"] = note
    print(f"microdeblur: note: {note}", file=sys.stderr, flush=True)
