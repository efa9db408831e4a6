"""`microdeblur evaluate` folders with a thin image (a review of 725471b, 2026-12-28).

A folder holding an 8 x 200 strip beside a 64 x 200 image printed '(16-px border excluded'
and JSON "border": 16 though the strip was scored with a 3-px border (said only on stderr),
no file's JSON entry said its border, and the strip's n/a SSIM made the column's SSIM mean
n/a, with no line saying why. Now: the header names the narrower border, every file's JSON
(single-file too) carries 'border', the SSIM mean is over the files that have one
('ssim_files'), and one line says why a cell is n/a and what the mean is over."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main

NA_LINE = "SSIM: not defined below 11 px (its window): n/a for b.tif"


def _pair(shape, seed):
    rng = np.random.default_rng(seed)
    sharp = rng.integers(100, 3000, shape).astype(np.uint16)
    blur = np.clip(sharp + rng.normal(0, 60, shape), 0, 4000).astype(np.uint16)
    return blur, sharp


@pytest.fixture
def folders(tmp_path):
    """refs/{a,b}.tif, preds/ and more/ (two columns): a is 64 x 200, b an 8 x 200 strip."""
    for name in ("refs", "preds", "more"):
        (tmp_path / name).mkdir()
    for seed, (stem, shape) in enumerate([("a", (64, 200)), ("b", (8, 200))]):
        blur, sharp = _pair(shape, seed)
        tifffile.imwrite(tmp_path / "refs" / f"{stem}.tif", sharp)
        tifffile.imwrite(tmp_path / "preds" / f"{stem}.tif", blur)
        tifffile.imwrite(tmp_path / "more" / f"{stem}.tif", (sharp // 2 + blur // 2))
    return tmp_path


def _run(capsys, *argv):
    code = main(["evaluate", *map(str, argv)])
    got = capsys.readouterr()
    assert code == 0, got.err
    return got.out


def _single(capsys, tmp, stem, *extra) -> dict:
    return json.loads(_run(capsys, tmp / "preds" / f"{stem}.tif", "--reference",
                           tmp / "refs" / f"{stem}.tif", "--json", *extra))


def test_header_names_the_narrower_border_of_a_thin_file(folders, capsys):
    out = _run(capsys, folders / "preds", "--reference", folders / "refs")
    assert "(16-px border excluded; 3 px on thin b.tif; PSNR in dB" in out.splitlines()[0]
    # a border the user gave is not narrowed: no thin clause (a fitting one for every file)
    out = _run(capsys, folders / "preds", "--reference", folders / "refs", "--border", "2")
    assert "(2-px border excluded; PSNR in dB" in out.splitlines()[0]


def test_each_file_json_carries_the_border_it_was_scored_with(folders, capsys):
    data = json.loads(_run(capsys, folders / "preds", "--reference", folders / "refs",
                           "--json"))
    a, b = (f["results"][0] for f in data["files"])
    assert (a["border"], b["border"], data["border"]) == (16, 3, 16)
    assert b["psnr"] == pytest.approx(_single(capsys, folders, "b", "--border", "3")["psnr"])
    data = json.loads(_run(capsys, folders / "preds", "--reference", folders / "refs",
                           "--json", "--border", "2"))
    assert [f["results"][0]["border"] for f in data["files"]] == [2, 2]


def test_single_file_json_carries_its_border(folders, capsys):
    assert _single(capsys, folders, "b")["border"] == 3  # narrowed from the default
    assert _single(capsys, folders, "a")["border"] == 16
    assert _single(capsys, folders, "a", "--border", "5")["border"] == 5


def test_ssim_mean_is_over_the_files_that_have_one_said_once(folders, capsys):
    out = _run(capsys, folders / "preds", folders / "more", "--reference", folders / "refs")
    data = json.loads(_run(capsys, folders / "preds", folders / "more", "--reference",
                           folders / "refs", "--json"))
    a_scores = [r["ssim"] for r in data["files"][0]["results"]]
    for mean, a_ssim in zip(data["mean"], a_scores):
        assert mean["ssim"] == pytest.approx(a_ssim) and mean["ssim_files"] == 1
        assert mean["ssim_whole"] is not None and mean["files"] == 2
    row = next(line for line in out.splitlines() if line.startswith("mean of 2")).split()
    assert [float(row[4]), float(row[6])] == pytest.approx([round(s, 4) for s in a_scores])
    said = [line for line in out.splitlines() if line.startswith("SSIM: not defined")]
    assert said == [NA_LINE + "; the SSIM means are over the 1 of 2 images that have one"]


def test_a_column_of_thin_files_only_has_no_ssim_mean(tmp_path, capsys):
    for name in ("refs", "preds"):
        (tmp_path / name).mkdir()
    for seed, stem in enumerate("bc"):
        blur, sharp = _pair((6, 100), seed)
        tifffile.imwrite(tmp_path / "refs" / f"{stem}.tif", sharp)
        tifffile.imwrite(tmp_path / "preds" / f"{stem}.tif", blur)
    out = _run(capsys, tmp_path / "preds", "--reference", tmp_path / "refs")
    assert out.splitlines()[-2].rstrip().endswith("n/a")  # the mean row
    assert out.splitlines()[-1] == ("SSIM: not defined below 11 px (its window): n/a for "
                                    "b.tif, c.tif; the SSIM mean is n/a")
    assert "2 px on thin b.tif, c.tif" in out.splitlines()[0]
    mean = json.loads(_run(capsys, tmp_path / "preds", "--reference", tmp_path / "refs",
                           "--json"))["mean"][0]
    assert mean["ssim"] is None and mean["ssim_files"] == 0 and mean["psnr"] is not None
