"""The bundled weights: one table of ``arch.tag`` names, each with its file, sha256 and licence.

A name resolves to its architecture by the part before the dot (``gran.em_v1`` is a ``gran``),
and the file is checked against its sha256 on every load::

    model, card = load_bundled("gran.em_v1")
    arch, tag = split_name("gran.em_v1")   # ("gran", "em_v1")

The table itself is ``core.bundled_table`` (no torch), named here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .bundled_table import (  # noqa: F401 - moved there (no torch: info, deblur's checks);
    BROAD_TRAINING_SETS,  # named here as before (__all__, core.weights, tests patch them here)
    BUNDLED_WEIGHTS,
    TRAINING_SET_LICENCES,
    WEIGHTS_DIR,
    BundledWeights,
    training_data_licence,
)
from .checkpoint import ModelCard, load_safetensors, read_card

__all__ = [
    "BROAD_TRAINING_SETS",
    "BUNDLED_WEIGHTS",
    "TRAINING_SET_LICENCES",
    "WEIGHTS_DIR",
    "DEFAULTS_BY_MODALITY",
    "ESTIMATED_PSF_MODALITIES",
    "MOST_PLANES_FOR_ANY_3D",
    "SHORT_STACK_SHARE_FOR_3D",
    "IN_FOCUS_SHARE_FOR_3D",
    "BundledWeights",
    "auto_label",
    "auto_method_name",
    "auto_psf",
    "auto_3d_kernel",
    "auto_3d_psf",
    "auto_runs_in_3d",
    "bundled_path",
    "auto_blind_fallback",
    "default_for_modality",
    "default_weights_name",
    "image_type",
    "in_focus_share_for_3d",
    "is_installed",
    "list_bundled_weights",
    "load_bundled",
    "split_name",
    "training_data_licence",
]


#: The blind default network of each image type, best first: the first *installed* name that
#: takes the image wins (``default_for_modality``). Registering a name in BUNDLED_WEIGHTS is
#: all it takes for it to become the default; the v1 names stay as the fallback.
DEFAULTS_BY_MODALITY: dict[str, tuple[str, ...]] = {
    "em": ("c2f_unet.em_v2", "gran.em_v1"),
    "fluorescence": ("c2f_unet.fluorescence_v2", "gran.fluo_v1"),
    "brightfield": ("c2f_unet.brightfield_v2", "gran.hist_v1"),
}


#: Image types whose default without a PSF (method 'auto') is not the blind network above but
#: the PSF-aware network given a PSF estimated from the image (``core.psf_estimate``). On the
#: validation planes of benchmarks/psf_estimate_select.py --optics (training splits, never
#: trained on; protocols A-C and training-range optics PSFs) that route was never below the
#: input on EM and brightfield planes and beat the blind network on average for every image
#: type (with psf_v4: EM +0.18 dB, brightfield +0.53, fluorescence +0.31; psf_v3: +0.17, +0.48,
#: +0.27). Fluorescence keeps its blind network: on real defocus (the light-sheet and NEUBIAS
#: focus stacks) a Gaussian estimated from the image put 2-3 of 11 images below the input
#: (psf_v2 to psf_v4), the blind network none.
ESTIMATED_PSF_MODALITIES: tuple[str, ...] = ("em", "brightfield")


def image_type(modality: str, rgb: bool) -> str:
    """The image type ``modality`` stands for: 'auto' is 'brightfield' for an RGB image and
    'fluorescence' for a grayscale one; others are returned as they are."""
    if modality == "auto":
        return "brightfield" if rgb else "fluorescence"
    return modality


def split_name(name: str) -> tuple[str, str]:
    """``"arch.tag"`` -> ``(arch, tag)``; ``ValueError`` for a name of another form."""
    arch, dot, tag = str(name).partition(".")
    if not (arch and dot and tag):
        raise ValueError(f"weights name {name!r}; accepted: 'arch.tag', e.g. 'gran.em_v1'")
    return arch, tag


def bundled_path(name: str) -> Path:
    """The file of the bundled weights ``name`` (``ValueError`` if unknown or missing)."""
    entry = BUNDLED_WEIGHTS.get(name)
    if entry is None:
        raise ValueError(f"no bundled weights {name!r}; bundled: {sorted(BUNDLED_WEIGHTS)}")
    path = WEIGHTS_DIR / entry.file
    if not path.is_file():
        raise ValueError(
            f"bundled weights {name!r}: file {path} is missing (reinstall napari-microdeblur)"
        )
    return path


def load_bundled(name: str, *, map_location: Any = "cpu") -> tuple[torch.nn.Module, ModelCard]:
    """Load the bundled weights ``name`` after checking the file's sha256."""
    path = bundled_path(name)
    arch, _ = split_name(name)
    return load_safetensors(
        path,
        arch=arch,
        config=None,
        map_location=map_location,
        expected_sha256=BUNDLED_WEIGHTS[name].sha256,
        source=name,
    )


def list_bundled_weights() -> dict[str, BundledWeights]:
    """The bundled weights table (``arch.tag`` -> entry)."""
    return dict(BUNDLED_WEIGHTS)


def is_installed(name: str) -> bool:
    """Whether ``name`` is in the bundled table and its file is present."""
    entry = BUNDLED_WEIGHTS.get(name)
    return entry is not None and (WEIGHTS_DIR / entry.file).is_file()


def default_for_modality(modality: str, rgb: bool) -> str:
    """The bundled blind network for an image type: the first installed name of
    DEFAULTS_BY_MODALITY[modality] that takes the image; modality 'auto' is 'brightfield' for
    an RGB image and 'fluorescence' for a grayscale one. A grayscale network takes any image
    (colour runs channel by channel); an RGB one only RGB images. ValueError saying what to
    choose instead when none fits."""
    modality = image_type(modality, rgb)
    if modality not in DEFAULTS_BY_MODALITY:
        raise ValueError(
            f"modality={modality!r} is not one of {('auto', *DEFAULTS_BY_MODALITY)}"
        )
    candidates = DEFAULTS_BY_MODALITY[modality]
    installed = [name for name in candidates if is_installed(name)]
    for name in installed:
        channels = read_card(WEIGHTS_DIR / BUNDLED_WEIGHTS[name].file).in_channels
        if channels == 1 or (rgb and channels == 3):
            return name
    if not installed:
        raise ValueError(
            f"modality={modality!r}: none of its bundled weights ({', '.join(candidates)}) is "
            "installed; choose another modality, or a method: richardson_lucy or wiener (with "
            "a PSF), or a network with weights"
        )
    raise ValueError(
        f"modality={modality!r} on a grayscale image: the installed weights "
        f"({', '.join(installed)}) take RGB images only; choose modality 'fluorescence' or "
        "'em' for a grayscale image, or give an RGB image"
    )


def default_weights_name(rgb: bool) -> str | None:
    """The blind network of the image type an image without a stated type has (RGB:
    brightfield, grayscale: fluorescence); `microdeblur demo` runs it on its grayscale sample.
    What ``method='auto'`` runs is ``auto_method_name`` (for brightfield, the PSF-aware network
    with an estimated PSF). None when no such weights are installed."""
    try:
        return default_for_modality("auto", rgb)
    except ValueError:
        return None


# ----------------------------------------------------------------------------- what auto runs


def auto_psf(spec, rgb: bool) -> str | None:
    """The PSF source 'auto' (a ``MethodSpec``) uses on an image when given none: ``'estimate'``
    for the image types of ``ESTIMATED_PSF_MODALITIES`` when the PSF-aware network is bundled (the
    blind route that measured better there), else None (the image type's blind network)."""
    if spec.name != "auto" or spec.weights is not None or spec.psf is not None:
        return None
    from .psf_aware import DEFAULT_PSF_AWARE
    from .psf_estimate import ESTIMATE

    if image_type(spec.modality, rgb) in ESTIMATED_PSF_MODALITIES and (
            DEFAULT_PSF_AWARE in BUNDLED_WEIGHTS):
        return ESTIMATE
    return None


def auto_blind_fallback(spec, rgb: bool) -> str | None:
    """The blind network 'auto' runs instead where it estimates the PSF (``auto_psf``) and the
    image gives none (``image_settings.spec_for_image``); None where 'auto' estimates no PSF, or no
    blind network takes the image (a failed estimate then ends the run, saying why)."""
    if auto_psf(spec, rgb) is None:
        return None
    try:
        return default_for_modality(spec.modality, rgb)
    except ValueError:
        return None


#: 'auto' runs Richardson-Lucy in 3D for a 3D PSF whose in-focus plane (the one holding its
#: brightest pixel) holds less than this share of its light (``psf.in_focus_share``):
#: widefield-like PSFs (6-9 % for the optics PSFs of benchmarks/psf3d_auto.py, where 3D
#: Richardson-Lucy won every case on the two fluorescence volumes), not confocal ones (37 %:
#: it won 3 of 12 cases and lost up to 13 dB on the others). Stacks of up to
#: ``MOST_PLANES_FOR_ANY_3D`` planes go 3D for more (``in_focus_share_for_3d``).
IN_FOCUS_SHARE_FOR_3D = 0.2

#: On a stack of at most this many planes 'auto' runs 3D Richardson-Lucy for confocal-like PSFs
#: too (``in_focus_share_for_3d``): over stacks of 4-16 planes cut from the two fluorescence
#: volumes (benchmarks/results/psf3d_auto_short.json, psf3d_auto_mid.json) it beat the network
#: plane by plane in all 132 confocal cases (cut shares 0.37-0.49) and 311 of 396 widefield ones;
#: on the full 32-plane nucleus the confocal PSF lost all 4 (2.3-4.9 dB). Between 17 and 31 planes
#: nothing was measured: the deep rule (``IN_FOCUS_SHARE_FOR_3D``) holds there.
MOST_PLANES_FOR_ANY_3D = 16

#: ... a PSF whose in-focus plane holds at least this share stays with the network even there:
#: nearly 2D (the confocal PSFs measured, cut to 3-15 planes, held 0.37-0.49).
SHORT_STACK_SHARE_FOR_3D = 0.5


def in_focus_share_for_3d(planes: int) -> float:
    """The in-focus share of the PSF (as cut to the stack) under which 'auto' runs a z-stack of
    ``planes`` planes in 3D: ``SHORT_STACK_SHARE_FOR_3D`` for 3 to ``MOST_PLANES_FOR_ANY_3D``
    planes, ``IN_FOCUS_SHARE_FOR_3D`` for deeper stacks; 2 planes were not measured and keep
    the deep rule."""
    if 3 <= planes <= MOST_PLANES_FOR_ANY_3D:
        return SHORT_STACK_SHARE_FOR_3D
    return IN_FOCUS_SHARE_FOR_3D


def auto_runs_in_3d(spec, axes: str, shape) -> bool:
    """Whether 'auto' runs Richardson-Lucy in 3D on this image rather than a network: given a
    widefield-like 3D PSF (``in_focus_share_for_3d``) for a grayscale z-stack. The PSF is
    judged as the deblur will use it: one as deep as the stack or deeper is first cut to its
    central planes (``psf.fit_psf_to_image``, as for every method), and it must keep more than
    one. The PSF-aware network is 2D and would deconvolve each plane with the PSF's in-focus
    plane only, leaving the light other planes send into it (benchmarks/psf3d_auto.py)."""
    return auto_3d_kernel(spec, axes, shape) is not None


def auto_3d_kernel(spec, axes: str, shape):
    """The 3D PSF as 'auto' deconvolves this image with in 3D (cut to the stack; a model deeper
    than the stack computed at its depth, ``auto_3d_psf``), or None where it does not
    (``auto_runs_in_3d``)."""
    from .axes import is_rgb
    from .psf import in_focus_share, is_psf_model, parse_psf

    if (spec.name != "auto" or spec.weights is not None or spec.psf is None
            or "Z" not in axes or is_rgb(axes, shape)):
        return None
    planes = shape[axes.index("Z")]
    fitted = spec.psf_for_image(axes, shape)
    if fitted is None or fitted.ndim != 3 or fitted.shape[0] < 2:
        return None
    if isinstance(spec.psf, str) and is_psf_model(spec.psf):
        # a model runs as it is (never cut); one deeper than the stack as computed at its depth
        # (none under 3 planes: then plane by plane)
        psf = auto_3d_psf(spec, axes, shape)
        if psf == spec.psf and spec.psf_kernel().shape[0] > planes:
            return None
        fitted = parse_psf(psf)
    return fitted if in_focus_share(fitted) < in_focus_share_for_3d(planes) else None


def auto_3d_psf(spec, axes: str, shape):
    """The PSF 'auto' gives Richardson-Lucy where it runs in 3D: ``spec.psf``, or a PSF model
    deeper than the stack computed at the stack's depth (``psf_fit.model_at_stack_depth``)."""
    from .psf_fit import model_at_stack_depth

    return model_at_stack_depth(spec, axes, shape) or spec.psf


def auto_label(spec, rgb: bool) -> str:
    """What 'auto' runs on an image, in words: the network's name, followed by '+ PSF
    estimated from the image' where ``auto_psf`` estimates one."""
    name = auto_method_name(spec, rgb)
    return f"{name} + PSF estimated from the image" if auto_psf(spec, rgb) else name


def auto_method_name(spec, rgb: bool) -> str:
    """What name 'auto' stands for; other names are returned as they are.

    With a weights file, 'auto' stays 'auto' (the file's card names the architecture). With a
    PSF, or without one for an image type that estimates it (``auto_psf``), the bundled
    PSF-aware network (``psf_aware.DEFAULT_PSF_AWARE``) when installed. Else the blind default
    of the image type ``spec.modality`` ('auto': brightfield for RGB, fluorescence for
    grayscale): the first installed name of ``DEFAULTS_BY_MODALITY[modality]`` that takes
    the image (``default_for_modality``).
    """
    if spec.name != "auto" or spec.weights is not None:
        return spec.name
    from .method import CLASSICAL_METHODS
    from .psf_aware import DEFAULT_PSF_AWARE

    if (spec.psf is not None or auto_psf(spec, rgb)) and DEFAULT_PSF_AWARE in BUNDLED_WEIGHTS:
        return DEFAULT_PSF_AWARE  # the PSF the user has (or the image gives) beats a blind guess
    if not BUNDLED_WEIGHTS:
        raise ValueError(
            "method='auto' needs bundled weights and none are installed; choose a method: "
            f"{', '.join(CLASSICAL_METHODS)} (with psf=...) or a network with weights"
        )
    return default_for_modality(spec.modality, rgb)
