"""The bundled weights: one table of ``arch.tag`` names, each with its file, sha256 and licence.

A name resolves to its architecture by the part before the dot (``gran.em_v1`` is a ``gran``),
and the file is checked against its sha256 on every load::

    model, card = load_bundled("gran.em_v1")
    arch, tag = split_name("gran.em_v1")   # ("gran", "em_v1")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

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

#: folder of the bundled ``*.safetensors`` files.
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


#: The SPDX licence of the training split of each shared/data set a bundled file was trained on,
#: as its PROVENANCE.md states it; NOASSERTION where the dataset states none.
TRAINING_SET_LICENCES: dict[str, str] = {
    # only the CellProfiler ExampleFly and ExampleSpeckles images are in the training split
    "fluorescence_2d": "BSD-3-Clause",
    "fluorescence_neubias_training_resources": "CC-BY-4.0",
    # the Kather 2016 tiles (Zenodo 53169); the OpenSlide crops are test-only
    "histology_brightfield_rgb": "CC-BY-4.0",
    "brightfield_cellprofiler_worms_phase": "BSD-3-Clause",
    "em_epfl_hippocampus_fibsem": "NOASSERTION",
    # the repository's licence (the C. elegans slices are also EMPIAR CC0)
    "em_neubias_tem_sem_volume": "CC-BY-4.0",
}

#: The six sets the PSF-aware and v2 blind networks were trained on
#: (scripts/psf_aware_data.training_files).
BROAD_TRAINING_SETS: tuple[str, ...] = tuple(TRAINING_SET_LICENCES)


def training_data_licence(sets) -> str:
    """The SPDX licence of weights trained on ``sets`` (names of TRAINING_SET_LICENCES):
    NOASSERTION where one set states none, else each distinct licence joined by AND."""
    licences = sorted({TRAINING_SET_LICENCES[name] for name in sets})
    if not licences or "NOASSERTION" in licences:
        return "NOASSERTION"
    return " AND ".join(licences)


class BundledWeights(BaseModel):
    """One entry of :data:`BUNDLED_WEIGHTS`."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="File name inside the package's weights/ folder.")
    sha256: str = Field(description="Expected sha256 of the file (checked on every load).")
    license: str = Field(description="SPDX licence expression: training_data_licence of "
                         "training_sets (e.g. 'BSD-3-Clause AND CC-BY-4.0').")
    description: str = Field(description="What the weights are for.")
    training_sets: tuple[str, ...] = Field((), description="The shared/data sets whose training "
                                           "splits they learned (TRAINING_SET_LICENCES).")
    modality: str = Field("any", description="Image type the weights were trained for, when "
                          "they are not in DEFAULTS_BY_MODALITY (which names the defaults').")


#: Bundled weights, named ``arch.tag``, trained on this project's 2-core CPU by
#: ``scripts/train_default.py`` (each file's model card holds data, degradation, steps, metrics).
BUNDLED_WEIGHTS: dict[str, BundledWeights] = {
    "gran.em_v1": BundledWeights(
        file="gran.em_v1.safetensors",
        sha256="707d276602eb5e641ed99c66b30f8f53104140d4dd5ccf87134ecf1691003d38",
        license="NOASSERTION",
        description="GRAN for grayscale electron micrographs (EPFL FIB-SEM training split; "
        "the dataset states no licence)",
        training_sets=("em_epfl_hippocampus_fibsem",),
    ),
    "gran.fluo_v1": BundledWeights(
        file="gran.fluo_v1.safetensors",
        sha256="a0b8208417717122b8a756d936ae436c0c41ef71e90c0bd2af40f40b72a89939",
        license="BSD-3-Clause",
        description="GRAN for grayscale widefield fluorescence (CellProfiler examples)",
        training_sets=("fluorescence_2d",),
    ),
    "gran.hist_v1": BundledWeights(
        file="gran.hist_v1.safetensors",
        sha256="99796dba366833afbd92c76aacf7e3ddf3a2d1616ba95d3e9c8268a727cb8330",
        license="CC-BY-4.0",
        description="GRAN for RGB brightfield histology, H&E (Kather 2016 tiles)",
        training_sets=("histology_brightfield_rgb",),
    ),
    # trained by scripts/train_psf_aware.py (70 min of this CPU); runs only with a PSF
    "wiener_unet.psf_v1": BundledWeights(
        file="wiener_unet.psf_v1.safetensors",
        sha256="dee18b490077447cd4e698abe7df8dde8c385f6392717d8bbd3b254a58389d9f",
        license="NOASSERTION",
        description="PSF-aware deep Wiener U-Net, grayscale, any modality: give it the PSF "
        "(six sets' training splits; the EPFL FIB-SEM set among them states no licence)",
        training_sets=BROAD_TRAINING_SETS,
    ),
    # psf_v1 continued 75 min (scripts/train_psf_aware.py --init ... --config data_step) with
    # the data-consistency step, aberrated optics PSFs and halos; chosen over psf_v1 on
    # validation planes only (benchmarks/psf_aware_select.py)
    "wiener_unet.psf_v2": BundledWeights(
        file="wiener_unet.psf_v2.safetensors",
        sha256="90a85877db1809d837960d325ecdd96b0eea32e98c06d6d4c842e21ff322b2a1",
        license="NOASSERTION",
        description="PSF-aware deep Wiener U-Net v2: psf_v1 with a learned data-consistency "
        "step, trained further on aberrated optics PSFs and halos (six sets' training splits; "
        "the EPFL FIB-SEM set among them states no licence)",
        training_sets=BROAD_TRAINING_SETS,
    ),
    # psf_v2 continued 60 min with a learned flat term in its Wiener estimates' regulariser
    # (config wiener_flat) and more aberrated optics PSFs; chosen over psf_v2 on validation
    # planes only (benchmarks/psf_aware_select.py, results/psf_aware_select_v8.json)
    "wiener_unet.psf_v3": BundledWeights(
        file="wiener_unet.psf_v3.safetensors",
        sha256="834d23950ef2378ba0488198ee3415621d306d187b5287b03f20a89c0826b98d",
        license="NOASSERTION",
        description="PSF-aware deep Wiener U-Net v3 (the default before psf_v4): psf_v2 with a "
        "learned flat term in its Wiener estimates' regulariser, trained further on aberrated "
        "optics PSFs (six sets' training splits; the EPFL FIB-SEM set among them states no "
        "licence)",
        training_sets=BROAD_TRAINING_SETS,
    ),
    # the weight average (model soup) of two runs from psf_v3 without the blurred input
    # (config blurred_input false: the U-Net sees the Wiener estimates and the noise map), one
    # with 33 px PSFs, one continued with 49 px PSFs and wider halos (scripts/soup_psf_aware.py);
    # chosen over psf_v3 on validation planes only (results/psf_aware_select_soup.json)
    "wiener_unet.psf_v4": BundledWeights(
        file="wiener_unet.psf_v4.safetensors",
        sha256="ce3c3ca0ec31fb45e00ccc26a59c1a376bf1470a9f32b110bdcc781b5900b53d",
        license="NOASSERTION",
        description="PSF-aware deep Wiener U-Net v4 (the default with a PSF, and for EM and "
        "brightfield without one, given the PSF estimated from the image): the weight average "
        "of two runs from psf_v3 whose U-Net sees only the Wiener estimates, trained on wider "
        "and aberrated PSFs (six sets' training splits; the EPFL FIB-SEM set among them states "
        "no licence)",
        training_sets=BROAD_TRAINING_SETS,
    ),
    "c2f_unet.em_v2": BundledWeights(
        file="c2f_unet.em_v2.safetensors",
        sha256="cf61e1e18216d853a67c1789a1cdd47fb34bf54d50fd5fa83818e7ac5d180cbb",
        license="NOASSERTION",
        description="Blind network v2 for grayscale EM: small C2F U-Net trained on six "
        "microscopy sets (half EM) and many PSFs incl. optics (EPFL FIB-SEM states no licence)",
        training_sets=BROAD_TRAINING_SETS,
    ),
    "c2f_unet.fluorescence_v2": BundledWeights(
        file="c2f_unet.fluorescence_v2.safetensors",
        sha256="b795e852c19bff94cb76fbeee3c4c29fa6a317abd802cab9ad9e70fdb653df3f",
        license="NOASSERTION",
        description="Blind default v2 for grayscale fluorescence: small C2F U-Net trained on "
        "six microscopy sets (half fluorescence) and many PSFs incl. optics (EPFL FIB-SEM "
        "states no licence)",
        training_sets=BROAD_TRAINING_SETS,
    ),
    "c2f_unet.brightfield_v2": BundledWeights(
        file="c2f_unet.brightfield_v2.safetensors",
        sha256="cb7b2b07caf4926a7f7d54159a681571dd9ccde562f9ad5b016425e825c088b9",
        license="NOASSERTION",
        description="Blind network v2 for brightfield and histology (RGB channel by channel): "
        "small C2F U-Net trained on six microscopy sets (half brightfield) and many PSFs "
        "(EPFL FIB-SEM states no licence)",
        training_sets=BROAD_TRAINING_SETS,
    ),
    # the papers' regimes, trained by scripts/train_papers.py (one CPU thread; the cards say
    # the rounds, minutes and the kept checkpoint: the last, as for every adversarial regime)
    # named arch.tag like every entry: the architecture is gran, the regime is in the tag
    "gran.gan_em_v1": BundledWeights(
        file="gran.gan_em_v1.safetensors",
        sha256="baef18337f38d6fa5560d5a88c9258584320e1ed256c2cf63a662d8dd127194f",
        license="NOASSERTION",
        description="GRAN_GAN for grayscale EM: gran.em_v1 continued 16 min in the adversarial "
        "regime on its EPFL FIB-SEM training split (the dataset states no licence)",
        modality="em",
        training_sets=("em_epfl_hippocampus_fibsem",),
    ),
    "sgpn.em_supervised_v1": BundledWeights(
        file="sgpn.em_supervised_v1.safetensors",
        sha256="d27c324aa21eb86711b8c00750244bad4ddfb5d418ec328bd1ebd48460876da6",
        license="NOASSERTION",
        description="SGPN's network for grayscale EM, trained supervised for 17 min on the "
        "EPFL FIB-SEM training split (its semi-supervised regime ended below the input here; "
        "the dataset states no licence)",
        modality="em",
        training_sets=("em_epfl_hippocampus_fibsem",),
    ),
    # trained by scripts/train_psf_cyclegan.py (40 min, 2 threads); its card holds the learned
    # PSF's figures against the true one
    "psf_cyclegan.fluo_v1": BundledWeights(
        file="psf_cyclegan.fluo_v1.safetensors",
        sha256="d6546da81a26442d5a6dc764aa46446de2ef165905dbccc5b77b717206a96b45",
        license="BSD-3-Clause AND CC-BY-4.0",  # both sets' terms apply to what it learned
        description="PSF-CycleGAN for grayscale fluorescence, trained unpaired (BSD-3 and CC BY "
        "4.0 sets) on one blur, a Gaussian of sigma 1.6 px without added noise",
        modality="fluorescence",
        training_sets=("fluorescence_2d", "fluorescence_neubias_training_resources"),
    ),
}


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
