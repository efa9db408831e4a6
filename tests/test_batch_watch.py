"""Batch deblurring (directories, globs, resumable), `focus` and `watch` on the command line."""

import csv
import json

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core.degrade import degrade
from napari_microdeblur.core.focus import focus_score

PSF = [
    "--method",
    "richardson_lucy",
    "--psf",
    "gaussian:1.6",
    "--iterations",
    "5",
    "--device",
    "cpu",
    "-q",
]


@pytest.fixture
def folder(tmp_path, fluo_u8, fluo_u16):
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "a.tif", fluo_u8)
    tifffile.imwrite(src / "b.tif", fluo_u16)
    tifffile.imwrite(src / "c.tif", degrade(fluo_u8, "A", seed=0))
    out = tmp_path / "out"
    out.mkdir()
    return src, out


def test_directory_batch_is_resumable(folder):
    src, out = folder
    assert main(["deblur", str(src), "-o", str(out), *PSF]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a_deblurred.tif", "b_deblurred.tif", "c_deblurred.tif"]
    # an interrupted run is simulated by removing one output: a rerun does only that one
    before = {n: (out / n).stat().st_mtime_ns for n in names}
    (out / "b_deblurred.tif").unlink()
    assert main(["deblur", str(src), "-o", str(out), *PSF]) == 0
    assert (out / "b_deblurred.tif").exists()
    for n in ("a_deblurred.tif", "c_deblurred.tif"):
        assert (out / n).stat().st_mtime_ns == before[n]  # finished outputs left alone


def test_glob_batch_and_errors(folder, capsys):
    src, out = folder
    assert main(["deblur", str(src / "[ab].tif"), "-o", str(out), *PSF]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_deblurred.tif", "b_deblurred.tif"]
    assert main(["deblur", str(src / "*.png"), "-o", str(out), *PSF]) == 2
    assert "matches no file" in capsys.readouterr().err
    assert main(["deblur", str(src), "-o", str(out / "x.tif"), *PSF]) == 2
    assert "output directory" in capsys.readouterr().err


def test_focus_json_for_an_image_and_a_stack(tmp_path, focus_stack, fluo_u8, capsys):
    tifffile.imwrite(tmp_path / "stack.tif", focus_stack, metadata={"axes": "ZYX"})
    assert main(["focus", str(tmp_path / "stack.tif"), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)["scores"]
    np.testing.assert_allclose(scores, focus_score(focus_stack, axes="ZYX"), rtol=1e-6)
    tifffile.imwrite(tmp_path / "one.tif", fluo_u8)
    assert main(["focus", str(tmp_path / "one.tif"), "--json", "--tile", "64"]) == 0
    assert np.asarray(json.loads(capsys.readouterr().out)["scores"]).shape == (2, 2)


def test_watch_deblurs_only_soft_files_and_restarts(folder, fluo_u8):
    src, out = folder
    (src / "broken.tif").write_bytes(b"II*\x00not a tiff")
    sharp, soft = focus_score(fluo_u8), focus_score(degrade(fluo_u8, "A", seed=0))
    threshold = str((sharp + soft) / 2)
    args = ["watch", str(src), str(out), "--threshold", threshold, "--once", "--settle", "0", *PSF]
    assert main(args) == 2
    with open(out / "microdeblur_watch.csv", newline="") as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert rows["c.tif"]["decision"] == "deblurred" and (out / "c_deblurred.tif").exists()
    assert rows["a.tif"]["decision"] == "copied"
    np.testing.assert_array_equal(tifffile.imread(out / "a.tif"), fluo_u8)
    assert rows["broken.tif"]["decision"] == "unreadable"
    # a new file arrives; a restart processes only it
    tifffile.imwrite(src / "d.tif", degrade(fluo_u8, "B", seed=1))
    assert main(args) == 0
    with open(out / "microdeblur_watch.csv", newline="") as f:
        names = [r["name"] for r in csv.DictReader(f)]
    assert sorted(names) == ["a.tif", "b.tif", "broken.tif", "c.tif", "d.tif"]
    assert not any(p.name.endswith(".partial") for p in out.iterdir())


def test_watch_calibrates_from_good_images(folder, tmp_path, fluo_u8, capsys):
    src, out = folder
    good = tmp_path / "good"
    good.mkdir()
    tifffile.imwrite(good / "g1.tif", fluo_u8)
    tifffile.imwrite(good / "g2.tif", fluo_u8[::-1])
    assert (
        main(
            ["watch", str(src), str(out), "--calibrate", str(good), "--once", "--settle", "0", *PSF]
        )
        == 0
    )
    assert "known-good images" in capsys.readouterr().out
    assert main(["watch", str(src), str(out), "--once"]) == 2
    assert "exactly one of" in capsys.readouterr().err


def test_a_corrupt_file_among_many_is_logged_and_skipped(folder, capsys):
    src, out = folder
    (src / "broken.tif").write_bytes(b"II*\x00" + b"\x07" * 200)  # a TIFF header, then garbage
    assert main(["deblur", str(src), "-o", str(out), *PSF]) == 2  # says some failed
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a_deblurred.tif", "b_deblurred.tif", "c_deblurred.tif"]
    assert "broken.tif" in capsys.readouterr().err


def test_a_full_disk_removes_the_partial_output_and_says_so(folder, monkeypatch, capsys):
    import errno

    from napari_microdeblur.core import io_write

    src, out = folder

    def full(self, key, value):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io_write.TiffWriteArray, "__setitem__", full)
    assert main(["deblur", str(src / "a.tif"), "-o", str(out / "a.tif"), *PSF]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert list(out.iterdir()) == []  # no partial output left behind
