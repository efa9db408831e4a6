"""Defects of the command line found by the fourth 2026-12-04 audit: deblur (one file, a
folder, watch) dropped a PNG's or TIFF's alpha channel, and ran a gray + alpha image's alpha
as a second channel; `evaluate` of a stack with one plane equal to the reference gave an
infinite PSNR; `watch` never tried a failed file again, even once it was replaced."""

import csv
import json
import os

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur import cli_watch
from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.inference import ALPHA_NOTE, GRAY_ALPHA_NOTE, deblur

PSF = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu"]
WIENER = dict(method="wiener", psf="gaussian:1.5", balance=0.01, device="cpu")


def _texture(seed=0, shape=(64, 64)) -> np.ndarray:
    image = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), 1.5)
    return ((image - image.min()) / np.ptp(image) * 200 + 20).astype(np.uint8)


def _with_alpha(colours: np.ndarray) -> np.ndarray:
    """``colours`` (Y, X) or (Y, X, 3) with an alpha sample that varies."""
    alpha = np.full(colours.shape[:2], 255, np.uint8)
    alpha[:, :20] = 40
    return np.concatenate([colours.reshape(*colours.shape[:2], -1), alpha[..., None]], -1)


RGBA = _with_alpha(np.stack([_texture(i) for i in range(3)], -1))
GRAY_ALPHA = _with_alpha(_texture(5))


def _check_alpha_kept(out: np.ndarray, image: np.ndarray) -> None:
    """``out`` has ``image``'s samples: its alpha as it was, its colours deblurred as the
    Python API deblurs them."""
    assert out.shape == image.shape  # was (64, 64, 3) for RGBA, (64, 64) for gray + alpha
    np.testing.assert_array_equal(out[..., -1], image[..., -1])
    expected = deblur(image, axes="YXS", **WIENER)
    np.testing.assert_allclose(out[..., :-1], expected[..., :-1], rtol=1e-5, atol=1e-3)


# ----------------------------------------------------------------------------- 1, 2: alpha


@pytest.mark.parametrize("image, note", [(RGBA, ALPHA_NOTE), (GRAY_ALPHA, GRAY_ALPHA_NOTE)],
                         ids=["rgba", "gray_alpha"])
def test_deblur_keeps_a_pngs_alpha(tmp_path, capsys, image, note):
    iio.imwrite(tmp_path / "in.png", image)
    assert main(["deblur", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.tif"), *PSF,
                 "-q"]) == 0
    _check_alpha_kept(tifffile.imread(tmp_path / "out.tif"), image)
    err = capsys.readouterr().err
    assert note in err and "alpha channel dropped" not in err
    # the output reads back with its alpha marked as alpha
    assert io.read_image(tmp_path / "out.tif", keep_alpha=True).axes == "YXS"


@pytest.mark.parametrize("image", [RGBA, GRAY_ALPHA], ids=["rgba", "gray_alpha"])
def test_deblur_keeps_a_marked_tiff_alpha(tmp_path, image):
    tifffile.imwrite(tmp_path / "in.tif", image, extrasamples=["unassalpha"],
                     photometric="rgb" if image.shape[-1] == 4 else "minisblack",
                     planarconfig="contig")
    assert main(["deblur", str(tmp_path / "in.tif"), "-o", str(tmp_path / "out.tif"), *PSF,
                 "-q"]) == 0
    _check_alpha_kept(tifffile.imread(tmp_path / "out.tif"), image)


def test_a_folder_batch_keeps_each_files_alpha(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    iio.imwrite(src / "rgba.png", RGBA)
    iio.imwrite(src / "la.png", GRAY_ALPHA)
    assert main(["deblur", str(src), "-o", str(out), *PSF, "-q"]) == 0
    _check_alpha_kept(tifffile.imread(out / "rgba_deblurred.tif"), RGBA)
    _check_alpha_kept(tifffile.imread(out / "la_deblurred.tif"), GRAY_ALPHA)
    err = capsys.readouterr().err
    assert f"la.png: {GRAY_ALPHA_NOTE}" in err and f"rgba.png: {ALPHA_NOTE}" in err


def test_watch_keeps_alpha_and_scores_the_colours_only(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    iio.imwrite(src / "rgba.png", RGBA)
    iio.imwrite(src / "la.png", GRAY_ALPHA)
    assert main(["watch", str(src), str(out), "--threshold", "1e9", "--once", "--settle", "0",
                 *PSF, "-q"]) == 0
    _check_alpha_kept(tifffile.imread(out / "rgba_deblurred.tif"), RGBA)
    _check_alpha_kept(tifffile.imread(out / "la_deblurred.tif"), GRAY_ALPHA)
    assert main(["focus", str(src / "la.png")]) == 0  # its alpha dropped: the gray's score
    score = capsys.readouterr().out.split("focus score")[1].strip()
    assert _log(out)["la.png"]["score"] == score


def test_unmarked_extra_samples_are_still_two_deblurred_channels(tmp_path):
    """Only an alpha the file marks is passed through: two channels saved (Y, X, 2) are both
    deblurred."""
    image = np.stack([_texture(1), _texture(2)], -1)
    tifffile.imwrite(tmp_path / "c2.tif", image, photometric="minisblack",
                     planarconfig="contig")
    assert main(["deblur", str(tmp_path / "c2.tif"), "-o", str(tmp_path / "o.tif"), *PSF,
                 "-q"]) == 0
    out = tifffile.imread(tmp_path / "o.tif")
    np.testing.assert_allclose(out, deblur(image, axes="YXC", **WIENER), rtol=1e-5, atol=1e-3)


def test_degrade_of_two_unmarked_channels_writes_no_alpha(tmp_path):
    """A 2-sample output is marked as gray + alpha; degrade's two channels are not alpha."""
    image = np.stack([_texture(1), _texture(2)], -1)
    tifffile.imwrite(tmp_path / "c2.tif", image, photometric="minisblack",
                     planarconfig="contig")
    assert main(["degrade", str(tmp_path / "c2.tif"), "-o", str(tmp_path / "d.tif"),
                 "--protocol", "A", "-q"]) == 0
    assert io.read_image(tmp_path / "d.tif", keep_alpha=True).axes == "YXC"


# ----------------------------------------------------------------------------- 3: evaluate


def test_evaluate_json_of_a_stack_with_one_identical_plane(tmp_path, capsys):
    reference = np.stack([_texture(i) for i in range(3)])
    prediction = reference.astype(np.float32)
    prediction[1:] += np.random.default_rng(0).normal(0, 5, (2, 64, 64)).astype(np.float32)
    tifffile.imwrite(tmp_path / "ref.tif", reference, photometric="minisblack")
    tifffile.imwrite(tmp_path / "pred.tif", prediction, photometric="minisblack")
    args = ["evaluate", str(tmp_path / "pred.tif"), "--reference", str(tmp_path / "ref.tif"),
            "--json"]
    assert main(args) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["identical"] is False
    assert scores["psnr_per_slice"][0] is None  # that plane alone: no difference to measure
    assert 20 < scores["psnr"] < 60 and 20 < scores["psnr_whole"] < 60  # were null (inf)
    tifffile.imwrite(tmp_path / "pred.tif", reference, photometric="minisblack")
    assert main(args) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["identical"] is True and scores["psnr"] is None


# ----------------------------------------------------------------------------- 4: watch retry


def _log(out) -> dict:
    """The last row of each name (a retried file has two)."""
    with open(out / cli_watch.WATCH_LOG, newline="") as f:
        return {row["name"]: row for row in csv.DictReader(f)}


def _rows(out) -> list[dict]:
    with open(out / cli_watch.WATCH_LOG, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def folders(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    tifffile.imwrite(src / "small.tif", _texture(1, (16, 16)))  # smaller than the PSF: fails
    (src / "broken.tif").write_bytes(b"II*\x00not a tiff")  # unreadable
    return src, out


WATCH = ["--threshold", "1e9", "--once", "--settle", "0", "--method", "wiener", "--psf",
         "gaussian:3", "--balance", "0.01", "--device", "cpu", "-q"]


def test_watch_retries_a_failed_file_once_it_is_replaced_across_a_restart(folders, capsys):
    src, out = folders
    assert main(["watch", str(src), str(out), *WATCH]) == 2
    assert {n: r["decision"] for n, r in _log(out).items()} == {
        "small.tif": "failed", "broken.tif": "unreadable"}
    capsys.readouterr()
    # unchanged: a restart does not try them again
    assert main(["watch", str(src), str(out), *WATCH]) == 0
    assert len(_rows(out)) == 2 and "retried" not in capsys.readouterr().err
    # replaced by fixed files (another size): tried again, and done
    tifffile.imwrite(src / "small.tif", _texture(1))
    tifffile.imwrite(src / "broken.tif", _texture(2))
    assert main(["watch", str(src), str(out), *WATCH]) == 0
    err = capsys.readouterr().err
    assert "small.tif: changed since its last try failed; retried" in err
    assert "broken.tif: changed since its last try failed; retried" in err
    assert {n: r["decision"] for n, r in _log(out).items()} == {
        "small.tif": "deblurred", "broken.tif": "deblurred"}
    assert (out / "small_deblurred.tif").exists() and (out / "broken_deblurred.tif").exists()
    assert len(_rows(out)) == 4
    # done now: not tried again while unchanged; touched (a new modification time), it is
    # processed again, as a file written again under its name is
    assert main(["watch", str(src), str(out), *WATCH]) == 0
    assert len(_rows(out)) == 4
    os.utime(src / "small.tif", ns=(1, 1))
    capsys.readouterr()
    assert main(["watch", str(src), str(out), *WATCH]) == 0
    assert len(_rows(out)) == 5
    assert "small.tif: changed since it was processed" in capsys.readouterr().err


def test_watch_retries_a_changed_failed_file_while_it_runs(folders, monkeypatch, capsys):
    """Without a restart: the file is fixed between two scans; an unchanged failure is not
    tried again at every scan."""
    src, out = folders
    scans = []

    def between_scans(seconds):
        scans.append(seconds)
        if len(scans) == 2:  # the second scan retried nothing: fix one file now
            tifffile.imwrite(src / "small.tif", _texture(1))
        if len(scans) == 4:
            raise KeyboardInterrupt  # Ctrl-C: the watch stops

    monkeypatch.setattr(cli_watch.time, "sleep", between_scans)
    args = [a for a in WATCH if a != "--once"]
    assert main(["watch", str(src), str(out), *args]) == 130  # stopped by Ctrl-C
    rows = _rows(out)
    assert [(r["name"], r["decision"]) for r in rows] == [
        ("broken.tif", "unreadable"), ("small.tif", "failed"), ("small.tif", "deblurred")]
    assert capsys.readouterr().err.count("retried") == 1


def test_watch_reads_a_log_written_before_the_stamp_columns(folders, capsys):
    """An older log (no size, mtime_ns) is upgraded; its failures are retried once changed."""
    src, out = folders
    with open(out / cli_watch.WATCH_LOG, "w", newline="") as f:
        f.write("name,score,decision,method,seconds\nsmall.tif,,failed,,\n")
    (src / "broken.tif").unlink()
    assert main(["watch", str(src), str(out), *WATCH]) == 0
    assert len(_rows(out)) == 1  # unchanged since it was seen: not tried again
    with open(out / cli_watch.WATCH_LOG, newline="") as f:
        assert tuple(next(csv.reader(f))) == cli_watch.WATCH_COLUMNS
    tifffile.imwrite(src / "small.tif", _texture(1))
    assert main(["watch", str(src), str(out), *WATCH]) == 0
    assert _log(out)["small.tif"]["decision"] == "deblurred"
    assert "small.tif: changed since its last try failed; retried" in capsys.readouterr().err
