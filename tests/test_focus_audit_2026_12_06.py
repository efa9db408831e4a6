"""Audit of the focus pipeline as an acquisition user runs it (2026-12-06): `microdeblur watch`
with files that vanish, names outside the locale's code page, calibration with --axes and with
a blank frame among the known-good images; and the score's invariances on synthetic images."""

import builtins
import csv
import os

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from napari_microdeblur import cli_watch
from napari_microdeblur.cli import main
from napari_microdeblur.core.focus import focus_score

PSF = ["--method", "richardson_lucy", "--psf", "gaussian:1.6", "--iterations", "3",
       "--device", "cpu", "-q"]


def _texture(seed=0, size=96):
    t = ndi.gaussian_filter(np.random.default_rng(seed).standard_normal((size, size)), 1.0)
    return (t - t.min()) / (t.max() - t.min()) * 200 + 20


def _rows(out):
    with open(out / "microdeblur_watch.csv", newline="", encoding="utf-8") as f:
        return {r["name"]: r for r in csv.DictReader(f)}


@pytest.fixture
def folders(tmp_path):
    made = [tmp_path / n for n in ("in", "out", "good")]
    for d in made:
        d.mkdir()
    return made


def _watch(src, out, *options):
    return main(["watch", str(src), str(out), "--once", "--settle", "0", *options, *PSF])


def test_a_file_gone_between_listing_and_stat_does_not_stop_the_watch(folders, monkeypatch):
    src, out, _ = folders
    tifffile.imwrite(src / "a.tif", _texture().astype(np.uint8))
    listed = cli_watch._pending
    calls = []

    def pending_with_a_ghost(*args):
        calls.append(1)  # the acquisition software renamed or deleted it meanwhile
        return listed(*args) + ([src / "ghost.tif"] if len(calls) == 1 else [])

    monkeypatch.setattr(cli_watch, "_pending", pending_with_a_ghost)
    assert _watch(src, out, "--threshold", "1e-9") == 0  # was 2: "No such file" ended it
    assert _rows(out)["a.tif"]["decision"] == "copied"


def test_the_log_is_utf8_whatever_the_locale(folders, monkeypatch):
    src, out, _ = folders
    name = "细胞 z1 µm.tif"  # outside cp1252, with spaces
    tifffile.imwrite(src / name, _texture().astype(np.uint8))

    def windows_open(*args, **kwargs):  # open() as on Windows, whose locale is cp1252
        kwargs.setdefault("encoding", "cp1252")
        return builtins.open(*args, **kwargs)

    monkeypatch.setattr(cli_watch, "open", windows_open, raising=False)
    assert _watch(src, out, "--threshold", "1e-9") == 0
    assert _rows(out)[name]["decision"] == "copied"
    assert _watch(src, out, "--threshold", "1e-9") == 0  # a restart finds it logged
    assert len(_rows(out)) == 1 and (out / name).exists()


def test_calibration_scores_the_good_images_with_the_given_axes(folders, capsys):
    src, out, good = folders
    for k in range(2):  # channel 0 sharp, 1 and 2 soft: scored per channel (YXC), min is soft
        t = _texture(k)
        image = np.stack([t, ndi.gaussian_filter(t, 2), ndi.gaussian_filter(t, 2)], -1)
        tifffile.imwrite(good / f"g{k}.tif", image.astype(np.uint8))
        tifffile.imwrite(src / f"g{k}.tif", image.astype(np.uint8))
    # percentile 0: the threshold is the lowest good score, so the good images themselves pass
    assert _watch(src, out, "--calibrate", str(good), "--percentile", "0", "--axes", "YXC") == 0
    assert {r["decision"] for r in _rows(out).values()} == {"copied"}  # were 'deblurred'


def test_a_blank_frame_among_the_good_images_is_left_out_and_named(folders, capsys):
    src, out, good = folders
    texture = _texture().astype(np.uint8)
    tifffile.imwrite(good / "good.tif", texture)
    tifffile.imwrite(good / "dark frame.tif", np.full((96, 96), 100, np.uint8))
    assert _watch(src, out, "--calibrate", str(good)) == 0
    captured = capsys.readouterr()
    threshold = float(captured.out.split()[1].rstrip(":"))
    # before: percentile 5 of (0, s) = 0.05 s, 20x below the only real good image's score
    assert threshold == pytest.approx(focus_score(texture), rel=1e-5)
    assert "dark frame.tif" in captured.err and "constant" in captured.err
    os.remove(good / "good.tif")
    assert _watch(src, out, "--calibrate", str(good)) == 2
    assert "every image there is constant" in capsys.readouterr().err


def test_score_invariances_on_synthetic_images():
    """Measured 2026-12-06 (EM-like texture, 256 px): blur 0/1/2/3/5/8 px scored 2.8e-3,
    2.0e-3, 9.3e-4, 3.6e-4, 5.6e-5, 5.8e-6; uint8/uint16/float and x0.01/x100 agree to 1e-3."""
    t = _texture(size=128)
    scores = [focus_score(ndi.gaussian_filter(t, s) if s else t) for s in (0, 1, 2, 3, 5)]
    assert all(a > b for a, b in zip(scores, scores[1:]))
    f = t / t.max()
    same = [focus_score(x) for x in (f, np.round(f * 255).astype(np.uint8),
                                      np.round(f * 65535).astype(np.uint16), f * 100)]
    assert np.allclose(same, same[0], rtol=1e-3)
    rgb = np.stack([ndi.gaussian_filter(t, s) for s in (0, 0, 0)], -1)
    assert focus_score(rgb, axes="YXS") == pytest.approx(scores[0], rel=1e-4)
