"""From a new-user walkthrough: evaluate against a signed-integer reference holding negative
values scored differently after a constant offset; `focus` on one stack printed index lines
naming neither the file nor the axes; the focus advice for negative images named an offset
the CLI refuses; NaN messages said 'np.nan_to_num' without saying how many pixels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur.cli import main
from napari_microdeblur.core import metrics
from napari_microdeblur.core.plane_metrics import describe_scale


def _pair():
    """A signed 'ground truth' holding values below 0 and a deblurred-like estimate of it."""
    rng = np.random.default_rng(0)
    truth = np.round(ndimage.gaussian_filter(rng.uniform(0, 150, (96, 96)), 1.0) * 4)
    truth -= truth.min()  # integers from 0 up: a shift moves them exactly
    estimate = ndimage.gaussian_filter(truth, 0.8) + rng.normal(0, 2, truth.shape)
    return truth, estimate


@pytest.mark.parametrize("shift", [100, 150])
def test_evaluate_on_a_negative_int16_reference_ignores_a_constant_offset(shift):
    truth, estimate = _pair()
    base = metrics.evaluate(estimate - 50, (truth - 50).astype(np.int16))
    shifted = metrics.evaluate(estimate - shift, (truth - shift).astype(np.int16))
    # before: divided by the maximum, the score fell with the offset (39.6 -> 17.0 dB)
    assert shifted["psnr"] == pytest.approx(base["psnr"], abs=1e-6)
    assert shifted["ssim"] == pytest.approx(base["ssim"], abs=1e-6)


def test_reference_scale_of_signed_integers():
    values = np.array([[-93, 0], [10, 62]], dtype=np.int16)
    assert metrics.reference_scale(values) == (-93.0, 155.0)
    import torch

    assert metrics.reference_scale(torch.from_numpy(values.astype(np.int32))) == (-93.0, 155.0)
    # no negatives: unchanged, divided by the maximum (uint16 as int16)
    assert metrics.reference_scale(np.array([7, 162], np.int16)) == (0.0, 162.0)
    assert metrics.reference_scale(np.array([7, 162], np.uint16)) == (0.0, 162.0)
    assert metrics.reference_scale(np.array([7, 162], np.uint8)) == (0.0, 255.0)
    with pytest.raises(ValueError, match="constant"):
        metrics.reference_scale(np.full((4, 4), -3, np.int16))
    assert "negative values: min-max [-93, 62]" in describe_scale(np.int16, -93.0, 155.0)
    assert "divided by its maximum (162)" in describe_scale(np.int16, 0.0, 162.0)


def test_compare_dock_scale_of_a_lazy_negative_truth_is_the_same_rule():
    da = pytest.importorskip("dask.array")
    pytest.importorskip("qtpy")
    from napari_microdeblur._widgets._compare_parts import truth_scale

    truth = np.arange(-50, 50, dtype=np.int16).reshape(4, 5, 5)
    lazy = da.from_array(truth, chunks=(1, 5, 5))
    assert truth_scale(lazy, "GT") == truth_scale(truth, "GT") == (-50.0, 99.0)


def test_cli_evaluate_names_the_min_max_rule_and_scores_alike(tmp_path, capsys):
    truth, estimate = _pair()
    outs = []
    for shift in (100, 150):
        offset = shift
        tifffile.imwrite(tmp_path / f"ref{shift}.tif", (truth - offset).astype(np.int16))
        tifffile.imwrite(tmp_path / f"pred{shift}.tif", (estimate - offset).astype(np.float32))
        assert main(["evaluate", str(tmp_path / f"pred{shift}.tif"), "--reference",
                     str(tmp_path / f"ref{shift}.tif")]) == 0
        out = capsys.readouterr().out
        assert "int16 ground truth with negative values: min-max" in out
        assert main(["evaluate", str(tmp_path / f"pred{shift}.tif"), "--reference",
                     str(tmp_path / f"ref{shift}.tif"), "--json"]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[0]["psnr"] == pytest.approx(outs[1]["psnr"], abs=1e-4)
    assert outs[0]["reference_offset"] < 0


def _stack(tmp_path):
    rng = np.random.default_rng(1)
    stack = rng.uniform(10, 200, (2, 3, 2, 32, 32)).astype(np.uint16)
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, stack, imagej=True, metadata={"axes": "TZCYX"})
    return path


def test_focus_on_one_stack_names_the_file_and_its_axes(tmp_path, capsys):
    path = _stack(tmp_path)
    assert main(["focus", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{path} (TZCYX): focus scores, one per (T, Z, C):"
    assert len(lines) == 1 + 12 and lines[1].startswith("(0, 0, 0): ")
    assert main(["focus", str(path), "--tile", "16"]) == 0
    tiled = capsys.readouterr().out.splitlines()
    assert tiled[0].endswith("one per (T, Z, C, tile row, tile column):")
    assert tiled[1].startswith("(0, 0, 0, 0, 0): ")


def test_focus_on_a_negative_image_gives_advice_the_cli_can_follow(tmp_path, capsys):
    image = np.random.default_rng(2).integers(-1000, 100, (64, 64)).astype(np.int16)
    tifffile.imwrite(tmp_path / "neg.tif", image)
    assert main(["focus", str(tmp_path / "neg.tif")]) == 2
    err = capsys.readouterr().err
    assert "score the image from before the subtraction" in err
    assert "--camera-offset only subtracts a dark level >= 0" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["focus", "evaluate"])
def test_nan_pixels_are_counted_on_the_command_line(tmp_path, capsys, command):
    image = np.random.default_rng(3).uniform(1, 2, (64, 64)).astype(np.float32)
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, image)
    image[1:3, 1:3] = np.nan
    image[5, 5] = np.inf
    bad = tmp_path / "bad.tif"
    tifffile.imwrite(bad, image)
    argv = [str(bad)] if command == "focus" else [str(bad), "--reference", str(good)]
    assert main([command, *argv]) == 2
    err = capsys.readouterr().err
    assert "bad.tif" in err and "holds 5 NaN or Inf pixels (of 4096)" in err
    assert "replace them in the file" in err and "np.nan_to_num" in err
