"""Real pairs matched fairly (2026-12-14, walkthrough of BBBC006 and widefield/confocal
crops): --match registered a heavily defocused pair recorded at (0, 0) by false shifts of up
to 16 px (fit up to 7.2 dB worse than at zero shift); the input and each result were
registered apart (part of a method's gain was registration); Python's evaluate said nothing
of a uint8 prediction against a uint16 reference; the dock's Whole stack scored the planes a
Z shift uncovers, which evaluate leaves out."""

from __future__ import annotations

import glob
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core import plane_metrics
from napari_microdeblur.core.metrics import evaluate
from napari_microdeblur.core.notes import DeblurWarning

# the project's data beside the checkout, as the other tests find it
BBBC = (Path(__file__).resolve().parents[2] / "shared" / "data"
        / "bbbc006_u2os_hoechst_realdefocus" / "pair_a01_s1")


def _cells(shape=(128, 128), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    field = np.zeros(shape)
    idx = tuple(rng.integers(min(12, n // 4), n - min(12, n // 4), 60) for n in shape)
    field[idx] = 1.0
    sigma = (1.5,) * (len(shape) - 2) + (2.5, 2.5)
    field = ndimage.gaussian_filter(field, sigma)
    return (field / field.max() * 40000).astype(np.uint16)


def test_a_false_registration_is_not_kept(monkeypatch):
    """A shift that fits worse than none (a defocused pair misregisters) is dropped, and the
    line says the reference was kept in place."""
    ref = _cells()
    blurry = ndimage.gaussian_filter(ref.astype(float), 3) * 0.5 + 100
    monkeypatch.setattr(plane_metrics, "_translation", lambda m, f: np.array([9.0, -7.0]))
    m = plane_metrics.match_to_reference(blurry, ref, axes="YX", border=16)
    assert m["shift"] == {"Y": 0.0, "X": 0.0}
    assert m["kept_zero"] and m["border"] == 16
    assert "kept in place" in plane_metrics.match_words(m)
    # a real shift is still found and kept
    monkeypatch.undo()
    moved = ndimage.shift(ref.astype(float), (3.0, -2.0), order=3)
    m = plane_metrics.match_to_reference(ndimage.gaussian_filter(moved, 1.5), ref, axes="YX",
                                         border=16)
    assert not m["kept_zero"]
    assert abs(m["shift"]["Y"] - 3.0) < 0.3 and abs(m["shift"]["X"] + 2.0) < 0.3


@pytest.mark.skipif(not BBBC.is_dir(), reason="the BBBC006 real pair is not on this machine")
def test_bbbc006_crop_is_not_misregistered():
    """Crop (0, 440) of BBBC006 a01 (registered at (0, 0)): was shifted by (-16.0, +1.4)."""
    import imageio.v3 as iio

    ref = iio.imread(BBBC / "BBBC006_z_aligned__a01__s1__w1_10.png")[0:256, 440:696]
    blurry = tifffile.imread(glob.glob(str(BBBC / "00_*.tif"))[0])[0:256, 440:696]
    m = plane_metrics.match_to_reference(blurry, ref, axes="YX", border=16)
    assert max(abs(v) for v in m["shift"].values()) < 2.0


def test_several_predictions_share_one_registration(tmp_path, capsys):
    """evaluate INPUT RESULT --reference REF --match registers on the first file and shares
    that shift; each keeps its own gain."""
    ref = _cells()
    a = ndimage.shift(ref.astype(float), (2.0, 0.0), order=3) * 0.5 + 50
    b = ndimage.shift(ref.astype(float), (3.0, 1.0), order=3) * 0.2 + 10
    for name, arr in (("ref", ref), ("a", a), ("b", b)):
        tifffile.imwrite(tmp_path / f"{name}.tif", arr.astype(np.float32 if name != "ref"
                                                               else np.uint16))
    assert main(["evaluate", str(tmp_path / "a.tif"), str(tmp_path / "b.tif"), "--reference",
                 str(tmp_path / "ref.tif"), "--match", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [Path(r["prediction"]).name for r in rows] == ["a.tif", "b.tif"]
    assert rows[0]["match"]["shift"] == rows[1]["match"]["shift"]
    assert abs(rows[0]["match"]["shift"]["Y"] - 2.0) < 0.3
    assert abs(rows[0]["match"]["gain"] - 2.0) < 0.2  # the fit stays each file's own
    assert rows[1]["match"]["gain"] > rows[0]["match"]["gain"] + 1
    assert main(["evaluate", str(tmp_path / "a.tif"), str(tmp_path / "b.tif"), "--reference",
                 str(tmp_path / "ref.tif"), "--match"]) == 0
    assert "registered on" in capsys.readouterr().out


def test_python_evaluate_warns_on_two_scales():
    ref = _cells()
    u8 = (ref / 40000 * 255 * 0.2).astype(np.uint8)
    with pytest.warns(DeblurWarning, match="match_to_reference") as seen:
        scores = evaluate(u8, ref)
    assert len([w for w in seen if issubclass(w.category, DeblurWarning)]) == 1
    assert scores["psnr"] < 20  # scored as it is, on the reference's scale: far below
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeblurWarning)
        scores = evaluate(ndimage.gaussian_filter(ref, 1.0), ref)  # one scale: no warning
    assert scores["psnr"] > 30


def test_whole_stack_scores_the_planes_evaluate_scores():
    """The dock's Whole stack leaves out the planes a Z shift uncovers, as evaluate does."""
    pytest.importorskip("qtpy")
    from napari_microdeblur._widgets._compare_stack import covered_entries

    ref = _cells((20, 96, 96))
    moved = ndimage.shift(ref.astype(float), (1.6, 0.0, 0.0), order=3, mode="nearest")
    m = plane_metrics.match_to_reference(moved, ref, axes="ZYX", border=16)
    assert m["planes"] == (2, 20)
    entries = [(i, {"truth": (i,), "blurry": (i,)}) for i in range(20)]
    kept = covered_entries(entries, {"blurry": m})
    assert [i for i, _ in kept] == list(range(2, 20))
    assert covered_entries(entries, None) == entries


def test_the_dock_shares_the_blurry_layers_registration():
    """The Compare & QC dock registered the deblurred layer apart from the blurry one (each
    against the ground truth), so part of the deblurred layer's gain could be registration."""
    from napari.layers import Image

    from napari_microdeblur._widgets._compare_parts import matched_layers

    truth = _cells((128, 128), seed=3).astype(np.float32)
    blurry = ndimage.gaussian_filter(ndimage.shift(truth, (3, -2), order=1), 2.0)
    deblurred = ndimage.shift(truth, (1, 1), order=1)  # registers elsewhere on its own
    chosen = {"truth": Image(truth, name="gt"), "deblurred": Image(deblurred, name="deb"),
              "blurry": Image(blurry, name="blur")}
    import threading

    out = matched_layers(chosen, {}, threading.Lock(), border=16)
    assert out["deblurred"]["shift"] == out["blurry"]["shift"]
    assert out["deblurred"]["registered_on"] == "the blurry layer"
    assert "shared by all" in plane_metrics.match_words(out["deblurred"], "the deblurred layer")
    alone = plane_metrics.match_to_reference(deblurred, truth, axes="YX", border=16)
    assert alone["shift"] != out["blurry"]["shift"]  # the case is one where sharing matters


def test_a_border_too_wide_for_a_small_image_names_one_that_fits(tmp_path, capsys):
    """A 12 x 12 image at the default border was told '--border 16 leaves -20 x -20 pixels';
    (a border nobody gave, no value to give); then refused with 'give --border 0'; now the
    default narrows to the widest border that fits, said on one line (2026-12-07)."""
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, np.random.default_rng(0).integers(0, 200, (12, 12), np.uint8))
    assert main(["evaluate", str(small), "--reference", str(small)]) == 0
    err = capsys.readouterr().err
    assert "a 0-px border is used" in err and "-20" not in err, err
    # a border the user gave that does not fit is still refused, naming one that does
    tifffile.imwrite(small, np.random.default_rng(0).integers(0, 200, (40, 40), np.uint8))
    assert main(["evaluate", str(small), "--reference", str(small), "--border", "30"]) != 0
    assert "give --border 14 or less" in capsys.readouterr().err
