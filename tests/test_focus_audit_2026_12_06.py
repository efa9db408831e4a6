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


# --- blank planes (2026-12-06, h24): a plane of background noise only, beyond the sample or a
# shutter glitch, scored near 0 and made every stack holding one soft, whatever its focus


def _noisy(image, seed):
    noise = np.random.default_rng(seed + 100).normal(0, 3, image.shape)
    return np.clip(image + noise, 0, 255)


def _background(seed=7):
    return np.clip(20 + np.random.default_rng(seed).normal(0, 3, (96, 96)), 0, 255)


def _stack(soft, seed=0):
    planes = [_noisy(ndi.gaussian_filter(_texture(k), 3) if soft else _texture(k), k)
              for k in range(seed, seed + 4)]
    return np.stack(planes + [_background(seed)]).astype(np.uint8)


def _write_stack(path, stack):
    tifffile.imwrite(path, stack, photometric="minisblack", metadata={"axes": "ZYX"})


def test_a_blank_plane_does_not_make_a_sharp_stack_soft(folders, capsys):
    """Measured (96 px texture, noise sigma 3, background plane at 20): sharp planes score
    3.1e-3..4.0e-3, soft (3 px blur) 3.9e-4..5.3e-4, the background plane 2.3e-4; at a
    threshold of 1e-3 the sharp stack + blank plane was 'deblurred' (score 2.3e-4), now
    'copied' (3.1e-3); the soft stack + blank plane stays 'deblurred' (3.9e-4)."""
    src, out, _ = folders
    sharp, soft = _stack(soft=False), _stack(soft=True)
    _write_stack(src / "sharp.tif", sharp)
    _write_stack(src / "soft.tif", soft)
    assert _watch(src, out, "--threshold", "1e-3", "--axes", "ZYX") == 0
    rows = _rows(out)
    assert rows["sharp.tif"]["decision"] == "copied"  # was 'deblurred'
    assert float(rows["sharp.tif"]["score"]) == pytest.approx(
        focus_score(sharp[:4], axes="ZYX").min(), rel=1e-5)
    assert rows["soft.tif"]["decision"] == "deblurred"
    assert float(rows["soft.tif"]["score"]) == pytest.approx(
        focus_score(soft[:4], axes="ZYX").min(), rel=1e-5)


def test_a_blank_frame_or_stack_is_copied_and_logged_blank(folders, capsys):
    src, out, _ = folders
    tifffile.imwrite(src / "empty field.tif", _background().astype(np.uint8))
    _write_stack(src / "dark stack.tif", np.stack([_background(s) for s in range(3)])
                 .astype(np.uint8))
    assert _watch(src, out, "--threshold", "1e-3") == 0  # the files' own axes
    rows = _rows(out)
    for name in ("empty field.tif", "dark stack.tif"):  # were 'deblurred' (score 2.3e-4)
        assert rows[name]["decision"] == "blank" and rows[name]["method"] == ""
        assert (out / name).read_bytes() == (src / name).read_bytes()
        assert not any(out.glob(f"{name[:-4]}_deblurred*"))
    err = capsys.readouterr().err
    assert err.count("blank (every plane is background noise only)") == 2


def test_a_restart_knows_the_output_of_a_blank_file(folders):
    """A 'blank' row's copy is owned by its file across a restart (as a 'copied' row's is), so
    a later file whose result would overwrite it is logged 'name clash'; old logs hold no
    'blank' rows and read as before."""
    _, out, _ = folders
    log = out / cli_watch.WATCH_LOG
    with open(log, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=cli_watch.WATCH_COLUMNS)
        writer.writeheader()
        writer.writerow({"name": "x_deblurred.tif", "score": "0.0002", "decision": "blank",
                         "method": "", "seconds": "0.01", "size": "1", "mtime_ns": "1"})
        writer.writerow({"name": "y.tif", "score": "0.01", "decision": "copied",
                         "method": "", "seconds": "0.01", "size": "1", "mtime_ns": "1"})
    done, owners, failed = cli_watch._read_log(log, out)
    assert done == {"x_deblurred.tif", "y.tif"} and failed == {}
    assert owners == {"x_deblurred.tif": "x_deblurred.tif", "y.tif": "y.tif"}


def test_calibration_judges_good_images_by_their_planes_with_structure(folders, capsys):
    """Before: a good stack's blank plane set its score (2.2e-4 instead of 3.0e-3), and an
    image of background noise only was counted as a good image."""
    src, out, good = folders
    stacks = [_stack(soft=False, seed=s) for s in (0, 4)]
    for k, stack in enumerate(stacks):
        _write_stack(good / f"good{k}.tif", stack)
    tifffile.imwrite(good / "empty field.tif", _background().astype(np.uint8))
    assert _watch(src, out, "--calibrate", str(good), "--percentile", "0") == 0
    captured = capsys.readouterr()
    threshold = float(captured.out.split()[1].rstrip(":"))
    lowest = min(focus_score(s[:4], axes="ZYX").min() for s in stacks)
    assert threshold == pytest.approx(lowest, rel=1e-5)
    assert "empty field.tif" in captured.err and "background noise only" in captured.err
    assert "of 2 known-good images" in captured.out
