"""`microdeblur evaluate IN_DIR [RESULT_DIR ...] --reference REF_DIR` (2026-12-16): a folder of
references said "input 'test_sharp' is a directory; give an image file", so scoring a batch of
deblurred test slices needed a shell loop. Folders (or quoted globs) are paired by name
(NAME.* or deblur's NAME_deblurred.* with reference NAME.*), scored as one file is, one line
per reference and a mean per column; problems are refused before any scoring, one line each."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur.cli import main


def _field(seed: int, shape=(64, 64)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 2).astype(np.float32)


@pytest.fixture
def batch(tmp_path):
    """ref/{a,b,c}.tif, inp/{a,b,c}.tif (blurred), out/{a,b,c}_deblurred.tif (as deblur
    names a folder's outputs: closer to the reference)."""
    for name in ("ref", "inp", "out"):
        (tmp_path / name).mkdir()
    for seed, stem in enumerate("abc"):
        ref = _field(seed)
        blur = ndimage.gaussian_filter(ref, 1.5)
        tifffile.imwrite(tmp_path / "ref" / f"{stem}.tif", ref)
        tifffile.imwrite(tmp_path / "inp" / f"{stem}.tif", blur)
        tifffile.imwrite(tmp_path / "out" / f"{stem}_deblurred.tif", 0.7 * ref + 0.3 * blur)
    return tmp_path


def _run(capsys, *argv):
    code = main(["evaluate", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _single(capsys, pred, ref) -> dict:
    code, out, _ = _run(capsys, pred, "--reference", ref, "--json")
    assert code == 0
    return json.loads(out)


def test_folders_score_each_file_as_the_single_form_and_average(batch, capsys):
    code, out, err = _run(capsys, batch / "inp", batch / "out", "--reference", batch / "ref")
    assert code == 0, err
    lines = out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines if line[:1] in "abcm"}
    assert set(rows) == {"a.tif", "b.tif", "c.tif", "mean"}
    singles = {s: (_single(capsys, batch / "inp" / f"{s}.tif", batch / "ref" / f"{s}.tif"),
                   _single(capsys, batch / "out" / f"{s}_deblurred.tif",
                           batch / "ref" / f"{s}.tif")) for s in "abc"}
    for stem, (inp, res) in singles.items():
        cells = [float(v) for v in rows[f"{stem}.tif"]]
        assert cells == pytest.approx([round(inp["psnr"], 2), round(inp["ssim"], 4),
                                       round(res["psnr"], 2), round(res["ssim"], 4)], abs=1e-9)
    mean = [float(v) for v in rows["mean"][2:]]  # 'mean of 3'
    assert rows["mean"][:2] == ["of", "3"]
    assert mean[2] == pytest.approx(np.mean([r["psnr"] for _, r in singles.values()]), abs=0.006)
    assert mean[1] == pytest.approx(np.mean([i["ssim"] for i, _ in singles.values()]), abs=6e-5)
    assert mean[2] > mean[0]  # the result is closer to the reference than its input


def test_json_holds_every_pair_and_the_means(batch, capsys):
    code, out, _ = _run(capsys, batch / "inp", batch / "out", "--reference", batch / "ref",
                        "--json")
    assert code == 0
    data = json.loads(out)  # one object, nothing else on stdout
    assert data["columns"] == [str(batch / "inp"), str(batch / "out")]
    assert [os.path.basename(f["reference"]) for f in data["files"]] == ["a.tif", "b.tif",
                                                                        "c.tif"]
    one = data["files"][1]["results"][1]
    assert os.path.basename(one["prediction"]) == "b_deblurred.tif"
    single = _single(capsys, batch / "out" / "b_deblurred.tif", batch / "ref" / "b.tif")
    assert one["psnr"] == pytest.approx(single["psnr"]) and one["ssim_whole"] == pytest.approx(
        single["ssim_whole"])
    out_mean = data["mean"][1]
    assert out_mean["files"] == 3
    assert out_mean["psnr"] == pytest.approx(np.mean([f["results"][1]["psnr"]
                                                      for f in data["files"]]))


def test_quoted_globs_pair_as_folders_and_nothing_is_written(batch, capsys):
    before = sorted(p for p in batch.rglob("*"))
    code, out, _ = _run(capsys, batch / "out" / "*.tif", "--reference", batch / "ref" / "*.tif",
                        "--json")
    assert code == 0
    assert len(json.loads(out)["files"]) == 3
    assert sorted(p for p in batch.rglob("*")) == before


def test_a_result_without_a_reference_is_refused_before_scoring(batch, capsys):
    tifffile.imwrite(batch / "out" / "zz_deblurred.tif", _field(9))
    code, out, err = _run(capsys, batch / "out", "--reference", batch / "ref")
    assert code != 0 and out == ""  # nothing scored
    assert "zz_deblurred.tif" in err and "has no reference" in err and "zz.*" in err


def test_a_reference_missing_from_one_column_is_refused_naming_it(batch, capsys):
    os.remove(batch / "out" / "b_deblurred.tif")
    code, out, err = _run(capsys, batch / "inp", batch / "out", "--reference", batch / "ref")
    assert code != 0 and out == ""
    assert "has no file for reference" in err and "b.tif" in err


def test_a_reference_no_column_has_is_said_not_dropped(batch, capsys):
    tifffile.imwrite(batch / "ref" / "d.tif", _field(7))
    code, out, err = _run(capsys, batch / "out", "--reference", batch / "ref")
    assert code == 0
    assert "d.tif" in err and "not scored" in err
    assert "mean of 3" in out


def test_different_shapes_one_line_each_before_scoring(batch, capsys):
    tifffile.imwrite(batch / "out" / "a_deblurred.tif", np.zeros((64, 80), np.float32))
    tifffile.imwrite(batch / "out" / "c_deblurred.tif", np.zeros((48, 64), np.float32))
    code, out, err = _run(capsys, batch / "inp", batch / "out", "--reference", batch / "ref")
    assert code != 0 and out == ""
    shape_lines = [line for line in err.splitlines() if "has shape" in line]
    assert len(shape_lines) == 2
    assert "a_deblurred.tif" in shape_lines[0] and "c_deblurred.tif" in shape_lines[1]
    assert "nothing was scored" in err.splitlines()[-1]


def test_two_results_for_one_reference_are_refused(batch, capsys):
    tifffile.imwrite(batch / "out" / "a.tif", _field(0))  # deblurred into its input's folder
    code, _, err = _run(capsys, batch / "out", "--reference", batch / "ref")
    assert code != 0
    assert "both pair with reference" in err and "*_deblurred.*" in err


def test_a_folder_without_images_is_refused_in_one_line(batch, capsys):
    (batch / "empty").mkdir()
    for argv in ((batch / "empty", "--reference", batch / "ref"),
                 (batch / "out", "--reference", batch / "empty")):
        code, out, err = _run(capsys, *argv)
        assert code != 0 and out == ""
        assert len(err.strip().splitlines()) == 1 and "holds no image file" in err


def test_a_file_that_cannot_be_scored_is_said_and_fails_the_run(batch, capsys):
    bad = _field(2)
    bad[0, 0] = np.nan
    tifffile.imwrite(batch / "out" / "c_deblurred.tif", bad)
    code, out, err = _run(capsys, batch / "inp", batch / "out", "--reference", batch / "ref")
    assert code == 1
    assert "c_deblurred.tif" in err and "NaN" in err and "1 of 6 pairs not scored" in err
    assert "not scored" in out and "mean of 2" in out


def test_a_folder_against_one_reference_file_says_what_to_give(batch, capsys):
    code, _, err = _run(capsys, batch / "out", "--reference", batch / "ref" / "a.tif")
    assert code != 0
    assert "give --reference the folder" in err


def test_the_single_file_forms_are_unchanged(batch, capsys):
    code, out, _ = _run(capsys, batch / "inp" / "a.tif", "--reference", batch / "ref" / "a.tif")
    assert code == 0 and out.startswith("PSNR ") and len(out.splitlines()) == 1
    code, out, _ = _run(capsys, batch / "inp" / "a.tif", batch / "out" / "a_deblurred.tif",
                        "--reference", batch / "ref" / "a.tif", "--json")
    objects = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(objects) == 2 and objects[1]["prediction"].endswith(
        "a_deblurred.tif")
