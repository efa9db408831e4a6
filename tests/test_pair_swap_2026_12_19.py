"""From a walkthrough of Fine-tune's pairs (2026-12-19):

1. a pair given swapped (the sharp image as blurry) trained without a word, in the dock, on the
   command line and in Python: its weights learned to blur; now refused before training in a
   line that says 'swap Blurry and Sharp' (``pair_checks.check_not_swapped``), matched or not,
   while denoising pairs (a noisy input, no blur) still train;
2. two layers whose names say neither blurry nor sharp ('wf stack', 'confocal stack'): the
   last added became Blurry (the confocal stack); the measurably sharper is now Sharp;
3. the dock trained on layers placed apart in Y-X (scale, translate), pixel for pixel.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from test_widgets import _clean_session, dock, write_tiny_gran  # noqa: F401 - autouse fixture

from napari_microdeblur.cli import main
from napari_microdeblur.core.pairs import pairs_from_arrays

SWAP = "swap Blurry and Sharp"


def blurred(image: np.ndarray, sigma: float = 2.0, seed: int = 0) -> np.ndarray:
    """``image`` blurred by a Gaussian of ``sigma`` px, with a little camera noise, as uint8."""
    out = ndimage.gaussian_filter(image.astype(np.float64), sigma)
    out += np.random.default_rng(seed).normal(0, 1.0, out.shape)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- 1. swapped pairs


@pytest.mark.parametrize("match", [True, False])
def test_a_swapped_pair_is_refused_the_right_way_trains(fluo_u8, match):
    soft = blurred(fluo_u8)
    with pytest.raises(ValueError, match=SWAP) as caught:
        pairs_from_arrays(fluo_u8, soft, match_intensity=match, name="nuclei")
    assert "\n" not in str(caught.value) and "'nuclei'" in str(caught.value)
    (pair,) = pairs_from_arrays(soft, fluo_u8, match_intensity=match)
    assert pair.info["blur_sigma"] > 1.0  # the no-match path measures the blur too


def test_a_stack_paired_swapped_with_its_in_focus_plane_is_refused(focus_stack):
    focus = np.repeat(focus_stack[7:8], len(focus_stack), axis=0)
    with pytest.raises(ValueError, match=f"planes: no blur fits .*{SWAP}"):
        pairs_from_arrays(focus, focus_stack, axes="ZYX")
    assert len(pairs_from_arrays(focus_stack, focus, axes="ZYX")) == len(focus_stack)


@pytest.mark.parametrize("noise", ["gaussian", "clipped", "poisson"])
def test_denoising_pairs_are_not_taken_for_swapped(fluo_u8, focus_stack, noise):
    """A noisy input and its clean target fit no blur, and noise reads as fine detail: the
    noise is left out of the detail (1.3-2.9x without it), and a noisy blurry plane is not
    judged."""
    rng = np.random.default_rng(1)
    for clean in (fluo_u8, focus_stack[7]):
        x = clean.astype(np.float64)
        if noise == "poisson":
            noisy = rng.poisson(x * 3 / x.mean())
        else:
            noisy = x + rng.normal(0, 1.5 * x.std(), x.shape)
            noisy = np.clip(noisy, 0, None) if noise == "clipped" else noisy
        for match in (True, False):
            if match or noise != "poisson":  # Poisson counts are other units than the clean
                pairs = pairs_from_arrays(noisy.astype(np.float32), clean,
                                          match_intensity=match)  # raised when refused
                assert len(pairs) == 1 and pairs[0].info["blur_sigma"] <= 1.0


def test_the_command_line_refuses_a_swapped_pair_before_training(tmp_path, fluo_u8, capsys):
    tifffile.imwrite(tmp_path / "on.tif", fluo_u8)
    tifffile.imwrite(tmp_path / "off.tif", blurred(fluo_u8))
    out = tmp_path / "swapped.safetensors"
    code = main(["finetune", "--weights", str(write_tiny_gran(tmp_path)), "--blurry",
                 str(tmp_path / "on.tif"), "--sharp", str(tmp_path / "off.tif"), "--out",
                 str(out), "--steps", "1", "--patch", "32", "--batch", "2", "--device", "cpu",
                 "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists()
    assert len(err.splitlines()) == 1 and SWAP in err and "'on.tif' with 'off.tif'" in err, err


# ----------------------------------------------------------------------------- 2. proposals


@pytest.mark.parametrize("sharp_first", [False, True])
def test_names_that_tie_propose_the_sharper_layer_as_sharp(make_napari_viewer, focus_stack,
                                                            sharp_first):
    """'wf stack' and 'confocal stack': the last added was Blurry, whichever it was."""
    viewer = make_napari_viewer()
    sharp = np.array(focus_stack[4:11])
    soft = np.stack([ndimage.gaussian_filter(p.astype(np.float32), 2.5) for p in sharp])
    layers = [("wf stack", soft), ("confocal stack", sharp)]
    made = {name: viewer.add_image(data, name=name)
            for name, data in (layers[::-1] if sharp_first else layers)}
    w = dock(viewer, "Fine-tune")
    assert (w.blurry_combo.value, w.sharp_combo.value) == (made["wf stack"],
                                                           made["confocal stack"])


def test_names_that_tie_without_a_difference_keep_the_last_added_as_blurry(
        make_napari_viewer, fluo_u8):
    viewer = make_napari_viewer()
    first = viewer.add_image(fluo_u8, name="a")
    last = viewer.add_image(fluo_u8.copy(), name="b")
    w = dock(viewer, "Fine-tune")
    assert (w.blurry_combo.value, w.sharp_combo.value) == (last, first)


# ----------------------------------------------------------------------------- 3. placement


def test_layers_placed_apart_are_refused_naming_both_placements(make_napari_viewer, fluo_u8,
                                                                 focus_stack):
    from napari_microdeblur._widgets._finetune_pairs import pair_data

    viewer = make_napari_viewer()
    off = viewer.add_image(blurred(fluo_u8), name="mito off", scale=(0.105, 0.105))
    on = viewer.add_image(fluo_u8, name="mito on", scale=(0.21, 0.21), translate=(50, 20))
    w = dock(viewer, "Fine-tune")
    w.blurry_combo.set_value(off)
    w.sharp_combo.set_value(on)
    with pytest.raises(ValueError) as caught:
        w.build_request()
    said = str(caught.value)
    assert "\n" not in said and "pixel for pixel" in said
    assert "'mito off' is placed at Y-X scale (0.105, 0.105), translate (0, 0)" in said
    assert "'mito on' at Y-X scale (0.21, 0.21), translate (50, 20)" in said
    on.scale, on.translate = (0.105, 0.105), (0, 0)
    assert set(pair_data(off, on, "")) == {"blurry", "sharp"}
    # a stack and its in-focus image moved in Y-X: refused as well
    stack = viewer.add_image(focus_stack[4:11], name="stack")
    plane = viewer.add_image(np.array(focus_stack[7]), name="plane", translate=(3, 0))
    with pytest.raises(ValueError, match="translate \\(3, 0\\)"):
        pair_data(stack, plane, "ZYX")


def test_an_uncalibrated_layer_beside_a_calibrated_one_is_the_same_grid(fluo_u8):
    """An in-focus PNG (scale 1) beside the plugin's calibrated TIFF of the same pixels (0.1
    um): scale 1 is no calibration, not another place (the first placement check refused)."""
    from napari.layers import Image

    from napari_microdeblur._widgets._finetune_pairs import pair_data

    off = Image(blurred(fluo_u8), name="off", scale=(0.1, 0.1))
    on = Image(fluo_u8, name="on")
    assert set(pair_data(off, on, "")) == {"blurry", "sharp"}
    assert set(pair_data(on, off, "")) == {"blurry", "sharp"}
    on.translate = (5, 0)  # moved: not the same place whatever the grid
    with pytest.raises(ValueError, match="pixel for pixel"):
        pair_data(off, on, "")


def test_lazy_layers_are_ranked_by_name_without_reading_pixels(fluo_u8, monkeypatch):
    """Ranking the boxes ran on the GUI thread: a dask layer was read there (2 s reads held
    the dock's opening 6 s); only in-memory arrays are measured."""
    import dask.array as da
    from napari.layers import Image

    from napari_microdeblur._widgets import _finetune_pairs

    read = []
    lazy = da.from_array(fluo_u8, chunks=64).map_blocks(lambda b: read.append(1) or b,
                                                        dtype=fluo_u8.dtype)
    layer = Image(lazy, name="lazy", contrast_limits=(0, 255))
    read.clear()  # napari's own reads while making the layer
    assert _finetune_pairs._crop_detail(layer) is None and not read
    assert _finetune_pairs._crop_detail(Image(fluo_u8, name="in memory")) is not None


def test_planes_under_64_px_are_not_judged_for_a_swap(fluo_u8):
    """48 px right-way crops of a real pair read 1.25x (the 8 px Gaussian sees mostly the
    mirrored border): too small to judge."""
    from napari_microdeblur.core.pair_checks import fine_detail

    image = fluo_u8.astype(np.float32)[None]
    assert fine_detail(image[:, :48, :48]) is None
    assert fine_detail(image[:, :64, :64]) is not None
