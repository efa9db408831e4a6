"""`microdeblur watch` as an acquisition pipeline (score focus, deblur only below a threshold),
from a walkthrough on BBBC006, the DFNN mitochondria stack and sephace brightfield:
--calibrate put the threshold at the good images' 5th percentile, about the lowest of a few,
so an in-focus field scoring a little lower was deblurred (now --margin, default 1 as before,
a warning about few images, and --calibrate-bad); a file unlike the calibration images was judged
silently; a file copied in chunks slower than --settle was logged 'unreadable' before it was
done; `info` showed no focus record; Ctrl-C dropped the file being deblurred."""

import csv
import io as stdio
import math
import os
import signal
import time

import numpy as np
import pytest
import tifffile
from PIL import Image
from scipy import ndimage

from napari_microdeblur import cli_watch
from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.focus import calibrate_threshold, focus_score

WIENER = ["--method", "wiener", "--psf", "gaussian:1", "--device", "cpu", "-q"]


def _field(seed: int, blur: float = 0.0, n: int = 96) -> np.ndarray:
    """A uint16 fluorescence-like field: spots on a dark background, ``blur`` px more blur."""
    rng = np.random.default_rng(seed)
    image = np.zeros((n, n))
    spots = rng.integers(0, n, (60, 2))
    image[spots[:, 0], spots[:, 1]] = rng.uniform(0.5, 1, 60)
    image = ndimage.gaussian_filter(image, 1.2 + blur)
    image = image / image.max() * 3000 + 100 + rng.normal(0, 3, (n, n))
    return image.clip(0).astype(np.uint16)


def _rows(out) -> list[dict]:
    with open(out / cli_watch.WATCH_LOG, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def dirs(tmp_path):
    made = [tmp_path / d for d in ("in", "out", "good", "soft")]
    for d in made:
        d.mkdir()
    return made


# ------------------------------------------------------------------ 1: calibration margin


def test_calibrate_threshold_margin_and_soft_images():
    assert calibrate_threshold([1.0, 2.0, 3.0], percentile=50) == 2.0  # margin 1: as before
    assert calibrate_threshold([1.0, 2.0, 3.0], percentile=50, margin=0.4) == pytest.approx(0.8)
    between = calibrate_threshold([4.0, 8.0], percentile=0, bad_scores=[0.01, 0.04])
    assert between == pytest.approx(math.sqrt(4.0 * 0.04))
    with pytest.raises(ValueError, match="margin"):
        calibrate_threshold([1.0], margin=0)
    with pytest.raises(ValueError, match="soft"):
        calibrate_threshold([1.0], bad_scores=[])


def test_an_in_focus_field_scoring_a_little_below_few_good_ones_is_copied(dirs, capsys):
    """Before: the threshold was the percentile itself, about the lowest of 2 good images,
    and a sharp field scoring 0.8 x it was deblurred, with no word about so few images."""
    src, out, good, _ = dirs
    for seed in (1, 2):
        tifffile.imwrite(good / f"g{seed}.tif", _field(seed))
    sharp, soft = _field(0), _field(3, blur=3)
    lowest = calibrate_threshold([focus_score(_field(s)) for s in (1, 2)])
    assert 0.4 * lowest < focus_score(sharp) < lowest  # what this test is about
    tifffile.imwrite(src / "sharp.tif", sharp)
    tifffile.imwrite(src / "soft.tif", soft)
    assert main(["watch", str(src), str(out), "--calibrate", str(good), "--once",
                 "--settle", "0", "--margin", "0.4", *WIENER]) == 0
    captured = capsys.readouterr()
    assert {r["name"]: r["decision"] for r in _rows(out)} == {"sharp.tif": "copied",
                                                               "soft.tif": "deblurred"}
    assert "warning: 2 known-good images" in captured.err and "--calibrate-bad" in captured.err
    assert f"threshold {0.4 * lowest:.6g}: 0.4 x percentile 5.0 of 2" in captured.out
    origin = io.read_image(out / "soft_deblurred.tif").metadata["microdeblur"]["focus"][
        "threshold_from"]
    assert origin["margin"] == 0.4


def test_calibrate_bad_puts_the_threshold_between_the_groups(dirs, capsys):
    src, out, good, bad = dirs
    for seed in (1, 2):
        tifffile.imwrite(good / f"g{seed}.tif", _field(seed))
        tifffile.imwrite(bad / f"b{seed}.tif", _field(seed + 4, blur=3))
    tifffile.imwrite(src / "soft.tif", _field(3, blur=3))
    assert main(["watch", str(src), str(out), "--calibrate", str(good), "--calibrate-bad",
                 str(bad), "--once", "--settle", "0", *WIENER]) == 0
    good_low = np.percentile([focus_score(_field(s)) for s in (1, 2)], 5)
    bad_high = np.percentile([focus_score(_field(s + 4, blur=3)) for s in (1, 2)], 95)
    focus = io.read_image(out / "soft_deblurred.tif").metadata["microdeblur"]["focus"]
    assert focus["threshold"] == pytest.approx(math.sqrt(good_low * bad_high), rel=1e-5)
    assert focus["threshold_from"]["bad_folder"] == "soft"
    assert focus["threshold_from"]["bad_images"] == 2
    assert "their geometric mean" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "said"), [
    (["--threshold", "1", "--calibrate-bad", "x"], "--calibrate-bad SOFT_DIR goes with"),
    (["--calibrate", "g", "--margin", "0"], "--margin 0: give a number > 0 and <= 1"),
    (["--calibrate", "g", "--margin", "nan"], "--margin nan"),
    (["--calibrate", "g", "--calibrate-bad", "b", "--margin", "0.5"], "not used with"),
])
def test_margin_and_calibrate_bad_are_checked_first(dirs, argv, said, capsys):
    src, out, _, _ = dirs
    assert main(["watch", str(src), str(out), *argv, "--once"]) == 2
    assert said in capsys.readouterr().err
    assert not any(out.iterdir())


# ------------------------------------------------------- 2: unlike the calibration images


def test_a_file_unlike_the_calibration_images_is_said_once_per_kind(dirs, capsys):
    """Before: a uint8 brightfield crop under a threshold calibrated on uint16 fluorescence,
    and a 32 x 32 crop, were deblurred without a word."""
    src, out, good, _ = dirs
    for seed in (1, 2):
        tifffile.imwrite(good / f"g{seed}.tif", _field(seed, n=128))
    light = (255 - _field(5, blur=3, n=128) // 16).astype(np.uint8)  # light background, uint8
    tifffile.imwrite(src / "a_light.tif", light)
    tifffile.imwrite(src / "b_light.tif", light[::-1])
    tifffile.imwrite(src / "c_tiny.tif", _field(6, blur=3, n=128)[:32, :32])
    tifffile.imwrite(src / "d_alike.tif", _field(7, blur=3, n=128))
    assert main(["watch", str(src), str(out), "--calibrate", str(good), "--once",
                 "--settle", "0", *WIENER]) == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if "unlike the calibration" in x]
    assert len(lines) == 2, lines  # b_light: the same kinds, not said again; d_alike: none
    assert "a_light.tif" in lines[0] and "dtype uint8 (calibration: uint16)" in lines[0]
    assert "background light (calibration: dark)" in lines[0]
    assert "c_tiny.tif" in lines[1] and "plane 32 x 32 px (calibration: 128-128" in lines[1]
    record = io.read_image(out / "b_light_deblurred.tif").metadata["microdeblur"]["focus"]
    assert any("uint8" in d for d in record["unlike_calibration"])
    alike = io.read_image(out / "d_alike_deblurred.tif").metadata["microdeblur"]["focus"]
    assert "unlike_calibration" not in alike


# --------------------------------------------------- 3: a file still being written, unread


def _png_bytes(image) -> bytes:
    buffer = stdio.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _age(path, seconds):
    then = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(then, then))


@pytest.mark.parametrize("once", [False, True])
def test_a_half_written_file_is_waited_for_not_logged_unreadable(dirs, monkeypatch, capsys,
                                                                 once):
    """A PNG written in 3 chunks with pauses longer than --settle: logged 'unreadable' at each
    pause, then processed (two wrong rows; with --once, exit 2 before it was done); said once."""
    src, out, _, _ = dirs
    data = _png_bytes(_field(1))
    target = src / "slow.png"
    target.write_bytes(data[: len(data) // 3])
    _age(target, 3)  # settled (--settle 2), but changed 3 s ago: within 5 x --settle
    scans = []

    def between_scans(seconds):
        scans.append(seconds)
        if len(scans) in (2, 4):  # the writer's next chunks, 4 s apart
            target.write_bytes(data[: len(data) * len(scans) // 4 + 1])
            _age(target, 3)
        if len(scans) == 6 and not once:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_watch.time, "sleep", between_scans)
    argv = ["watch", str(src), str(out), "--threshold", "1e-12", "--settle", "2",
            "--poll", "0.1", *WIENER] + (["--once"] if once else [])
    assert main(argv) == (0 if once else 130)  # without --once: stopped by Ctrl-C
    assert [(r["name"], r["decision"]) for r in _rows(out)] == [("slow.png", "copied")]
    err = capsys.readouterr().err
    assert err.count("slow.png: cannot be read yet") == 1 and "unreadable" in err
    assert "incomplete" not in err  # no TIFF missing planes here
    assert (out / "slow.png").read_bytes() == data


def test_a_file_that_stays_unreadable_is_logged_so_once_unchanged(dirs, capsys):
    src, out, _, _ = dirs
    (src / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 10)
    _age(src / "junk.png", 1)
    start = time.monotonic()
    assert main(["watch", str(src), str(out), "--threshold", "1", "--settle", "0.5",
                 "--poll", "0.1", "--once", *WIENER]) == 2
    assert time.monotonic() - start > 1  # waited until unchanged for 5 x --settle (2.5 s)
    assert [(r["name"], r["decision"]) for r in _rows(out)] == [("junk.png", "unreadable")]
    assert "junk.png: unreadable, skipped: " in capsys.readouterr().err


# ---------------------------------------------------------------- 4: info shows the focus


def test_info_shows_why_watch_deblurred_a_file(dirs, capsys):
    src, out, _, _ = dirs
    tifffile.imwrite(src / "soft.tif", _field(3, blur=3))
    assert main(["watch", str(src), str(out), "--threshold", "1", "--once", "--settle", "0",
                 *WIENER]) == 0
    capsys.readouterr()
    assert main(["info", str(out / "soft_deblurred.tif")]) == 0
    said = capsys.readouterr().out
    score = focus_score(_field(3, blur=3))
    assert f"  focus: score {score:.4g}, threshold 1 (from --threshold): deblurred" in said


# --------------------------------------------------------------------- 5: Ctrl-C mid-file


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_during_a_deblur_finishes_that_file_a_second_stops_at_once(
        dirs, monkeypatch, capsys, presses):
    src, out, _, _ = dirs
    for name in ("a.tif", "b.tif"):
        tifffile.imwrite(src / name, _field(3, blur=3))
    deblur_one = cli_watch.deblur_one

    def pressed_during(*args, **kwargs):
        for _ in range(presses):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs between bytecodes
        return deblur_one(*args, **kwargs)

    monkeypatch.setattr(cli_watch, "deblur_one", pressed_during)
    before = signal.getsignal(signal.SIGINT)
    assert main(["watch", str(src), str(out), "--threshold", "1", "--settle", "0",
                 *WIENER]) == 130  # stopped by Ctrl-C, as deblur's exit code says
    assert signal.getsignal(signal.SIGINT) is before  # Python's own handler is back
    err = capsys.readouterr().err
    assert "Ctrl-C: finishing a.tif first" in err and "watch stopped" in err
    if presses == 1:  # a.tif finished and logged; b.tif not started
        assert [(r["name"], r["decision"]) for r in _rows(out)] == [("a.tif", "deblurred")]
        assert (out / "a_deblurred.tif").exists()
    else:
        assert _rows(out) == [] and not (out / "a_deblurred.tif").exists()
