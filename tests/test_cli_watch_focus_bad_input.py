"""Bad input to `microdeblur evaluate`, `focus` and `watch`: one error line, exit 2, nothing
written, the user's files untouched."""

import os

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main


def _image(seed=0, size=128):
    return np.random.default_rng(seed).random((size, size)).astype(np.float32)


def _one_error_line(capsys, *words):
    captured = capsys.readouterr()
    assert captured.out == ""  # no score, no log row
    err = captured.err.strip()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("microdeblur: error:"), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def watched(tmp_path):
    """An input folder with one settled image, and an empty output folder."""
    in_dir, out_dir = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    out_dir.mkdir()
    tifffile.imwrite(in_dir / "a.tif", _image())
    os.utime(in_dir / "a.tif", (0, 0))  # settled long ago
    return in_dir, out_dir


# ----------------------------------------------------------------------------- focus


def test_focus_tile_larger_than_the_image_is_the_whole_plane(tmp_path, capsys):
    path = tmp_path / "blur.tif"
    tifffile.imwrite(path, _image())
    # before: padded to 100000 x 100000 px and failed allocating ~40 GB
    assert main(["focus", str(path), "--tile", "100000"]) == 0
    tiled = capsys.readouterr().out
    assert main(["focus", str(path)]) == 0
    whole = capsys.readouterr().out
    assert tiled.startswith("(0, 0): ")
    # the score is the first word after the colon (a label such as "blank (no structure)"
    # may follow it)
    score_tiled = float(tiled.split(":")[-1].split()[0])
    score_whole = float(whole.split("focus score")[-1].split()[0])
    assert score_tiled == pytest.approx(score_whole, rel=1e-4)


def test_focus_tile_larger_than_one_axis_only():
    from napari_microdeblur.core.focus import focus_score

    image = np.random.default_rng(1).random((40, 128)).astype(np.float32)
    scores = focus_score(image, tile=64)
    assert scores.shape == (1, 2)
    assert np.all(np.isfinite(scores))


@pytest.mark.parametrize("tile", ["0", "-5"])
def test_focus_refuses_a_non_positive_tile_before_reading(tmp_path, capsys, tile):
    missing = tmp_path / "not_there.tif"  # the option is checked before the file is read
    assert main(["focus", str(missing), "--tile", tile]) == 2
    _one_error_line(capsys, "tile", "at least")


# ----------------------------------------------------------------------------- evaluate


@pytest.mark.parametrize("which", ["prediction", "reference"])
def test_evaluate_refuses_nan_and_names_the_file(tmp_path, capsys, which):
    good, bad = tmp_path / "sharp.tif", tmp_path / "nan_img.tif"
    tifffile.imwrite(good, _image())
    image = _image()
    image[3, 4] = np.nan
    tifffile.imwrite(bad, image)
    pred, ref = (bad, good) if which == "prediction" else (good, bad)
    assert main(["evaluate", str(pred), "--reference", str(ref)]) == 2
    line = _one_error_line(capsys)
    assert which in line and "nan_img.tif" in line and "NaN" in line and "replace" in line


def test_evaluate_nan_prints_no_score(tmp_path, capsys):
    good, bad = tmp_path / "sharp.tif", tmp_path / "nan_img.tif"
    tifffile.imwrite(good, _image())
    image = _image()
    image[0, 0] = np.inf
    tifffile.imwrite(bad, image)
    assert main(["evaluate", str(bad), "--reference", str(good), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("microdeblur: error: prediction")


def test_evaluate_refuses_a_negative_border_before_reading(tmp_path, capsys):
    missing = tmp_path / "not_there.tif"
    assert main(["evaluate", str(missing), "--reference", str(missing), "--border", "-1"]) == 2
    _one_error_line(capsys, "--border")


# ----------------------------------------------------------------------------- watch


def test_watch_refuses_a_nan_psf_once_before_writing(tmp_path, watched, capsys):
    in_dir, out_dir = watched
    psf = np.ones((9, 9), np.float32)
    psf[4, 4] = np.nan
    tifffile.imwrite(tmp_path / "psf_nan.tif", psf)
    before = (in_dir / "a.tif").read_bytes()
    assert main(["watch", str(in_dir), str(out_dir), "--once", "--threshold", "1e9",
                 "--method", "wiener", "--psf", str(tmp_path / "psf_nan.tif")]) == 2
    line = _one_error_line(capsys, "psf_nan.tif", "NaN")
    assert "a.tif" not in line  # the PSF is at fault, not the image
    assert _listing(out_dir) == []
    assert (in_dir / "a.tif").read_bytes() == before


@pytest.mark.parametrize("options, words", [
    (["--threshold", "nan"], ["--threshold", "finite"]),
    (["--threshold", "inf"], ["--threshold", "finite"]),
    (["--threshold", "1", "--poll", "-1"], ["--poll", "> 0"]),
    (["--threshold", "1", "--poll", "0"], ["--poll", "> 0"]),
    (["--threshold", "1", "--poll", "nan"], ["--poll"]),
    (["--threshold", "1", "--settle", "nan"], ["--settle"]),
    (["--threshold", "1", "--settle", "-1"], ["--settle"]),
    (["--calibrate", "good", "--percentile", "150"], ["--percentile"]),
])
def test_watch_refuses_bad_numbers_before_writing(watched, capsys, options, words):
    in_dir, out_dir = watched
    assert main(["watch", str(in_dir), str(out_dir), "--once", *options]) == 2
    _one_error_line(capsys, *words)
    assert _listing(out_dir) == []  # before: --poll -1 left microdeblur_watch.csv
    assert _listing(in_dir) == ["a.tif"]


@pytest.mark.parametrize("spelling", ["same", "same_dotdot"])
def test_watch_refuses_the_watched_folder_as_output(watched, capsys, spelling):
    in_dir, _ = watched
    out = in_dir if spelling == "same" else in_dir / ".." / in_dir.name
    assert main(["watch", str(in_dir), str(out), "--once", "--threshold", "1e9",
                 "--method", "wiener", "--psf", "gaussian:2"]) == 2
    _one_error_line(capsys, "output folder", "watched folder")
    assert _listing(in_dir) == ["a.tif"]  # before: microdeblur_watch.csv landed here


def test_watch_into_a_subfolder_of_the_watched_one_works(watched, capsys):
    in_dir, _ = watched
    sub = in_dir / "done"
    sub.mkdir()
    # the watcher lists only the folder's own files, so its outputs are not picked up again
    assert main(["watch", str(in_dir), str(sub), "--once", "--threshold", "1e-12", "-q"]) == 0
    assert _listing(sub) == ["a.tif", "microdeblur_watch.csv"]
    assert _listing(in_dir) == ["a.tif", "done"]


@pytest.mark.parametrize("which", ["output", "input"])
def test_watch_says_a_file_is_not_a_folder(tmp_path, capsys, which):
    folder, afile = tmp_path / "emptydir", tmp_path / "afile"
    folder.mkdir()
    afile.write_text("x")
    dirs = [folder, afile] if which == "output" else [afile, folder]
    assert main(["watch", *map(str, dirs), "--once", "--threshold", "1"]) == 2
    _one_error_line(capsys, which, "'" + str(afile) + "' is a file, not a folder")
    assert afile.read_text() == "x"
    assert _listing(folder) == []
