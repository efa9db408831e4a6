"""The bundled weights table, torch-free: ``arch.tag`` names, each with its file, sha256 and
licence (``BUNDLED_WEIGHTS``), and the hint for a name that nearly is one (``bundled_name_hint``).

``core.bundled`` names all of it too and loads the files (torch); `microdeblur info` reads the
table here, so a name or a missing file is said without torch's 2-3 s import.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

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


def live_table() -> dict[str, BundledWeights]:
    """``BUNDLED_WEIGHTS`` as ``core.bundled`` holds it once imported (tests replace it there,
    and ``core.weights`` forwards it from there), else this module's: read without torch."""
    # __spec__.parent: CPython stops setting __package__ (deprecated, 3.15)
    bundled = sys.modules.get(f"{__spec__.parent}.bundled")
    return getattr(bundled, "BUNDLED_WEIGHTS", BUNDLED_WEIGHTS)


def bundled_names() -> tuple[str, ...]:
    """The bundled ``arch.tag`` names (``live_table``)."""
    return tuple(live_table())


def bundled_name_hint(path: str, *, as_method: bool = True) -> str:
    """' (... bundled ...)' where a path that is no file is, or nearly is, a bundled weights
    name (``--weights c2f_unet.em`` said only 'no such file'); else ''. ``as_method``: say
    that a bundled name is given as the method (weights=), not for ``info``, which takes it."""
    import difflib

    if any(sep in path for sep in "/\\"):
        return ""
    names = bundled_names()
    if path in names and as_method:
        return (f" ({path!r} is a bundled network: give it as the method, "
                f"method={path!r}; `microdeblur methods` lists them)")
    close = difflib.get_close_matches(path, names, n=1, cutoff=0.75)
    how = "give it as the method; " if as_method else ""
    return (f" (did you mean the bundled {close[0]!r}? {how}`microdeblur methods` lists them)"
            if close else "")
