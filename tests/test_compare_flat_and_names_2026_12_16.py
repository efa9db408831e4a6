"""Compare & QC and `microdeblur evaluate` (2026-12-16 walkthrough, a biologist clicking
around): (1) a layer named 'nuclei in-focus' is taken as the ground truth, as the other docks
take it (Compare split the name itself and saw 'in' and 'focus'); (2) a prediction that holds
one value in every pixel (a 16-bit result divided by 256 into zeros) is said to be so by the
dock, the CLI and Python's evaluate, where it was scored (PSNR 14.56 dB) without a word."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
)

from napari_microdeblur.cli import main
from napari_microdeblur.core.metrics import evaluate
from napari_microdeblur.core.notes import DeblurWarning

FLAT = "holds one value (0) in every pixel, where the reference varies"


def reference16():
    rng = np.random.default_rng(0)
    return rng.integers(20, 215, (64, 64)).astype(np.uint16)


@pytest.mark.parametrize("name", ["nuclei in-focus", "nuclei in focus", "nuclei_in_focus"])
def test_a_layer_named_in_focus_is_the_ground_truth(make_napari_viewer, qtbot, name):
    viewer = make_napari_viewer()
    truth = reference16().astype(np.float32)
    blurred = viewer.add_image(truth * 0.9 + 5, name="nuclei blurred")
    sharp = viewer.add_image(truth, name=name)
    w = dock(viewer, "Compare & QC")
    assert (w.blurry_combo.value, w.truth_combo.value) == (blurred, sharp)


def test_the_dock_says_a_deblurred_layer_holds_one_value(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    truth = reference16()
    g = viewer.add_image(truth, name="gt")
    zeros = viewer.add_image((truth // 256).astype(np.uint8), name="deb")
    w = dock(viewer, "Compare & QC")
    w.set_layers(deblurred=zeros, truth=g)
    qtbot.waitUntil(lambda: w.last_result is not None, timeout=TIMEOUT)
    assert w.last_result["flat"] == {"deblurred": 0.0}
    assert f"the deblurred layer {FLAT}" in w.message_label.text()


def test_the_cli_and_python_say_a_prediction_holds_one_value(tmp_path, capsys):
    truth = reference16()
    tifffile.imwrite(tmp_path / "ref.tif", truth)
    tifffile.imwrite(tmp_path / "zeros.tif", (truth // 256).astype(np.uint8))
    assert main(["evaluate", str(tmp_path / "zeros.tif"), "--reference",
                 str(tmp_path / "ref.tif")]) == 0
    assert f"warning: the prediction {FLAT}" in capsys.readouterr().err
    with pytest.warns(DeblurWarning, match="the prediction holds one value"):
        evaluate(np.zeros((64, 64), np.float32), truth.astype(np.float32))


def test_a_varying_prediction_is_not_flagged():
    from napari_microdeblur.core.plane_metrics import flat_value

    truth = reference16().astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeblurWarning)
        evaluate(truth + 1, truth)  # varies: no line
    flat = np.full((64, 64), 3.0, np.float32)
    assert flat_value(flat, flat) is None  # nothing varies: a flat pair is no slip of the result
    assert flat_value(flat, truth) == 3.0


def test_match_leaves_a_prediction_of_one_value_alone(tmp_path, capsys):
    """--match had registered an all-zero prediction at a made-up shift, called it
    anti-correlated (brightfield advice) and leaked scikit-image's RMS warning."""
    truth = reference16()
    tifffile.imwrite(tmp_path / "ref.tif", truth)
    tifffile.imwrite(tmp_path / "zeros.tif", (truth // 256).astype(np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no library warning reaches the user
        assert main(["evaluate", str(tmp_path / "zeros.tif"), "--reference",
                     str(tmp_path / "ref.tif"), "--match"]) == 0
    err = capsys.readouterr().err
    assert f"the prediction {FLAT}" in err and "--match is left out" in err
    assert "anti-correlated" not in err and "shift" not in err


def test_a_reference_of_one_value_is_said(tmp_path, capsys, make_napari_viewer, qtbot):
    varied = reference16().astype(np.uint8)
    tifffile.imwrite(tmp_path / "pred.tif", varied)
    tifffile.imwrite(tmp_path / "zeros.tif", np.zeros((64, 64), np.uint8))
    assert main(["evaluate", str(tmp_path / "pred.tif"), "--reference",
                 str(tmp_path / "zeros.tif")]) == 0
    said = "the reference holds one value (0) in every pixel, where the prediction varies"
    assert said in capsys.readouterr().err
    with pytest.warns(DeblurWarning, match="the reference holds one value"):
        evaluate(varied, np.zeros((64, 64), np.uint8))
    viewer = make_napari_viewer()
    g = viewer.add_image(np.zeros((64, 64), np.uint8), name="gt")
    d = viewer.add_image(varied, name="deb")
    w = dock(viewer, "Compare & QC")
    w.set_layers(deblurred=d, truth=g)
    qtbot.waitUntil(lambda: w.last_result is not None, timeout=TIMEOUT)
    assert "the ground truth 'gt' holds one value (0)" in w.message_label.text()
