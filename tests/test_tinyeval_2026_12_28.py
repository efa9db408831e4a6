"""Scoring images under SSIM's 11 x 11 window (a walkthrough on thin strips, 2026-12-28).

``microdeblur evaluate strip.tif --reference ref.tif`` on an 8 x 1024 strip (and 3 x 2000,
5 x 5, 1 x 2000) said 'no border fits', and ``evaluate(..., border=0)`` refused too, though
PSNR is well defined for them. Now: PSNR alone, SSIM None (JSON null, 'n/a' in text, one line
saying why); a --border left at its default narrows to the widest that fits, said on one line;
a border the user gave that leaves nothing is refused with one that fits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core.metrics import evaluate


def _pair(shape, seed=0, dtype=np.uint16):
    rng = np.random.default_rng(seed)
    sharp = rng.integers(100, 3000, shape).astype(dtype)
    blur = np.clip(sharp.astype(float) + rng.normal(0, 60, shape), 0, 4000).astype(dtype)
    return blur, sharp


def _psnr(x, ref, border=0):
    """Reference-scaled PSNR (uint16: divided by the reference's maximum) by hand."""
    scale = float(ref.max())
    inner = (slice(border, ref.shape[-2] - border), slice(border, ref.shape[-1] - border))
    d = (x.astype(float)[(...,) + inner] - ref.astype(float)[(...,) + inner]) / scale
    return 10 * np.log10(1.0 / np.mean(d * d))


def _write(tmp_path, shape, seed=0, name="strip"):
    blur, sharp = _pair(shape, seed)
    pred, ref = tmp_path / f"{name}_blur.tif", tmp_path / f"{name}_sharp.tif"
    tifffile.imwrite(pred, blur)
    tifffile.imwrite(ref, sharp)
    return pred, ref, blur, sharp


@pytest.mark.parametrize("shape", [(8, 1024), (3, 200), (5, 5), (1, 200), (200, 1)])
def test_python_evaluate_scores_an_image_under_the_window_with_psnr_alone(shape):
    blur, sharp = _pair(shape)
    got = evaluate(blur, sharp, border=0)
    assert got["psnr"] == pytest.approx(_psnr(blur, sharp), abs=1e-9)
    assert got["psnr_whole"] == pytest.approx(_psnr(blur, sharp), abs=1e-9)
    assert got["ssim"] is None and got["ssim_whole"] is None


def test_python_evaluate_excludes_a_border_that_fits_a_thin_strip():
    blur, sharp = _pair((8, 1024))
    got = evaluate(blur, sharp, border=3)
    assert got["psnr"] == pytest.approx(_psnr(blur, sharp, border=3), abs=1e-9)
    assert got["psnr_whole"] == pytest.approx(_psnr(blur, sharp), abs=1e-9)
    assert got["ssim"] is None


def test_python_evaluate_refuses_a_border_leaving_nothing_with_one_that_fits():
    blur, sharp = _pair((8, 1024))
    with pytest.raises(ValueError, match=r"border=4 leaves 0 x 1016 px .* give border=3 or "
                                         r"less \(an image under SSIM's 11 x 11 window"):
        evaluate(blur, sharp, border=4)
    with pytest.raises(ValueError, match=r"give border=0 \("):
        evaluate(*_pair((1, 64)), border=16)
    # an image that has an SSIM keeps today's refusal and advice
    with pytest.raises(ValueError, match=r"less than SSIM's 11 x 11 window; give border=4 or "
                                         "less$"):
        evaluate(*_pair((20, 256)), border=5)


def test_python_evaluate_stack_of_thin_planes_has_per_slice_psnr_and_null_ssim():
    blur, sharp = _pair((3, 6, 64))
    got = evaluate(blur, sharp, border=1, axes="ZYX")
    assert got["ssim_per_slice"] == [None, None, None]
    assert got["psnr_per_slice"][1] == pytest.approx(
        10 * np.log10(1 / np.mean(((blur[1, 1:-1, 1:-1].astype(float)
                                    - sharp[1, 1:-1, 1:-1]) / sharp.max()) ** 2)), abs=1e-9)


def test_cli_default_border_narrows_on_a_thin_strip_and_says_so(tmp_path, capsys):
    pred, ref, blur, sharp = _write(tmp_path, (8, 1024))
    assert main(["evaluate", str(pred), "--reference", str(ref)]) == 0
    out, err = capsys.readouterr()
    assert "no border fits" not in err
    assert "too small for the default 16-px border: a 3-px border is used" in err
    assert len([line for line in err.splitlines() if "border is used" in line]) == 1
    assert f"PSNR {_psnr(blur, sharp, 3):.2f} dB, SSIM n/a (3-px border excluded" in out
    assert "SSIM: not defined below 11 px (its window)" in out.splitlines()
    assert main(["evaluate", str(pred), "--reference", str(ref), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["ssim"] is None and got["ssim_whole"] is None
    assert got["psnr"] == pytest.approx(_psnr(blur, sharp, 3), abs=1e-9)


def test_cli_default_border_keeps_ssim_where_the_image_has_it(tmp_path, capsys):
    pred, ref, blur, sharp = _write(tmp_path, (20, 256))
    assert main(["evaluate", str(pred), "--reference", str(ref), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == {**got, **evaluate(blur, sharp, border=4)}  # the widest keeping the window
    assert isinstance(got["ssim"], float)


def test_cli_a_border_the_user_gave_is_refused_with_one_that_fits(tmp_path, capsys):
    pred, ref, *_ = _write(tmp_path, (8, 1024))
    assert main(["evaluate", str(pred), "--reference", str(ref), "--border", "16"]) != 0
    err = capsys.readouterr().err
    assert "give --border 3 or less" in err and "no border fits" not in err, err
    assert "border is used" not in err
    pred, ref, *_ = _write(tmp_path, (20, 256), name="wider")
    assert main(["evaluate", str(pred), "--reference", str(ref), "--border", "16"]) != 0
    assert "give --border 4 or less" in capsys.readouterr().err


def test_cli_channels_of_a_thin_strip_print_na_and_json_null(tmp_path, capsys):
    rng = np.random.default_rng(1)
    sharp = rng.integers(100, 3000, (2, 6, 128)).astype(np.uint16)
    blur = (sharp + rng.integers(0, 50, sharp.shape)).astype(np.uint16)
    pred, ref = tmp_path / "p.tif", tmp_path / "r.tif"
    tifffile.imwrite(pred, blur, imagej=True, metadata={"axes": "CYX"})
    tifffile.imwrite(ref, sharp, imagej=True, metadata={"axes": "CYX"})
    assert main(["evaluate", str(pred), "--reference", str(ref), "--axes", "CYX"]) == 0
    out = capsys.readouterr().out
    assert "channel 1: PSNR" in out and "SSIM n/a (whole image" in out
    assert main(["evaluate", str(pred), "--reference", str(ref), "--axes", "CYX",
                 "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [ch["ssim"] for ch in got["channels"]] == [None, None]


def test_cli_folders_of_thin_strips_show_na_and_a_null_ssim_mean(tmp_path, capsys):
    refs, res = tmp_path / "refs", tmp_path / "res"
    refs.mkdir()
    res.mkdir()
    for i, shape in enumerate([(8, 300), (40, 300)]):
        blur, sharp = _pair(shape, seed=i)
        tifffile.imwrite(refs / f"s{i}.tif", sharp)
        tifffile.imwrite(res / f"s{i}.tif", blur)
    assert main(["evaluate", str(res), "--reference", str(refs)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("s0.tif"))
    assert row.rstrip().endswith("n/a")
    assert main(["evaluate", str(res), "--reference", str(refs), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    # the SSIM mean is over the files that have one (one thin file had made it null)
    mean = got["mean"][0]
    assert mean["psnr"] is not None and mean["ssim_files"] == 1
    assert mean["ssim"] == pytest.approx(got["files"][1]["results"][0]["ssim"])
