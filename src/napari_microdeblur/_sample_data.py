"""File > Open Sample: blurred / sharp pairs of real microscopy images (numpy + tifffile only).

Each pair opens with its blurred layer on top and active (what Layers > Filter deblurs), the
sharp reference under it; ``metadata["sample_role"]`` says which is which.

Every layer names its axes (the viewer's sliders read "z", not "-3") and carries its licence
and source in ``metadata`` (samples/README.md has the full attribution and licence texts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).parent / "samples"
#: pixel size of the Kather et al. 2016 H&E tiles (um per pixel, both axes): stated by the
#: data set (Zenodo record 53169: 150 px = 74 um), samples/README.md and shared/data's
#: histology_brightfield_rgb/PROVENANCE.md. The only sample whose source states one: the
#: HT29 nuclei's files record none (fluorescence_2d/PROVENANCE.md), the EM slices' calibration
#: is wrong (1 px = 1 unit; em_neubias_tem_sem_volume/PROVENANCE.md), and the DFNN stack's
#: files state none (its ~0.105 um is inferred from other files' bounding box, unit unstated:
#: focus_stack_lightsheet_dfnn/PROVENANCE.md), so those open at scale 1
HE_UM_PER_PX = 0.495
#: DFNN frame numbers (Abs00NN) of the focus stack's planes; frame 51 is in focus and frames
#: are 0.05 um apart (DFNN data/test/mitochondria/stack/ReadMe.txt)
MITO_FRAMES = (33, 36, 39, 42, 45, 48, 50, 51, 52, 54, 57, 60, 63, 65)
MITO_UM_PER_FRAME = 0.05
YX = ("y", "x")
ZYX = ("z", "y", "x")
ATTRIBUTION = "full attribution and licence texts: napari_microdeblur/samples/README.md"
CREDITS = {
    "nuclei": {"licence": "CC0 1.0",
               "source": "CellProfiler/examples ExampleHuman (HT29, Hoechst); Moffat et al., "
                         "Cell 124:1283, 2006"},
    "em": {"licence": "CC BY 4.0 (NEUBIAS training resources); EMPIAR-10982 data CC0",
           "source": "Tischer et al., doi:10.5281/zenodo.14264885; EMPIAR-10982"},
    "mito": {"licence": "MIT, Copyright (c) 2023 ZJUOPTKuangLab",
             "source": "ZJUOPTKuangLab/DFNN data/test/mitochondria/stack (commit 459cfa4)"},
    "he": {"licence": "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)",
           "source": "Kather et al., Sci. Rep. 6:27988, 2016; Zenodo record 53169 "
                     "(cropped and blurred here)"},
}


def _read(name: str) -> np.ndarray:
    import tifffile

    return tifffile.imread(SAMPLES / name)


#: Each pair's image type, in its layers' metadata: the docks choose the matching default
#: network from it (``_widgets._layers.layer_modality``); a grayscale EM image would otherwise
#: be taken for fluorescence
MODALITY = {"nuclei": "fluorescence", "em": "em", "mito": "fluorescence", "he": "brightfield"}


def _credit(key: str, **extra) -> dict:
    # a fresh dict per layer, so editing one layer's metadata leaves its pair's alone
    return {**CREDITS[key], "attribution": ATTRIBUTION, "modality": MODALITY[key], **extra}


#: Each pair's synthetic blur (docs/evaluation.md) and its true PSF as a PSF spec, in the
#: blurred layer's metadata: deblurring with this PSF is the oracle the README's tables compare
BLUR = {"nuclei": ("A", "gaussian:1.6"), "em": ("C", "astig:2.5,0.8,30"),
        "mito": ("B", "disk:3"), "he": ("A", "gaussian:1.6")}


def _pair(key: str, sample: str, blurred, sharp, names: tuple[str, str], common: dict,
          **extra) -> list:
    """The layer data tuples of a pair, sharp reference first and blurred input last: napari
    adds them in this order and makes the last one added the active layer, which Layers >
    Filter and the docks act on. Both stay visible (the blurred one on top). ``sample_role``
    in the metadata tells the pair apart without trusting names a user may change."""
    blurred_name, sharp_name = names
    protocol, psf = BLUR[key]

    def meta(role: str, **more) -> dict:
        # lists copied so that the two layers share no mutable value
        copied = {k: list(v) if isinstance(v, list) else v for k, v in extra.items()}
        return _credit(key, sample=sample, sample_role=role,
                       sample_layers={"blurred": blurred_name, "ground truth": sharp_name},
                       **copied, **more)

    return [
        (sharp, {"name": sharp_name, "metadata": meta("ground truth"), **common}, "image"),
        (blurred, {"name": blurred_name,
                   "metadata": meta("blurred", protocol=protocol, true_psf=psf), **common},
         "image"),
    ]


def make_nuclei_pair():
    """HT29 nuclei (Hoechst, CC-0): protocol-A blurred input and its sharp reference."""
    sharp = _read("ht29_nuclei_hoechst.tif")
    blurred = _read("ht29_nuclei_hoechst_protocolA.tif")
    contrast = (0.0, 255.0)  # both on the sharp image's 8-bit scale
    common = {"contrast_limits": contrast, "axis_labels": YX}
    return _pair("nuclei", "nuclei_pair", blurred, sharp,
                 ("nuclei blurred (protocol A)", "nuclei sharp (ground truth)"), common)


def make_em_pair():
    """Volume EM of C. elegans (EMPIAR-10982 via NEUBIAS training resources; CC0 / CC BY 4.0),
    slice 17: protocol-C (astigmatic) blurred input and its sharp reference."""
    sharp = _read("em_celegans_empiar10982_z0017.tif")
    blurred = _read("em_celegans_empiar10982_z0017_protocolC.tif")
    common = {"contrast_limits": (0.0, 255.0), "axis_labels": YX}
    return _pair("em", "em_pair", blurred, sharp,
                 ("EM blurred (protocol C)", "EM sharp (ground truth)"), common)


#: the focus series' in-focus plane (frame 51), as napari's z slider counts
MITO_IN_FOCUS = MITO_FRAMES.index(51)


def make_fluo_stack_pair():
    """Light-sheet focus series of mitochondria (DFNN, MIT), 14 planes, in focus at plane 7
    only: the planes as recorded (the reference of the synthetic blur, sharp at plane 7 alone)
    and every plane degraded with protocol B (defocus disk, Poisson noise)."""
    sharp = _read("mito_focus_stack.tif")
    blurred = _read("mito_focus_stack_protocolB.tif")
    # the planes are unevenly spaced (0.05-0.15 um), so z stays in plane units; each plane's
    # distance from focus is in the metadata
    defocus = [round((f - 51) * MITO_UM_PER_FRAME, 3) for f in MITO_FRAMES]
    common = {"contrast_limits": (float(sharp.min()), float(sharp.max())), "axis_labels": ZYX}
    # napari opens a stack at its middle plane (6 of 14) and a sample function has no viewer
    # to move the slider: the in-focus plane is in the names and in metadata["in_focus_plane"]
    names = ("mitochondria focus series blurred (protocol B)",
             f"mitochondria focus series, in focus at z={MITO_IN_FOCUS} only (ground truth)")
    return _pair("mito", "fluo_stack_pair", blurred, sharp, names, common,
                 plane_defocus_um=defocus, in_focus_plane=MITO_IN_FOCUS, focus_series=True)


def make_histology_pair():
    """H&E colorectal mucosa tile (Kather et al. 2016, CC BY 4.0): protocol-A blurred RGB input
    and its sharp reference."""
    sharp = _read("he_kather_mucosa_rgb.tif")
    blurred = _read("he_kather_mucosa_rgb_protocolA.tif")
    contrast = (0.0, 255.0)
    # the tile set's stated pixel size (HE_UM_PER_PX), under napari's default unit as every
    # other sample's: 'um' here beside the others' 'pixel' made napari warn "Inconsistent units
    # across layers" on every layer added. The docks and the writer read a unitless scale of a
    # light microscope's size as um, so an optics PSF still takes pixel=0.495
    common = {"rgb": True, "contrast_limits": contrast, "axis_labels": YX,
              "scale": (HE_UM_PER_PX, HE_UM_PER_PX)}
    return _pair("he", "histology_pair", blurred, sharp,
                 ("H&E blurred (protocol A)", "H&E sharp (ground truth)"), common)
