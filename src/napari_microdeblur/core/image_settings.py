"""What only the image can settle in a MethodSpec, settled once per image before any tile
work: a PSF estimated from it, 'auto' with a 3D PSF on a z-stack run as Richardson-Lucy in 3D,
Richardson-Lucy's iteration count and Wiener's balance when they are 'auto'
(``spec_for_image``); and the same without reading the image, for checks before a run
(``spec_before_image``). ``inference.prepare_deblur`` calls it; so do the docks and the cluster
path, which settle once for a whole image or volume. Where one PSF meets channels (C), the run
splits them first so that each settles its own (``auto_per_channel``); so does a grayscale
network, with or without a PSF, so that each channel is normalised on its own range
(``network_per_channel``).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .axes import colour_part, is_rgb, is_rgba
from .bundled import (
    ESTIMATED_PSF_MODALITIES,
    auto_3d_kernel,
    auto_3d_psf,
    auto_method_name,
    auto_psf,
    default_for_modality,
    image_type,
)
from .channel_psfs import SELECTIVE_RUN, WHOLE_IMAGE_RUN, channel_sources, one_psf_only
from .method import CLASSICAL_METHODS, MethodSpec
from .notes import DeblurNote, DeblurWarning
from .options import AUTO_BALANCE, AUTO_ITERATIONS, FIXED_BALANCE, FIXED_ITERATIONS
from .tiling_spec import OUTPUT_DTYPES


def spec_for_image(spec, image, axes: str, *, in_3d: bool = True):
    """The spec as it runs on ``image``: what only the image can settle, settled once per
    image before any tile work.

    ``psf='estimate'`` is replaced by the PSF estimated from ``image``
    (``core.psf_estimate``); the line saying which goes out as a warning. So is 'auto' without
    a PSF for an image type that estimates one (``bundled.auto_psf``: EM, brightfield); where
    its image gives no estimate (too small, constant), that 'auto' runs the image type's blind
    network instead and says so. 'auto' with a 3D PSF for a z-stack becomes Richardson-Lucy
    in 3D (``in_3d_where_auto_should``) unless ``in_3d`` is False (a caller that deblurs
    plane by plane). Richardson-Lucy with ``iterations='auto'`` gets its count from the image
    (``iterations_for``), Wiener with ``balance='auto'`` its balance (``balance_for``).
    Anything else is returned as it is."""
    if not isinstance(spec, MethodSpec):
        return spec
    # a caller deblurring plane by plane is selective deblurring (its units span channels)
    one_psf_only(spec, SELECTIVE_RUN if not in_3d else WHOLE_IMAGE_RUN)
    image = colour_part(image, axes)  # RGBA, gray + alpha: settled on what runs, not alpha
    spec = _with_psf_of(spec, image, axes, in_3d)
    return balance_for(iterations_for(spec, image, axes), image, axes)


def gray_auto(spec, axes: str, shape) -> bool:
    """Whether 'auto' runs ``spec`` on a grayscale image (``axes``, ``shape``) as fluorescence
    only because no modality was given: no PSF, no weights, modality 'auto'. Such an EM image
    got the fluorescence network silently (21.6 dB against 23.2 dB with modality 'em')."""
    shape = tuple(int(n) for n in shape)
    return (isinstance(spec, MethodSpec) and spec.name == "auto" and spec.modality == "auto"
            and spec.psf is None and spec.weights is None
            and not (is_rgb(axes, shape) or is_rgba(axes, shape)))


def gray_auto_words(option: Callable[[str], str], colour: str = "") -> str:
    """What ``gray_auto`` means, each modality spelled by ``option`` (``"--modality {}"`` on
    the command line, ``"modality={!r}"`` in Python), so the two cannot drift; ``colour``:
    ``colour_channels_words``' hint, added where it is not ''."""
    return (f"{option('auto')}: grayscale, so run as fluorescence; for EM images give "
            f"{option('em')}, for gray brightfield {option('brightfield')}"
            + (f"; {colour}" if colour else ""))


def rgb_auto(spec, axes: str, shape) -> bool:
    """``gray_auto``'s twin for an RGB(A) image: 'auto' runs it as brightfield only because
    no modality was given (a fluorescence composite saved as RGB ran so, with no hint)."""
    shape = tuple(int(n) for n in shape)
    return (isinstance(spec, MethodSpec) and spec.name == "auto" and spec.modality == "auto"
            and spec.psf is None and spec.weights is None
            and (is_rgb(axes, shape) or is_rgba(axes, shape)))


def rgb_auto_words(option: Callable[[str], str]) -> str:
    """What ``rgb_auto`` means, spelled as ``gray_auto_words`` spells its line."""
    return (f"{option('auto')}: RGB, so run as brightfield; for a fluorescence composite "
            f"give {option('fluorescence')}")


def colour_channels_words(axes: str, shape, dtype, give: Callable[[str], str]) -> str:
    """Where ``gray_auto`` runs 3 (or 4) 8-bit channels before Y, X (an ImageJ CYX file) as
    fluorescence: that they may be a colour image's R, G, B (A), with how to give the axes
    that read them so spelled by ``give`` (``"give --axes {}"`` on the command line, ``"give
    axes={!r}"`` in Python, ``"type {} in Axes"`` in a dock): an H&E image saved so ran as
    fluorescence with no hint that SYX reads it as colour. '' for any other image (``dtype``
    None: not known)."""
    shape = tuple(int(n) for n in shape)
    if not axes.endswith("CYX") or len(axes) != len(shape) or dtype is None or \
            np.dtype(dtype) != np.uint8 or shape[axes.index("C")] not in (3, 4):
        return ""
    samples = "R, G, B" if shape[axes.index("C")] == 3 else "R, G, B, A"
    return (f"if its {shape[axes.index('C')]} channels are the {samples} of a colour image, "
            f"{give(axes.replace('C', 'S'))}")


def note_gray_auto(spec, ran: str, axes: str, shape, dtype=None) -> None:
    """One DeblurNote naming the network ``ran`` where ``gray_auto`` holds (the Python API;
    the command line says its own line, ``cli._say_modality``); ``dtype``: the image's, for
    ``colour_channels_words``."""
    if gray_auto(spec, axes, shape):
        colour = colour_channels_words(axes, shape, dtype, lambda value: f"give axes={value!r}")
        words = gray_auto_words(lambda value: f"modality={value!r}", colour)
        warnings.warn(f"method 'auto' ran {ran} ({words})", DeblurNote, stacklevel=3)


def output_dtype_word(value, input_dtype) -> str:
    """``output_dtype`` as ``TilingSpec`` takes it: 'float32' or 'input' as they are, a numpy
    dtype (or type, or name) equal to float32 as 'float32', one equal to the input's dtype as
    'input'; anything else refused, saying what is accepted (np.float32 was refused)."""
    if isinstance(value, str) and value in OUTPUT_DTYPES:
        return value
    try:
        dtype = None if value is None else np.dtype(value)
    except (TypeError, ValueError):
        dtype = None
    if dtype == np.float32:
        return "float32"
    # in either byte order: a big-endian '>u2' input refused np.uint16, the dtype it named
    if dtype is not None and dtype.newbyteorder("=") == np.dtype(input_dtype).newbyteorder("="):
        return "input"
    name = np.dtype(input_dtype).name
    raise ValueError(f"output_dtype={value!r} is neither float32 nor the input's dtype "
                     f"({name}); give 'float32' (or np.float32) for the input's units, or "
                     f"'input' (or np.{name}) for its dtype")


def spec_before_image(spec: MethodSpec, axes: str, shape) -> MethodSpec | None:
    """The spec as ``spec_for_image`` settles it, without reading the image: what decides the
    method's reach (and so the smallest tile it runs on), for a check before a run starts.
    'auto' with a 3D PSF on a z-stack is Richardson-Lucy (a model deeper than the stack computed
    at its depth, as ``in_3d_where_auto_should`` runs it); iterations and balance 'auto' are
    fixed (they do not change the reach). None where the PSF comes from the image itself
    ('estimate', or 'auto' for EM and brightfield): only the image settles that one."""
    from .psf_estimate import is_estimate

    shape = tuple(int(n) for n in shape)
    if is_estimate(spec.psf) or channel_sources(spec.psf) or auto_psf(spec, is_rgb(axes, shape)):
        return None
    if auto_3d_kernel(spec, axes, shape) is not None:
        spec = spec.replace(name="richardson_lucy", psf=auto_3d_psf(spec, axes, shape))
    return spec.replace(iterations=FIXED_ITERATIONS, balance=FIXED_BALANCE)


def auto_per_channel(spec, axes: str, shape) -> bool:
    """Whether one PSF (or none) on an image with channels (a C axis of 2 or more) runs each
    channel as its own deblur (``channel_psfs.prepare_channels``, as one PSF per channel does),
    so that what the image settles is found on each channel: Richardson-Lucy's iterations,
    Wiener's balance, 'auto' deconvolving a z-stack in 3D, and a network's normalisation
    (``network_per_channel``). Stains differ in noise: one balance found on channel 1 left an
    actin channel below its input (CYX, gaussian:1.6: 28.25 dB, input 28.20; its own balance
    33.55). Not RGB's colours (S: one value keeps them consistent), time points (one value per
    series), a PSF the image settles ('estimate') for a classical method, or values given."""
    from .psf_estimate import is_estimate

    shape = tuple(int(n) for n in shape)
    if (not isinstance(spec, MethodSpec) or channel_sources(spec.psf) or "C" not in axes
            or shape[axes.index("C")] < 2):
        return False
    if network_per_channel(spec, axes, shape):
        return True
    if spec.psf is None or is_estimate(spec.psf):
        return False
    return ((spec.name == "richardson_lucy" and spec.iterations == AUTO_ITERATIONS)
            or (spec.name == "wiener" and spec.balance == AUTO_BALANCE)
            or (spec.name == "auto" and "Z" in axes  # checked: a bad PSF said as it is
                and auto_3d_kernel(spec.check(), axes, shape) is not None))


def network_per_channel(spec: MethodSpec, axes: str, shape) -> bool:
    """Whether ``spec`` runs a grayscale network (one input channel: the blind defaults, the
    PSF-aware network, with one PSF, none or 'estimate') on an image whose C axis it loops
    over: each channel is then normalised on its own range. One normalisation over all
    channels took the brightest one's range: a dim GFP channel next to a bright DAPI one was
    under-restored (26.23 dB against 29.32 run alone, input 23.00) and its mean moved 8 %.
    A network taking C whole (its channel count), 'auto' running Richardson-Lucy in 3D (said
    by ``auto_per_channel``), weights whose channel count is not known without loading them
    (a state dict, a zoo .zip), and the image types whose 'auto' estimates its PSF on the
    whole image (EM, brightfield: ``bundled.auto_psf``; the docks and a cluster settle that
    PSF before the run, which then would split what they had not) run as before."""
    shape = tuple(int(n) for n in shape)
    if spec.name in CLASSICAL_METHODS or "C" not in axes or shape[axes.index("C")] < 2:
        return False
    rgb = is_rgb(axes, shape) or is_rgba(axes, shape)
    if image_type(spec.modality, rgb) in ESTIMATED_PSF_MODALITIES:
        return False
    try:
        if auto_3d_kernel(spec.check(), axes, shape) is not None:
            return False
        name = auto_method_name(spec, rgb)
    except (TypeError, ValueError):  # no weights installed, a bad PSF: the run says it
        return False
    return name not in CLASSICAL_METHODS and _input_channels(spec, name) == 1


def _input_channels(spec: MethodSpec, name: str) -> int | None:
    """The input channels of the network ``spec`` names (``name``: what 'auto' stands for),
    from its card's header; None where that is not known without loading it."""
    from .bundled import BUNDLED_WEIGHTS, WEIGHTS_DIR

    if spec.weights is not None:
        path = Path(spec.weights)
    elif name in BUNDLED_WEIGHTS:
        path = WEIGHTS_DIR / BUNDLED_WEIGHTS[name].file
    else:
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    if path.suffix.lower() != ".safetensors":
        return None
    return _card_channels(str(path.resolve()), info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=16)
def _card_channels(path: str, mtime_ns: int, size: int) -> int | None:
    """``in_channels`` of a weights file's card, once per file version (its header and hash
    are read: 12 ms a bundled file); None for one without a readable card."""
    from .checkpoint import read_card

    try:
        return int(read_card(path).in_channels)
    except ValueError:
        return None


def _with_psf_of(spec: MethodSpec, image, axes: str, in_3d: bool) -> MethodSpec:
    """``spec_for_image`` but for the iteration count and the balance."""
    from .psf_estimate import estimate_psf, estimation_plane, is_estimate

    if in_3d:
        spec = in_3d_where_auto_should(spec, image, axes)
    rgb = is_rgb(axes, tuple(image.shape))
    default = auto_psf(spec, rgb)
    if default is not None:
        spec = spec.replace(psf=default)
    if not is_estimate(spec.psf):
        return spec
    if not spec.takes_psf():  # a blind network: nothing to estimate (resolving it says so)
        return spec
    try:
        plane = estimation_plane(image, axes)
        estimated = estimate_psf(plane)
        if any(k > n for k, n in zip(estimated.kernel.shape, plane.shape)):
            # a blur that wide leaves too little of a small image to deblur, or to trust
            raise ValueError(f"the estimate, {estimated.spec}, is "
                             f"{' x '.join(map(str, estimated.kernel.shape))} px, larger than "
                             f"the image ({yx_words(image, axes)}); give a PSF (file or model) "
                             "instead")
    except ValueError as error:
        if default is None:  # 'estimate' asked for by name: the user hears why
            raise
        blind = default_for_modality(spec.modality, rgb)
        warnings.warn(f"no PSF could be estimated from this image ({error}); ran the blind "
                      f"network {blind} instead", DeblurWarning, stacklevel=2)
        return spec.replace(name=blind, psf=None)
    line = estimated.describe()  # a caveat appended (JPEG blocks, the widest blur): a risk
    warnings.warn(line, DeblurNote if line.endswith("give a measured PSF") else DeblurWarning,
                  stacklevel=2)
    return spec.replace(psf=estimated.spec)  # the same kernel, named (psf_estimate rounds)


#: The lateral size of the central crop (all its planes) on which the settings found per image
#: are checked: Richardson-Lucy's iterations (``classical.held_out_iterations``, which scores
#: the central 8 planes of a stack under a one-plane PSF: 0.7 s at up to 100 iterations on this
#: project's 2-core CPU; every plane under a 3D PSF) and Wiener's balance (``gcv_balance``).
#: A plane narrower than this gives its other side the pixels it leaves (``crop_sides``).
CHECK_CROP = 256
#: The most iterations ``iterations='auto'`` lets that check choose with a 2D PSF.
AUTO_ITERATIONS_MAX = 100
#: ... and with a 3D PSF, deconvolving in 3D: on a smooth confocal nucleus (the test split of
#: benchmarks/psf3d_auto.py, seen when this was chosen) the check ran to 100 where 20 was best,
#: 1.5 to 4.4 dB below 30; at most 30 it stops earlier only where the stack's noise says so.
AUTO_ITERATIONS_MAX_3D = FIXED_ITERATIONS


def in_3d_where_auto_should(spec: MethodSpec, image, axes: str) -> MethodSpec:
    """'auto' given a 3D PSF for a grayscale z-stack as Richardson-Lucy in 3D
    (``bundled.auto_runs_in_3d``), with a line saying so (a PSF model deeper than the stack
    computed at its depth, ``bundled.auto_3d_psf``, the line says that); any other spec as it
    is. It runs at most ``spec.iterations`` (``AUTO_ITERATIONS_MAX_3D`` for 'auto'), fewer where
    a held-out check on a central crop of the stack (``held_out_count``) finds that RL fits the
    noise sooner: on a noisy stack of dense texture 30 iterations lost up to 4 dB to the network
    (benchmarks/psf3d_auto.py)."""
    from .classical import still_improving_text
    from .flat_planes import every_plane_flat

    kernel = auto_3d_kernel(spec, axes, tuple(image.shape))
    if kernel is None:
        return spec
    most = AUTO_ITERATIONS_MAX_3D if spec.iterations == AUTO_ITERATIONS else spec.iterations
    psf = auto_3d_psf(spec, axes, tuple(image.shape))
    crop = held_out_crop(kernel, image, axes)
    if crop is None and every_plane_flat(image, axes, "ZYX"):  # passed through, said so alone
        return spec.replace(name="richardson_lucy", iterations=min(most, FIXED_ITERATIONS),
                            psf=psf)
    found = None if crop is None else held_out_found(kernel, image, axes, most, crop)
    iterations = found.iterations if found else min(most, FIXED_ITERATIONS)
    count = (_iterations_text(iterations) if iterations == most else
             f"{_iterations_text(iterations)}: past that it fitted the noise of the stack, by a "
             f"check on voxels held out of it; at most {most}")
    if found and found.still_improving and spec.iterations == AUTO_ITERATIONS:  # the cap did
        count += f"; {still_improving_text(most)}"
    lead = ("method 'auto' with a 3D PSF on a z-stack runs Richardson-Lucy in 3D"
            if psf == spec.psf else _deeper_model_text(spec.psf, psf, image.shape[axes.index("Z")]))
    warnings.warn(
        f"{lead} ({count}), which removes the light other planes send into each plane; the "
        "PSF-aware network sees one plane at a time (choose it by name to run it with the PSF's "
        "in-focus plane)", DeblurNote, stacklevel=3)
    return spec.replace(name="richardson_lucy", iterations=iterations, psf=psf)


def _deeper_model_text(given: str, computed: str, planes: int) -> str:
    """What 'auto' did with a PSF model deeper than the stack (``bundled.auto_3d_psf``)."""
    from .psf import parse_psf

    return (f"the PSF model's nz={parse_psf(given).shape[0]} is deeper than the {planes}-plane "
            f"stack: auto computed it with nz={parse_psf(computed).shape[0]} and deconvolves in "
            "3D with Richardson-Lucy")


def iterations_for(spec: MethodSpec, image, axes: str) -> MethodSpec:
    """Richardson-Lucy with ``iterations='auto'`` with the count ``held_out_count`` finds on
    ``image`` (at most ``AUTO_ITERATIONS_MAX``, ``AUTO_ITERATIONS_MAX_3D`` for a 3D PSF), and a
    line saying it; other specs as they are."""
    from .classical import still_improving_text

    if spec.name != "richardson_lucy" or spec.iterations != AUTO_ITERATIONS:
        return spec
    kernel = spec.psf_for_image(axes, tuple(image.shape))
    if kernel is None:
        return spec
    most = AUTO_ITERATIONS_MAX_3D if is_3d_kernel(kernel) else AUTO_ITERATIONS_MAX
    if (crop := held_out_crop(kernel, image, axes)) is None:  # one value: nothing to search
        setting = f"richardson_lucy: {_iterations_text(FIXED_ITERATIONS)} (iterations 'auto'"
        if line := nothing_to_search(image, axes, kernel, setting):
            warnings.warn(line, DeblurNote, stacklevel=3)
        return spec.replace(iterations=FIXED_ITERATIONS)
    found = held_out_found(kernel, image, axes, most, crop)
    if found is None:
        iterations = FIXED_ITERATIONS
        why = too_few_to_hold_out(image, axes)
    else:
        iterations = found.iterations
        why = ("where its blurred estimate best predicted pixels held out of the image; at most "
               f"{most}")
        if found.still_improving and most != AUTO_ITERATIONS_MAX:  # 2D's cap: said below
            why += f"; {still_improving_text(most)}"
    # at the cap the held-out check saw no noise being fitted: a PSF wider than the image's
    # blur runs there too (a gaussian:3 PSF on a sigma-2 blur: 2.4-5.3 dB below the input)
    capped = iterations == most == AUTO_ITERATIONS_MAX  # 3D's cap of 30 is for speed
    if capped:
        why += ("; reached the most searched: the PSF may be wider than the image's blur, or "
                "the image nearly noiseless")
    warnings.warn(f"richardson_lucy: {_iterations_text(iterations)} (iterations 'auto': {why})",
                  DeblurWarning if capped else DeblurNote, stacklevel=3)
    return spec.replace(iterations=iterations)


def balance_for(spec: MethodSpec, image, axes: str) -> MethodSpec:
    """Wiener with ``balance='auto'`` with the balance ``psf_estimate.gcv_balance`` finds on the
    centre crop of the image's middle plane, first channel (RGB's colours are deconvolved with
    the balance, and a mean of colours would show less noise than any of them: on the RGB
    rows of benchmarks/classical_auto.py it chose balances 0.4-0.5 dB worse than the tuned
    one), and a line saying it; other specs as they are. GCV judges a 2D PSF: a 3D one (or one
    wider than the crop) runs ``FIXED_BALANCE``, and the line says why."""
    from .psf_estimate import FLOOR_NOTE, JPEG_BAND, gcv_balance_read, gcv_size_check

    if spec.name != "wiener" or spec.balance != AUTO_BALANCE:
        return spec
    kernel = spec.psf_for_image(axes, tuple(image.shape))
    if kernel is None:
        return spec
    if is_3d_kernel(kernel):  # GCV judges a 2D PSF (a 3D one had shown numpy's broadcast error)
        warnings.warn(f"wiener: balance {FIXED_BALANCE:.3g} (balance 'auto': the fixed value; "
                      f"GCV judges a 2D PSF and this one has {kernel.shape[0]} planes: give a "
                      "number to set it)", DeblurNote, stacklevel=3)
        return spec.replace(balance=FIXED_BALANCE)
    plane = search_volume(image, axes, max(CHECK_CROP, 2 * max(kernel.shape)), kernel)
    if plane is None:  # one value: GCV found no noise in it and blamed the PSF
        setting = f"wiener: balance {FIXED_BALANCE:.3g} (balance 'auto'"
        if line := nothing_to_search(image, axes, kernel, setting):
            warnings.warn(line, DeblurNote, stacklevel=3)
        return spec.replace(balance=FIXED_BALANCE)
    try:
        # said in the user's size: GCV's own check sees the crop (256 x 20 of 4000 x 20)
        gcv_size_check(*plane_yx(image, axes), max(kernel.shape[-2:]))
        balance, band_limited, at_floor = gcv_balance_read(
            plane[plane.shape[0] // 2] if plane.ndim == 3 else plane,
            kernel[0] if kernel.ndim == 3 and not is_3d_kernel(kernel) else kernel)
        why = FLOOR_NOTE if at_floor else "by generalised cross-validation on the image"
        if band_limited:
            why += (f"; it shows JPEG's 8x8 blocks, so only frequencies below {JPEG_BAND:g} "
                    "cycles/px were read")
    except ValueError as error:  # a 3D PSF, or one wider than the image offers
        balance, why = FIXED_BALANCE, f"the fixed value; {error}"
    # a floor, JPEG blocks or an error add '; ...' to why: a risk, not only a choice
    warnings.warn(f"wiener: balance {balance:.3g} (balance 'auto': {why})",
                  DeblurWarning if "; " in why else DeblurNote, stacklevel=3)
    return spec.replace(balance=balance)


def _iterations_text(count: int) -> str:
    return "1 iteration" if count == 1 else f"{count} iterations"


def is_3d_kernel(kernel: np.ndarray) -> bool:
    """Whether a PSF deconvolves in 3D (more than one plane)."""
    return kernel.ndim == 3 and kernel.shape[0] > 1


def held_out_count(kernel: np.ndarray, image, axes: str, most: int) -> int | None:
    """The Richardson-Lucy iteration count, at most ``most``, that
    ``classical.held_out_iterations`` finds on a central crop of ``image`` (every plane, at
    least ``CHECK_CROP`` pixels wide and twice the PSF, longer along one side where the other
    is short: ``crop_sides``; the first channel or time point) with ``kernel`` (a 2D one on a
    stack deconvolves each plane); None for an image too small to tell."""
    found = held_out_found(kernel, image, axes, most)
    return None if found is None else found.iterations


def held_out_found(kernel: np.ndarray, image, axes: str, most: int, crop=None):
    """``held_out_count``'s check as ``classical.held_out_check`` gives it: the count and
    whether it was still improving at ``most``; None for an image too small to tell, or one
    of one value (``search_volume``, or ``crop`` where the caller read it)."""
    from .classical import held_out_check

    crop = held_out_crop(kernel, image, axes) if crop is None else crop
    if crop is None:
        return None
    if crop.ndim == 3 and kernel.ndim == 2:
        kernel = kernel[None]
    return held_out_check(crop, kernel, max_iterations=int(most))


def held_out_crop(kernel: np.ndarray, image, axes: str) -> np.ndarray | None:
    """What the held-out check reads of ``image`` (``search_volume``)."""
    return search_volume(image, axes, max(CHECK_CROP, 2 * max(kernel.shape[-2:])), kernel)


def plane_yx(image, axes: str) -> tuple[int, int]:
    """The image's (Y, X) size in pixels."""
    return int(image.shape[axes.index("Y")]), int(image.shape[axes.index("X")])


def yx_words(image, axes: str) -> str:
    """'4000 x 20 px': the user's plane (Y x X), for a message."""
    ny, nx = plane_yx(image, axes)
    return f"{ny} x {nx} px"


def too_few_to_hold_out(image, axes: str) -> str:
    """Why ``held_out_found`` found nothing, in the image's own size: the pixels the check
    hides (``classical.HELD_OUT_SHARE`` of those it reads) fall short of what it needs."""
    from .classical import HELD_OUT_SHARE, MIN_HELD_OUT_PIXELS

    sizes = [int(n) for a, n in zip(axes, image.shape) if a in "ZYX"]
    needed = int(np.ceil(MIN_HELD_OUT_PIXELS / HELD_OUT_SHARE))
    return (f"the image is too small to hold pixels out of it: "
            f"{' x '.join(map(str, sizes))} px ({''.join(a for a in axes if a in 'ZYX')}), "
            f"{int(np.prod(sizes)):,} pixels; the check hides {HELD_OUT_SHARE:.0%} of them and "
            f"needs {MIN_HELD_OUT_PIXELS:,} hidden, so about {needed:,} pixels or more")


def crop_sides(ny: int, nx: int, lateral: int) -> tuple[int, int]:
    """The Y and X sides of a central crop of an ``ny`` x ``nx`` plane holding at most
    ``lateral`` squared pixels: ``lateral`` each, but where one side of the plane is shorter,
    the other takes the pixels it leaves (a 4000 x 20 strip: 3276 x 20, not 256 x 20, which
    was too few for the held-out check)."""
    budget = lateral * lateral
    sy, sx = min(ny, lateral), min(nx, lateral)
    if sy < lateral:
        sx = min(nx, max(lateral, budget // max(sy, 1)))
    elif sx < lateral:
        sy = min(ny, max(lateral, budget // max(sx, 1)))
    return sy, sx


def central_volume(image, axes: str, lateral: int, at: tuple[int, ...] = ()) -> np.ndarray:
    """The (Z, Y, X) (or (Y, X) without Z) float32 volume at the centre of ``image``: every
    plane, a central crop of each holding at most ``lateral`` squared pixels (``crop_sides``:
    ``lateral`` along Y and X, more along one where the other is shorter), the index ``at``
    (in order; the first where not given) of any other axis (time, channel, RGB). Reads only
    that part of a lazy (dask, zarr) array."""
    sides = dict(zip("YX", crop_sides(*plane_yx(image, axes), lateral)))
    key, at = [], iter(at)
    for axis, n in zip(axes, image.shape):
        if axis in "YX":
            start = max(0, (n - sides[axis]) // 2)
            key.append(slice(start, start + sides[axis]))
        else:
            key.append(slice(None) if axis == "Z" else next(at, 0))
    volume = np.asarray(image[tuple(key)], dtype=np.float32)
    kept = [a for a in axes if a in "ZYX"]
    return np.transpose(volume, [kept.index(a) for a in "ZYX" if a in kept])


def search_volume(image, axes: str, lateral: int, kernel: np.ndarray) -> np.ndarray | None:
    """``central_volume`` as the searches for iterations and balance read it, without what
    holds one value (the run passes such planes through unchanged, ``flat_planes``): a flat
    plane scored RL's held-out error 0 at every count (1 iteration) and gave GCV no noise, which
    blamed the PSF. The first index of the other axes (channel, RGB) whose crop holds two
    values; under a 2D ``kernel`` only its planes that do (a 3D one deconvolves the whole
    stack). Of a time series, the time point of median contrast among up to
    ``SEARCH_TIMES`` evenly spread ones (``median_contrast_first``). None where every crop
    holds one value."""
    others = [(a, int(n)) for a, n in zip(axes, image.shape) if a not in "ZYX"]
    for t in median_contrast_first(image, axes, others):
        for at in _indices_at(others, t):
            volume = central_volume(image, axes, lateral, at)
            if volume.ndim == 3 and not is_3d_kernel(kernel):
                volume = volume[np.ptp(volume.reshape(len(volume), -1), axis=1) != 0]
            if volume.size and volume.max() != volume.min():
                return volume
    return None


def _indices_at(others: list[tuple[str, int]], t: int):
    """Every index of the non-ZYX axes ``others`` ((letter, length) in order), T at ``t``."""
    for at in np.ndindex(*[1 if a == "T" else n for a, n in others]):
        yield tuple(t if a == "T" else i for (a, _), i in zip(others, at))


#: the side of the central crop a time point's contrast is judged on (read before the search's)
CONTRAST_SIDE = 64


def median_contrast_first(image, axes: str, others: list[tuple[str, int]]) -> list[int]:
    """``search_times``, the one of median contrast first, then the others by their distance
    from it, then those of one value: judged on ``CONTRAST_SIDE`` px crops, so a lazy series is
    read little beyond the searched time point. A dim first frame (before illumination) had set
    the balance of the whole series: 1000x too high, ~1.5 dB off every other frame."""
    times = search_times(axes, image.shape)
    if len(times) == 1:
        return times
    scored, flat = [], []
    for t in times:
        for at in _indices_at(others, t):
            crop = central_volume(image, axes, CONTRAST_SIDE, at)
            if crop.size and crop.max() != crop.min():
                scored.append((float(np.percentile(crop, 99.5) - np.median(crop)), t))
                break
        else:
            flat.append(t)
    ranked = [t for _, t in sorted(scored)]
    middle = len(ranked) // 2
    return [ranked[i] for i in sorted(range(len(ranked)), key=lambda i: abs(i - middle))] + flat


#: time points a search for iterations or balance reads, evenly spread over a series
SEARCH_TIMES = 9


def search_times(axes: str, shape) -> list[int]:
    """The time indices ``search_volume`` compares (``[0]`` without a T axis)."""
    if "T" not in axes:
        return [0]
    n = int(shape[axes.index("T")])
    return [int(t) for t in np.unique(np.linspace(0, n - 1, min(n, SEARCH_TIMES)).round())]


def nothing_to_search(image, axes: str, kernel: np.ndarray, setting: str) -> str | None:
    """Why a search took the fixed value where every crop of ``image`` holds one value
    (``search_volume``): None where every plane does (the run passes the image through and
    says so alone), else the line for ``setting`` ("wiener: balance 0.01 (balance 'auto'")."""
    from .flat_planes import every_plane_flat

    if every_plane_flat(image, axes, "ZYX" if is_3d_kernel(kernel) else "YX"):
        return None
    return (f"{setting}: the fixed value; the centre of the image, which the search reads, holds "
            f"one value: give a number to set it)")
