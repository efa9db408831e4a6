"""Two defects a volume-EM walkthrough found (2026-12-10).

1. Focus QC's default model ran the fluorescence network on an EM volume opened from a file:
   the dock had no Image type, and a user's file states none in the layer's metadata.
2. The Compare & QC whole-stack summary averaged the finite slice PSNRs only
   (``metrics.stack_psnr``): the blurry volume's mean covered its 5 blurred sections, the
   deblurred one's 15, so "blurry 28.43 dB, deblurred 31.23 dB" while the deblur had damaged 9
   sharp sections. The summary now gives beside that mean (the documented stack figure) the
   PSNR of the squared error pooled over every slice, which shows the damage.

Driven in a real viewer under Xvfb; tests wait on conditions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    PLUGIN,
    TIMEOUT,
    _clean_session,
    notes,
)

from napari_microdeblur._widgets._compare_parts import stack_summary
from napari_microdeblur.core import bundled
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.metrics import evaluate, stack_psnr
from napari_microdeblur.core.plane_metrics import pooled_stack_psnr


def dock(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def score(qtbot, w):
    assert w.score() is not None
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)
    assert w.scores_fresh()


def em_like_stack(seed: int = 0, planes: int = 4) -> np.ndarray:
    """A grayscale uint8 stack with no metadata, as a user's file opens."""
    rng = np.random.default_rng(seed)
    return (ndimage.gaussian_filter(rng.random((planes, 96, 96)), (0, 1.5, 1.5)) * 255 * 3
            ).clip(0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- image type


def test_focus_qc_offers_the_deblur_docks_image_type(make_napari_viewer):
    viewer = make_napari_viewer()
    deblur = dock(viewer, "Deblur")
    w = dock(viewer, "Focus QC")
    items = [(w.modality_combo.itemText(i), w.modality_combo.itemData(i))
             for i in range(w.modality_combo.count())]
    assert items == [(deblur.modality_combo.itemText(i), deblur.modality_combo.itemData(i))
                     for i in range(deblur.modality_combo.count())]
    assert [d for _, d in items] == ["auto", "em", "fluorescence", "brightfield"]
    assert w.modality_combo.toolTip() == deblur.modality_combo.toolTip()


def test_image_type_picks_the_default_model_of_a_layer_stating_none(make_napari_viewer,
                                                                    qtbot):
    viewer = make_napari_viewer()
    layer = viewer.add_image(em_like_stack(), name="vol")  # no 'modality' in its metadata
    deblur = dock(viewer, "Deblur")
    deblur.layer_combo.set_value(layer)
    w = dock(viewer, "Focus QC")
    w.layer_combo.set_value(layer)
    assert w.modality_combo.currentData() == "auto"
    w.set_modality("em")
    deblur.set_modality("em")
    score(qtbot, w)
    req, _ = w.build_request()
    # was: no Image type, and 'auto' for grayscale ran c2f_unet.fluorescence_v2
    assert req.method.modality == "em"
    assert req.label == bundled.auto_method_name(MethodSpec("auto", modality="em"), False)
    assert req.label == deblur.build_request().label
    assert req.label != bundled.auto_method_name(MethodSpec("auto"), False)


def test_image_type_follows_the_layer_until_picked(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "em_pair")
    em = viewer.layers["EM blurred (protocol C)"]
    plain = viewer.add_image(em_like_stack(1, 2), name="plain")
    w = dock(viewer, "Focus QC")
    w.layer_combo.set_value(em)
    assert w.modality_combo.currentData() == "em"  # the sample's metadata says so
    w.layer_combo.set_value(plain)
    assert w.modality_combo.currentData() == "auto"
    w.set_modality("brightfield")
    w.layer_combo.set_value(em)
    assert w.modality_combo.currentData() == "brightfield"  # the user's choice stays
    with pytest.raises(ValueError, match="accepted: auto, em, fluorescence, brightfield"):
        w.set_modality("confocal")


@pytest.mark.parametrize(("modality", "said"), [
    (None, "image type auto: fluorescence for a grayscale layer (set Image type if it is EM "
           "or brightfield)"),
    ("fluorescence", "image type fluorescence"),
])
def test_the_result_names_the_image_type_it_ran_for(make_napari_viewer, qtbot, notes,  # noqa: F811
                                                    modality, said):
    viewer = make_napari_viewer()
    layer = viewer.add_image(em_like_stack(2, 3), name="vol")
    w = dock(viewer, "Focus QC")
    w.layer_combo.set_value(layer)
    if modality:
        w.set_modality(modality)
    score(qtbot, w)
    w.set_threshold(1e9)  # every slice soft
    run = w.run()
    assert run is not None, notes.errors()
    qtbot.waitUntil(lambda: run.done and not w._workers, timeout=TIMEOUT)
    assert run.layer is not None, notes.errors()
    assert "c2f_unet.fluorescence_v2" in run.layer.name
    # was: the network only, with no word that 'auto' took the layer for fluorescence
    assert said in w.status_label.text()


# ----------------------------------------------------------------------------- stack PSNR


def test_pooled_stack_psnr_is_that_of_the_pooled_mse():
    assert pooled_stack_psnr([30.0, math.inf, 40.0]) == pytest.approx(
        -10 * math.log10((1e-3 + 0 + 1e-4) / 3), rel=1e-12)
    assert stack_psnr([30.0, math.inf, 40.0]) == 35.0  # the documented mean, unchanged
    assert pooled_stack_psnr([30.0, 30.0]) == pytest.approx(30.0, rel=1e-12)
    assert math.isinf(pooled_stack_psnr([math.inf, math.inf]))
    assert math.isnan(pooled_stack_psnr([30.0, math.nan]))
    assert math.isnan(pooled_stack_psnr([]))


def walkthrough_results() -> list[dict]:
    """The walkthrough's shape: 9 sharp slices the blurry volume holds as they are (PSNR inf)
    and the deblur damaged; 5 blurred slices it improved a little."""
    blurry = [math.inf] * 9 + [25.7, 27.3, 28.6, 29.1, 26.0]
    deblurred = [28.4] * 9 + [26.7, 28.3, 29.2, 28.6, 27.0]
    return [{"psnr_blurry": b, "ssim_blurry": 1.0 if math.isinf(b) else 0.8,
             "psnr_deblurred": d, "ssim_deblurred": 0.85} for b, d in zip(blurry, deblurred)]


def test_stack_summary_gives_the_pooled_figure_beside_the_mean():
    results = walkthrough_results()
    line = stack_summary(results)
    mean_b = stack_psnr([r["psnr_blurry"] for r in results])
    pooled_b = pooled_stack_psnr([r["psnr_blurry"] for r in results])
    mean_d = stack_psnr([r["psnr_deblurred"] for r in results])
    pooled_d = pooled_stack_psnr([r["psnr_deblurred"] for r in results])
    assert mean_b < mean_d and pooled_b > pooled_d  # the mean alone read as a gain
    assert (f"blurry: PSNR {mean_b:.2f} dB (pooled over all: {pooled_b:.2f} dB, 9 slice(s) "
            "equal to the truth left out), SSIM 0.9286") in line
    assert line.endswith(f"deblurred: PSNR {mean_d:.2f} dB (pooled over all: "
                         f"{pooled_d:.2f} dB), SSIM 0.8500")
    assert line.startswith("mean over 14 slice(s): ")


def test_compare_dock_says_a_deblur_that_damaged_sharp_slices_is_worse(make_napari_viewer,
                                                                       qtbot):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(7)
    truth = (ndimage.gaussian_filter(rng.random((6, 64, 64)), (0, 2, 2)) * 250).astype(np.uint8)
    blurry = truth.copy()
    blurry[:2] = ndimage.gaussian_filter(truth[:2], (0, 1.2, 1.2))  # 2 soft, 4 sharp slices
    # the deblur sharpens the soft slices but adds noise to every one
    deblurred = np.clip(truth + rng.normal(0, 2, truth.shape), 0, 255).astype(np.uint8)
    viewer.add_image(blurry, name="cells blurred")
    viewer.add_image(deblurred, name="cells deblurred")
    viewer.add_image(truth, name="cells truth")
    w = dock(viewer, "Compare & QC")
    w.stack_button.click()
    qtbot.waitUntil(lambda: w.stack_results is not None, timeout=TIMEOUT)
    text = w.summary_label.text()
    b, d = (evaluate(a, truth, border=16) for a in (blurry, deblurred))
    finite = [p for p in b["psnr_per_slice"] if math.isfinite(p)]
    assert np.mean(finite) < np.mean(d["psnr_per_slice"])  # what the summary said: better
    pb, pd = (pooled_stack_psnr(r["psnr_per_slice"]) for r in (b, d))
    assert pb > pd  # the noise on every slice costs more than the blur of two gains
    assert f"blurry: PSNR {b['psnr']:.2f} dB (pooled over all: {pb:.2f} dB" in text
    assert f"deblurred: PSNR {d['psnr']:.2f} dB (pooled over all: {pd:.2f} dB)" in text
    assert "4 slice(s) equal to the truth left out" in text
