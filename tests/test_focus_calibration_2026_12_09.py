"""Focus QC's "Calibrate from layer..." on the nuclei sample's sharp layer (5 %) gave 0.0001228,
under every tile of the blurred layer: "nothing to deblur" on an image blurred all over. The
sharp 8-bit layer's noise is one grey level (MAD of neighbour differences 1), so a background
one level darker and a dust speck counted as structure: its near-empty tiles (2e-5 to 1.7e-4)
were calibrated on. Where the noise is below one grey level, a tile now also needs a share of
the plane's contrast (``core.focus.STRUCTURE_MIN_CONTRAST``); noisy images are judged as before.
And Calibrate with no known-good layer said "open or select an image layer first" with two
open: it now says to pick one in the Good layer box, which takes a sharp reference itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from _sparse_cells import cells, noisy

import napari_microdeblur
from napari_microdeblur.core import focus as core_focus
from napari_microdeblur.core.focus import calibrate_threshold, focus_score, structure_tiles

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000
SAMPLES = Path(napari_microdeblur.__file__).parent / "samples"


@pytest.fixture(scope="module")
def nuclei():
    """The nuclei sample: (sharp uint8, blurred float32 with noise), 256 x 256."""
    return (tifffile.imread(SAMPLES / "ht29_nuclei_hoechst.tif"),
            tifffile.imread(SAMPLES / "ht29_nuclei_hoechst_protocolA.tif"))


def test_calibration_on_the_clean_sharp_sample_flags_its_blurred_copy(nuclei):
    sharp, blurred = nuclei
    has = structure_tiles(sharp, axes="YX", tile=64)
    # the darker empty tile and the two tiles with a speck only: background (was: 0 left out)
    assert not has[2, 0] and not has[0, 3] and not has[1, 3]
    assert int(has.sum()) == 13
    scores = focus_score(sharp, axes="YX", tile=64)
    assert scores[has].min() > 10 * scores[~has].max()  # nuclei tiles score far higher
    threshold = calibrate_threshold(scores[has], percentile=5)
    assert threshold > 1e-3  # was 0.0001228
    blurred_has = structure_tiles(blurred, axes="YX", tile=64)
    soft = (focus_score(blurred, axes="YX", tile=64) < threshold) & blurred_has
    assert int(soft.sum()) >= 3  # was 0: "nothing to deblur"
    # the noisy blurred layer is judged as before: its one empty tile left out
    assert int(blurred_has.sum()) == 15 and not blurred_has[2, 0]


def test_noise_free_images_leave_their_empty_tiles_out_noisy_ones_are_unchanged():
    clean = cells(3)  # float, background exactly 0: a MAD of 0, a level of 0
    content = (clean > 20).reshape(8, 64, 8, 64).any(axis=(1, 3))
    # was 38 of 64 tiles (the cells' Gaussian tails), against 27 with a cell
    np.testing.assert_array_equal(structure_tiles(clean, axes="YX", tile=64), content)
    as_u8 = np.clip(np.rint(clean + 10), 0, 255).astype(np.uint8)  # was 29
    np.testing.assert_array_equal(structure_tiles(as_u8, axes="YX", tile=64), content)
    image = noisy(clean, 1)  # camera noise of sd 3: the contrast share is never used
    np.testing.assert_array_equal(core_focus.structure_mask(image, min_contrast=0.5),
                                  core_focus.structure_mask(image))
    np.testing.assert_array_equal(structure_tiles(image, axes="YX", tile=64), content)


@pytest.mark.parametrize(("values", "unmeasured"), [
    ([0, 0, 0, 0, 1], True),                 # MAD 0
    ([0, 1, -1, 1, 0, -1, 2, 0, 1], True),    # MAD of one grey level
    ([0, 2, -2, 3, -3, 1, 2, -2, 4], False),  # several levels: noise measured
    ([0.0, 1 / 3, -1 / 3, 1 / 3, 0.0], True),  # the mean of three 8-bit channels
    ([0.013, -2.1, 1.7, 2.9, -0.4], False),  # float noise
])
def test_noise_unmeasured(values, unmeasured):
    diff = np.asarray(values, dtype=np.float32)
    mad = float(np.median(np.abs(diff - np.median(diff))))
    assert core_focus.noise_unmeasured(diff, mad) is unmeasured


# ----------------------------------------------------------------------------- the dock


def dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Focus QC")
    return widget


def idle(qtbot, w):
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)


def test_the_good_box_takes_the_samples_sharp_layer_and_calibrates(make_napari_viewer,
                                                                     qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei_pair")
    w = dock(viewer)
    sharp = viewer.layers["nuclei sharp (ground truth)"]
    blurred = viewer.layers["nuclei blurred (protocol A)"]
    w.layer_combo.set_value(blurred)
    assert w.good_combo.value is sharp  # was: '(known-good layer)'
    assert w.score() is not None
    idle(qtbot, w)
    assert w.calibrate() is not None
    idle(qtbot, w)
    assert "3 background tiles left out" in w.status_label.text()
    assert w.threshold > 1e-3
    below = int(w.count_label.text().split(" of ")[0])
    assert below >= 3, w.count_label.text()  # was "0 of 16 tiles below threshold 0.0001228"


def test_the_good_box_preselects_later_layers_but_keeps_the_users_choice(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.random.default_rng(0).random((64, 64)), name="cells")
    w = dock(viewer)
    assert w.good_combo.value is None
    reference = viewer.add_image(np.ones((64, 64)), name="cells GT")
    assert w.good_combo.value is reference
    w.layer_combo.set_value(reference)  # scored itself: not its own known-good layer
    assert w.good_combo.value is None
    w.layer_combo.set_value(image)
    assert w.good_combo.value is reference
    w.good_combo.setCurrentIndex(0)  # the user picks '(known-good layer)'
    w.good_combo.activated.emit(0)
    viewer.add_image(np.ones((64, 64)), name="another sharp one")
    assert w.good_combo.value is None  # the user's choice stays
    assert w.layer_combo.value is image


def test_no_plugin_layer_nor_the_image_is_preselected(make_napari_viewer):
    viewer = make_napari_viewer()
    sharp = viewer.add_image(np.ones((64, 64)), name="sharp field")
    viewer.add_image(np.ones((8, 8)), name="sharp field focus [tile 8]",
                     metadata={"microdeblur": {"focus": {}}})
    w = dock(viewer)
    w.layer_combo.set_value(sharp)  # the only sharp one is the image scored
    assert w.good_combo.value is None


def test_calibrate_without_a_good_layer_says_to_pick_one_in_the_box(make_napari_viewer):
    viewer = make_napari_viewer()
    soft = viewer.add_image(np.random.default_rng(0).random((64, 64)), name="soft")
    viewer.add_image(np.random.default_rng(1).random((64, 64)), name="field 2")
    w = dock(viewer)
    w.layer_combo.set_value(soft)
    assert w.good_combo.value is None  # no name marks a reference
    layers_before = len(viewer.layers)
    assert w.calibrate() is None
    text = w.status_label.text()
    assert "open or select an image layer first" not in text
    assert "'Good layer' box" in text and "other image layers open: 'field 2'" in text, text
    assert len(viewer.layers) == layers_before
    # a layer named in focus is a reference (as 'sharp' is): the box starts on it
    focused = viewer.add_image(np.random.default_rng(2).random((64, 64)), name="in focus")
    w2 = dock(viewer)
    w2.layer_combo.set_value(soft)
    assert w2.good_combo.value is focused
