"""Compare & QC and `microdeblur evaluate` (2026-12-17 walkthrough): (1) a layer with NaN or Inf
pixels only in the excluded border (or outside the region) is undefined (a dash and the
'replace them' line), as evaluate refuses it, where the dock scored 35.85 / 0.9216 and a stack
counted the plane as finite; (2) several predictions go on past a bad one ('not scored',
exit 1), where the first bad file stopped them all; (3) Python's evaluate against a flat
reference warns of that alone, not of a 6.36e+15x contrast; (4) Side by side follows a role
changed while it is on; (5) an ImageJ CYX prediction against an RGB reference is said to have
3 channels (C), not to be single-channel."""

from __future__ import annotations

import json
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
from napari_microdeblur.core.plane_metrics import iter_plane_metrics_borders, iter_stack_metrics
from napari_microdeblur.core.progress import drive


def pair(shape=(64, 64), seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.random(shape).astype(np.float32)
    return truth, truth + 0.05 * rng.random(shape).astype(np.float32)


# ----------------------------------------------------------------------------- (1) core


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_nonfinite_pixel_in_the_border_makes_every_border_undefined(bad):
    truth, deblurred = pair()
    deblurred[3, 5] = bad  # inside the 16-px border
    out = drive(iter_plane_metrics_borders(
        {"truth": truth, "deblurred": deblurred, "blurry": truth * 0.9}, (0.0, 1.0),
        borders=(16, 0)))
    for border in (16, 0):  # before: 16 px scored a number
        assert np.isnan(out[border]["psnr_deblurred"]) and np.isnan(out[border]["ssim_deblurred"])
        assert np.isfinite(out[border]["psnr_blurry"])  # the other layer is still scored


def test_a_nonfinite_pixel_outside_the_region_makes_it_undefined():
    truth, deblurred = pair()
    deblurred[2, 2] = np.nan
    out = drive(iter_plane_metrics_borders({"truth": truth, "deblurred": deblurred},
                                           (0.0, 1.0), borders=(0,), box=((20, 50), (20, 50))))
    assert np.isnan(out[0]["psnr_deblurred"]) and np.isnan(out[0]["ssim_deblurred"])


def test_a_stack_plane_with_inf_in_its_border_makes_the_summary_undefined():
    from napari_microdeblur._widgets._compare_parts import stack_summary

    truth, deblurred = pair((3, 64, 64))
    deblurred[1, 0, 0] = np.inf
    entries = [(i, {"truth": (i,), "deblurred": (i,)}) for i in range(3)]
    with np.errstate(invalid="ignore"):
        results = drive(iter_stack_metrics({"truth": truth, "deblurred": deblurred},
                                           (0.0, 1.0), entries, border=16))
    assert np.isnan(results[1]["psnr_deblurred"]) and np.isfinite(results[0]["psnr_deblurred"])
    assert "deblurred: PSNR and SSIM undefined" in stack_summary(results)


def test_the_dock_shows_a_dash_for_nan_in_the_border(make_napari_viewer, qtbot):
    from napari_microdeblur._widgets._compare_parts import UNDEFINED

    viewer = make_napari_viewer()
    truth, deblurred = pair()
    deblurred[5, 5] = np.nan
    b = viewer.add_image(truth * 0.9, name="blurry")
    d = viewer.add_image(deblurred, name="deb")
    g = viewer.add_image(truth, name="gt")
    w = dock(viewer, "Compare & QC")
    w.set_layers(b, d, g)
    w.schedule_update()
    qtbot.waitUntil(lambda: w.last_result is not None
                    and "psnr_deblurred" in w.last_result, timeout=TIMEOUT)
    assert np.isnan(w.last_result["psnr_deblurred"])
    assert w.table.item(1, 0).text() == UNDEFINED and w.table.item(1, 1).text() == UNDEFINED
    assert "the deblurred layer holds NaN or Inf pixels" in w.message_label.text()
    assert "replace them" in w.message_label.text()


# ----------------------------------------------------------------------------- (2) CLI


def write_pair(tmp_path):
    truth, good = pair()
    bad = good.copy()
    bad[5, 5] = np.nan
    for name, image in (("ref", truth), ("good", good), ("bad", bad)):
        tifffile.imwrite(tmp_path / f"{name}.tif", image)
    return [str(tmp_path / f"{n}.tif") for n in ("bad", "good", "ref")]


def test_several_predictions_go_on_past_a_bad_one(tmp_path, capsys):
    bad, good, ref = write_pair(tmp_path)
    assert main(["evaluate", bad, good, "--reference", ref]) == 1  # before: 2, nothing scored
    out, err = capsys.readouterr()
    assert "PSNR " in out.split("good.tif")[1]  # the good one is scored
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "bad.tif" in lines[0] and lines[0].endswith("not scored")
    assert "1 of 2 predictions not scored" in lines[1]


def test_several_predictions_json_keeps_one_object_each(tmp_path, capsys):
    bad, good, ref = write_pair(tmp_path)
    assert main(["evaluate", bad, good, "--reference", ref, "--json"]) == 1
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["prediction"] for o in objects] == [bad, good]
    assert "NaN or Inf" in objects[0]["error"] and np.isfinite(objects[1]["psnr"])


def test_one_bad_prediction_and_a_bad_reference_still_exit_2(tmp_path, capsys):
    bad, good, ref = write_pair(tmp_path)
    assert main(["evaluate", bad, "--reference", ref]) == 2
    assert main(["evaluate", good, good, "--reference", bad]) == 2  # refused once, up front
    err = capsys.readouterr().err
    assert err.count("reference") >= 1 and "not scored" not in err


# ----------------------------------------------------------------------------- (3) Python


def test_a_flat_reference_gets_no_contrast_ratio():
    rng = np.random.default_rng(0)
    b = rng.integers(0, 1000, (64, 64)).astype(np.uint16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate(b, np.full(b.shape, 7, np.uint16))
    said = [str(w.message) for w in caught if issubclass(w.category, DeblurWarning)]
    assert any("the reference holds one value (7)" in s for s in said)
    assert not any("contrast" in s for s in said), said  # before: '1.26e+16x the reference's'


# ----------------------------------------------------------------------------- (4) grid


def test_side_by_side_follows_a_role_changed_while_on(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    truth, deblurred = pair()
    b = viewer.add_image(truth * 0.9, name="blurry")
    d = viewer.add_image(deblurred, name="deb")
    x = viewer.add_image(deblurred + 0.01, name="other result")
    g = viewer.add_image(truth, name="gt")
    w = dock(viewer, "Compare & QC")
    w.set_layers(b, d, g)
    w.side_button.click()
    assert w.side_by_side.state["trio"] == [b, d, g] and not x.visible
    w.set_layers(b, x, g)
    qtbot.waitUntil(lambda: w.side_by_side.state is not None
                    and w.side_by_side.state["trio"][1] is x, timeout=TIMEOUT)
    assert x.visible and not d.visible and w.side_button.isChecked()
    assert [la.name for la in viewer.layers][:3] == ["blurry", "other result", "gt"]
    w.side_button.click()  # back: the viewer as it was before the grid
    assert not w.side_by_side.active and d.visible and x.visible
    assert [la.name for la in viewer.layers] == ["blurry", "deb", "other result", "gt"]


# ----------------------------------------------------------------------------- (5) wording


def test_an_imagej_cyx_prediction_against_rgb_says_channels(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (32, 32, 3)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "ref.tif", rgb, photometric="rgb")
    tifffile.imwrite(tmp_path / "pred.tif", np.moveaxis(rgb, -1, 0), imagej=True,
                     metadata={"axes": "CYX"})
    assert main(["evaluate", str(tmp_path / "pred.tif"), "--reference",
                 str(tmp_path / "ref.tif")]) == 2
    err = capsys.readouterr().err
    assert "has 3 channels (C, axes CYX), not RGB colour samples" in err
    assert "single-channel" not in err and "save it as RGB" in err
    assert len(err.strip().splitlines()) == 1
