"""One PSF per channel: ``psf='SOURCE;SOURCE;...'`` deblurs channel i of the image's C axis with
the i-th source (an optics model, a gaussian, a TIFF path, 'estimate'), as a DAPI / GFP /
mCherry stack needs (a PSF's width goes with its emission wavelength: 0.61 um is 33 % wider
than 0.46 um).

The separator is ';' (``CHANNEL_SEPARATOR``): no PSF model uses it (they use ':', ',' and '='),
':' is a Windows drive and ',' a model's list, and it is the list separator of Windows paths
(``os.pathsep``). A text that is itself an existing file is that file, so a Linux or macOS file
named with a ';' is still read as one PSF.

``inference.prepare_deblur`` prepares each channel as its own deblur (the channel as an image
without C, the spec with its channel's PSF: 'auto' picks, iterations and balance 'auto', a PSF
fitted to the image, all settled per channel) and ``run_channels`` runs them into the channels
of one output. Each channel is normalised on its own unless a ``normalization`` is given. One
PSF (or none) runs so too where each channel settles its own (``image_settings.auto_per_channel``:
'auto' iterations or balance, a grayscale network's normalisation).

An RGB image (an S axis of 3, or RGBA's 4 with the alpha copied as is) without C takes one PSF
per colour, in R;G;B order, for the classical methods (brightfield blur differs by
wavelength): each colour runs as a channel does. Networks are refused: the PSF-aware network's
colour path takes one PSF and a blind network none.
Refused before any work, each in one line: a count of PSFs other than the C axis's size (or
the number of colours), an image without C or colours, one PSF per colour for a network, and a
mix of 2D and 3D PSFs.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from .axes import AxisView
from .notes import DeblurNote
from .thread_warnings import caught

__all__ = ["CHANNEL_SEPARATOR", "channel_sources", "channels_ran", "check_channel_sources",
           "methods_label", "part_axis", "part_label", "planned_methods", "prepare_channels",
           "run_channels"]

CHANNEL_SEPARATOR = ";"


def channel_sources(psf) -> list[str] | None:
    """The per-channel sources of a PSF text ('a;b' -> ['a', 'b']), or None where ``psf`` is
    not one (no ';', not a string, or an existing file). An empty source is refused."""
    if not isinstance(psf, str) or CHANNEL_SEPARATOR not in psf or _is_file(psf.strip()):
        return None
    parts = [part.strip() for part in psf.split(CHANNEL_SEPARATOR)]
    if len(parts) > 2 and not parts[-1]:
        parts = parts[:-1]  # a trailing ';' ends a list ('a;b;'); 'a;' is one PSF, said below
    for i, part in enumerate(parts):
        if not part:
            raise ValueError(f"psf {psf!r}: channel {i + 1}'s PSF is empty; give one PSF per "
                             f"channel, separated by '{CHANNEL_SEPARATOR}'")
    return parts


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # four optics models are a name too long for a file
        return False


def _dimensions(source: str) -> int | None:
    """2 or 3 (a PSF of more than one plane), from a model or a file's header; None where that
    is not known here ('estimate' is 2D; an unreadable file is refused by its own check)."""
    from .psf import is_psf_model, parse_psf
    from .psf_estimate import is_estimate
    from .psf_fit import psf_data_shape

    if is_estimate(source):
        return 2
    shape = parse_psf(source).shape if is_psf_model(source) else psf_data_shape(source)
    if shape is None:
        return None
    return 3 if len(shape) == 3 and shape[0] > 1 else 2


def check_channel_sources(spec) -> None:
    """``MethodSpec._check_psf`` for a per-channel PSF: each source checked as a PSF alone
    (the error names its channel), then all 2D or all 3D."""
    parts = channel_sources(spec.psf)
    dims = []
    for i, part in enumerate(parts):
        try:
            spec.replace(psf=part)._check_psf()
        except ValueError as error:
            raise ValueError(f"channel {i + 1} of psf: {error}") from None
        dims.append(_dimensions(part))
    known = [(i, d) for i, d in enumerate(dims) if d is not None]
    if any(d != known[0][1] for _, d in known):
        (i, a), (j, b) = known[0], next((k, d) for k, d in known if d != known[0][1])
        raise ValueError(f"psf: channel {i + 1}'s PSF ({parts[i]}) is {a}D but channel {j + 1}'s "
                         f"({parts[j]}) is {b}D; give every channel a 2D PSF, or every one a 3D "
                         "PSF")


def part_axis(axes: str) -> str | None:
    """The axis whose parts take one PSF each: C, else the colours of S (RGB), else None."""
    return "C" if "C" in axes else ("S" if "S" in axes else None)


#: RGB's colours in sample order, as one PSF per colour names them
COLOURS = "RGB"


def part_label(axes: str, index: int) -> str:
    """'channel 2' for C (or no axis known); 'colour G' for RGB's samples (S, no C)."""
    if part_axis(axes) == "S" and index < len(COLOURS):
        return f"colour {COLOURS[index]}"
    return f"channel {index + 1}"


def _refuse_layout(count: int, axes: str, shape, method: str) -> int:
    """The index of the axis the PSFs go to (``part_axis``; RGBA: its 3 colours take one each,
    the alpha is copied), or the line saying why these axes cannot take ``count`` PSFs."""
    given = f"psf gives {count} PSFs (one per channel, separated by '{CHANNEL_SEPARATOR}')"
    letter = part_axis(axes)
    if letter is None:
        raise ValueError(f"{given} but axes {axes} have no channel axis C; give the axes with "
                         "C (e.g. --axes CYX, axes='CYX'), or one PSF")
    index, size = axes.index(letter), int(shape[axes.index(letter)])
    if letter == "C":
        if size != count:
            raise ValueError(f"{given} but the image's C axis has {size} channels; give "
                             f"{size} PSFs, in channel order")
        return index
    from .axes import has_alpha
    from .method import CLASSICAL_METHODS

    given = given.replace("per channel", "per colour")
    if method not in CLASSICAL_METHODS:
        raise ValueError(f"{given} but method={method!r} runs a network, which takes one PSF "
                         f"(or none) for an RGB image (axes {axes}); only richardson_lucy and "
                         "wiener take one PSF per colour: choose one of them, or give one PSF")
    colours = size - 1 if has_alpha(axes, shape) else size
    if colours == 1:
        raise ValueError(f"{given} but the image (axes {axes}, {size} samples) has one colour "
                         "(gray + alpha); give one PSF")
    if colours != count:
        alpha = ", its alpha passed through" if colours < size else ""
        raise ValueError(f"{given} but the RGB image (axes {axes}) has {colours} colours"
                         f"{alpha}; give {colours} PSFs, in R;G;B order")
    return index


class ChannelOf(AxisView):
    """Channel ``index`` of an array along axis ``axis``, indexed and assigned like an array
    without that axis (``axes.AxisView``)."""

    def __init__(self, array, axis: int, index: int):
        self.index = int(index)
        super().__init__(array, axis,
                         tuple(n for i, n in enumerate(array.shape) if i != int(axis)))

    def _at_axis(self, where: tuple) -> tuple:
        return where[:self.axis] + (self.index,) + where[self.axis:]


def channel_of(array, axis: int, index: int):
    """A numpy view of the channel where ``array`` is numpy (no copy), else ``ChannelOf``."""
    if isinstance(array, np.ndarray):
        return array[(slice(None),) * axis + (index,)]
    return ChannelOf(array, axis, index)


def prepare_channels(image, axes: str, spec, tiling_spec, *, normalization, models,
                     psfs=None):
    """``inference.prepare_deblur`` for a spec with one PSF per channel, or one PSF (or none)
    whose 'auto' settings or network normalisation each channel finds
    (``image_settings.auto_per_channel``); None for any other: each channel (or RGB colour)
    prepared with its own PSF, the lines each settles said with its channel (or colour); RGBA's
    alpha is copied by ``run_channels``. A network is loaded once for all channels (a
    ``checkpoint.ModelCache`` where ``models`` is None). A channel of one value whose PSF is
    'estimate' is passed through unchanged (``flat_planes``), as a run passes such a channel:
    it holds no blur to estimate a PSF from."""
    from .axes import Layout, has_alpha
    from .checkpoint import ModelCache
    from .deblur_notes import ALPHA_NOTE
    from .image_settings import auto_per_channel
    from .method import MethodSpec
    from .psf_fit import check_psf_model_fits

    if not isinstance(spec, MethodSpec):
        return None
    shape = tuple(int(n) for n in image.shape)
    if not (parts := channel_sources(spec.psf)):
        if not auto_per_channel(spec, axes, shape):
            return None
        parts = [spec.psf] * shape[axes.index("C")]  # one PSF: each channel finds its 'auto'
    one_psf = channel_sources(spec.psf) is None
    spec = spec.check()
    c = _refuse_layout(len(parts), axes, shape, spec.name)
    # every channel's PSF against the image before the first channel settles anything
    check_psf_model_fits(spec, axes, shape, tile=getattr(tiling_spec, "tile", None))
    models = ModelCache() if models is None else models  # channels 2.. reuse the network
    plane_axes = axes.replace(axes[c], "")
    prepared, said = [], []
    for i, part in enumerate(parts):
        one = spec.replace(psf=psfs[i] if psfs else part)
        with caught() as held:
            prepared.append(_prepare_part(channel_of(image, c, i), plane_axes, one,
                                          tiling_spec, normalization, models,
                                          part_label(axes, i)))
        said += [(i, w) for w in held]
    for i, w in said:  # after every channel was prepared, like the lines of one deblur
        _say_as_part([w], axes, i)
    if axes[c] == "S" and has_alpha(axes, shape):
        warnings.warn(ALPHA_NOTE, DeblurNote, stacklevel=3)
    first = prepared[0]
    return replace(first, image=image, layout=Layout.for_method(axes, shape, first.method),
                   method=_with_channel_psfs(first.method, prepared) if one_psf else
                   first.method,
                   channel_runs=tuple(prepared))


#: The PSF a channel of one value runs with in place of 'estimate': the run passes such a
#: channel through unchanged whatever its PSF (``flat_planes``), so it is never applied
FLAT_CHANNEL_PSF = "gaussian:1"


def _prepare_part(part, axes: str, spec, tiling_spec, normalization, models, label: str):
    """``prepare_deblur`` of one channel (``part``, of ``axes``); an error of estimating its PSF
    names the channel (``label``): 'image is constant' of a 4-channel image whose channel 3
    was empty sent the user looking at the whole image."""
    from .flat_planes import every_plane_flat
    from .inference import prepare_deblur
    from .psf_estimate import is_estimate

    estimate = is_estimate(spec.psf)
    flat = estimate and every_plane_flat(part, axes, "YX")
    if flat:
        spec = spec.replace(psf=FLAT_CHANNEL_PSF)  # passed through, said by the run
    try:
        prepared = prepare_deblur(part, axes, spec, tiling_spec, normalization=normalization,
                                  models=models)
        if not flat:
            return prepared
        # recorded as given: the stand-in was neither estimated nor applied ('gaussian:1'
        # in the record, and in info --command, would be taken for a PSF found on the channel)
        method = prepared.method
        return replace(prepared, method=replace(
            method, parameters=dict(method.parameters, psf="estimate")))
    except ValueError as error:
        if not estimate:
            raise
        raise ValueError(f"{label}: {error}") from None


def _with_channel_psfs(method, prepared):
    """``method`` (channel 1's) with the PSF of each channel, joined by ';', where one PSF
    ran as different ones (each channel estimated its own): the record's had been channel 1's."""
    psfs = [run.method.parameters.get("psf") for run in prepared]
    if not all(isinstance(p, str) for p in psfs) or len(set(psfs)) == 1:
        return method
    return replace(method, parameters=dict(method.parameters, psf=CHANNEL_SEPARATOR.join(psfs)))


def _say_as_part(held: list, axes: str, index: int) -> None:
    """Warn each of ``held`` again, prefixed with its channel's (or colour's) label."""
    for w in held:
        warnings.warn_explicit(f"{part_label(axes, index)}: {w.message}", w.category,
                               w.filename, w.lineno)


def _tile_count(prepared) -> int:
    from .tiling import plan_tiles

    plan = plan_tiles(prepared.layout.spatial_shape, prepared.options.tile,
                      prepared.options.overlap, size_divisor=prepared.method.size_divisor)
    return len(plan) * len(prepared.layout.planes)


def run_channels(prepared, out):
    """``PreparedDeblur.iter_run`` of ``prepare_channels``'s result, ``out`` checked: each
    channel's deblur into its channel of ``out`` (RGBA: then the alpha copied); progress
    counts the tiles of all channels. The result's ``method`` is ``methods_label``'s."""
    from .axes import copy_sample
    from .progress import DeblurProgress

    letter = part_axis(prepared.axes)
    c = prepared.axes.index(letter)
    # a channel's plane index is over its own loop axes (C left out): C goes back in where the
    # image's axes have it (ZCYX: (z, c))
    own_loop = prepared.channel_runs[0].layout.loop_axes
    position = sum(1 for a in prepared.axes[:c] if a in own_loop)
    total = sum(_tile_count(part) for part in prepared.channel_runs)
    done, results = 0, []
    for i, part in enumerate(prepared.channel_runs):
        run = part.iter_run(channel_of(out, c, i))
        while True:
            try:
                with caught() as held:  # a channel's run-time lines name it, as its set-up's
                    step = next(run)
            except StopIteration as stop:
                results.append(stop.value)
                break
            finally:
                _say_as_part(held, prepared.axes, i)
            done += 1
            total = max(total, done)  # smaller tiles after running out of memory: more of them
            plane = step.plane[:position] + (i,) + step.plane[position:]
            yield DeblurProgress(done, total, plane, step.tile)
    if len(results) < prepared.shape[c]:  # RGBA: the alpha, the last sample, as it is
        copy_sample(prepared.image, out, prepared.axes, prepared.shape[c] - 1,
                    prepared.output_dtype)
    first = results[0]
    parameters = dict(first.parameters,
                      channels=[dict(r.parameters, normalization=vars(r.normalization))
                                for r in results])
    if any("psf" in r.parameters for r in results):  # a blind network's channels take none
        parameters["psf"] = CHANNEL_SEPARATOR.join(str(r.parameters.get("psf", ""))
                                                   for r in results)
    # what each channel ran (the dock's label, channels_ran's): the CLI's line, its --json
    # 'method' and a cluster's record had named channel 1's method only
    method = methods_label([str(r.method) for r in results])
    return replace(first, image=out, axes=prepared.axes, method=method, parameters=parameters)


#: What ``one_psf_only`` says after "psf 'A;B' gives one PSF per channel": for deblurring only
#: what is below a focus threshold (its units are planes or tiles across channels) ...
SELECTIVE_RUN = (", but deblurring only what is below a focus threshold (--focus-below, "
                 "deblur_selected(), the Focus dock) takes one PSF for all channels; give one "
                 "PSF, or deblur without the threshold, which runs one PSF per channel")
#: ... and for any other caller of ``image_settings.spec_for_image`` (a Zarr volume on a
#: cluster, a network loaded in a dock's session): said for either, as the caller is not known
WHOLE_IMAGE_RUN = (", which microdeblur deblur and watch, deblur() and prepare_deblur() run "
                   "channel by channel; this run (a Zarr volume on a cluster, or a network "
                   "loaded in the dock's session) takes one PSF for the whole image: give one "
                   "PSF, or deblur it with microdeblur deblur or deblur() on one machine")


def one_psf_only(spec, run: str = SELECTIVE_RUN) -> None:
    """Refuse a per-channel PSF where one PSF runs on every channel, in one line: ``run`` says
    which run that is and how to proceed (``SELECTIVE_RUN``: the Focus dock, selective
    deblurring; ``WHOLE_IMAGE_RUN``). `microdeblur deblur --focus-below` was told that
    `microdeblur deblur` runs such PSFs."""
    if channel_sources(getattr(spec, "psf", None)):
        raise ValueError(f"psf {spec.psf!r} gives one PSF per channel{run}")


def methods_label(names: list[str]) -> str:
    """The method of a per-channel run as a name shows it: the one every channel ran, else
    each channel's ('c1 richardson_lucy, c2 wiener_unet.psf_v4'), as the PSF's label is."""
    if len(set(names)) == 1:
        return names[0]
    return ", ".join(f"c{i + 1} {name}" for i, name in enumerate(names))


def planned_methods(spec, axes: str, shape) -> list[str]:
    """What each channel of ``spec`` (one PSF per channel) runs, as far as it is known before
    the image is read (``image_settings.spec_before_image``): 'auto' with a 3D PSF on a
    z-stack is richardson_lucy; where the PSF comes from the image, 'X or BLIND' (the blind
    network runs where the image gives no estimate). 'auto' of the whole request names the
    PSF-aware network, which may run on no channel."""
    from .axes import is_rgb
    from .bundled import auto_blind_fallback, auto_method_name
    from .image_settings import spec_before_image

    c = axes.index(part_axis(axes))
    plane_axes = axes[:c] + axes[c + 1:]
    plane = tuple(int(n) for i, n in enumerate(shape) if i != c)
    rgb = is_rgb(plane_axes, plane)
    names = []
    for part in channel_sources(spec.psf):
        one = spec.replace(psf=part)
        settled = spec_before_image(one, plane_axes, plane)
        name = auto_method_name(settled or one, rgb)
        blind = None if settled is not None else auto_blind_fallback(one, rgb)
        names.append(name if blind in (None, name) else f"{name} or {blind}")
    return names


def channels_ran(prepared) -> tuple[str, object, dict]:
    """What a per-channel run (``prepare_channels``) ran, for a record made after it: (the
    method as ``methods_label`` names it; the network's card where every channel ran the same
    weights, else None; the fields the record adds: each channel's run under ``channels`` as
    the CLI's record keeps it, and no one ``method`` where the channels ran different ones)."""
    from .provenance import deblur_record

    runs = prepared.channel_runs
    names = [run.method.name for run in runs]
    cards = [run.method.parameters.get("card") for run in runs]
    shas = {card.get("sha256") if isinstance(card, dict) else getattr(card, "sha256", None)
            for card in cards}  # a resolved network's card is a dict
    card = cards[0] if len(set(names)) == 1 and len(shas) == 1 and None not in shas else None
    fields = {"channels": deblur_record(prepared)["channels"]}
    if len(set(names)) > 1:
        fields["method"] = None  # as the CLI's record: each channel's is under 'channels'
    return methods_label(names), card, fields
