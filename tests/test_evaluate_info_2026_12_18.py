"""2026-12-18 walkthrough. (1) Python ``evaluate`` scored a CYX pair read with tifffile as three
Z planes (Wiener 43.37 dB where ``microdeblur evaluate`` on the same files said 33.48): it takes
``axes=`` as deblur does, scoring as the command does, and warns on a bare first axis of 2 to 4.
(2) ``info`` and ``info --command`` on a Deblur dock 'current slice' result did not say it was
one plane, and the command remakes the whole stack. (3) The rerun's ``-o NAME_rerun.tif`` was a
bare name, written into the current folder rather than beside OUT."""

from __future__ import annotations

import json
import os
import shlex
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
import torch
from scipy.ndimage import gaussian_filter

from napari_microdeblur.cli import main
from napari_microdeblur.core import io_write
from napari_microdeblur.core.axes import guess_note
from napari_microdeblur.core.metrics import evaluate
from napari_microdeblur.core.notes import DeblurWarning


def _channels_pair(seed=0):
    """A CYX uint16 reference of three channels of unlike brightness and a noisier copy."""
    rng = np.random.default_rng(seed)
    ref = np.stack([gaussian_filter(rng.random((48, 48)), 1.0) * k
                    for k in (30000.0, 9000.0, 3000.0)])
    noise = rng.normal(0, 1, ref.shape) * np.array([60.0, 120.0, 200.0])[:, None, None]
    pred = np.clip(ref + noise, 0, 65535)
    return pred.astype(np.uint16), ref.astype(np.uint16)


def test_python_evaluate_with_cyx_axes_gives_the_commands_figures(tmp_path, capsys):
    pred, ref = _channels_pair()
    for name, image in (("mc.tif", ref), ("out.tif", pred)):
        tifffile.imwrite(tmp_path / name, image, imagej=True, metadata={"axes": "CYX"})
    assert main(["evaluate", "--reference", str(tmp_path / "mc.tif"), str(tmp_path / "out.tif"),
                 "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    got = evaluate(tifffile.imread(tmp_path / "out.tif"), tifffile.imread(tmp_path / "mc.tif"),
                   axes="CYX")  # was: TypeError, and without axes three Z planes
    for key in ("psnr", "ssim", "psnr_whole", "ssim_whole"):
        assert got[key] == pytest.approx(cli[key], abs=1e-9), key
    assert [c["psnr"] for c in got["channels"]] == pytest.approx(
        [c["psnr"] for c in cli["channels"]], abs=1e-9)
    # as planes, each alone: another figure, the one the walkthrough was misled by
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeblurWarning)
        planes = evaluate(pred, ref)["psnr"]
    assert abs(planes - cli["psnr"]) > 0.5
    # channel_axis still works, and pools as the axes do
    assert evaluate(pred, ref, channel_axis=0)["psnr"] == pytest.approx(got["psnr"], abs=1e-12)


def test_a_bare_first_axis_of_a_few_is_warned_about_in_deblurs_words():
    pred, ref = _channels_pair()
    with pytest.warns(DeblurWarning) as said:  # was: scored as Z planes without a word
        evaluate(pred, ref)
    lines = [str(w.message) for w in said if "assumed" in str(w.message)]
    assert len(lines) == 1 and guess_note(pred.shape, "ZYX", "give axes={0!r}") in lines[0]
    assert "give axes='CYX'" in lines[0] and "axes='ZYX'" in lines[0]
    for quiet in ({"axes": "ZYX"}, {"axes": "CYX"}, {"channel_axis": 0}):
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeblurWarning)
            evaluate(pred, ref, **quiet)
    with warnings.catch_warnings():  # a 2D image, or a longer stack: nothing to ask
        warnings.simplefilter("error", DeblurWarning)
        evaluate(pred[0], ref[0])
        evaluate(np.concatenate([pred] * 2), np.concatenate([ref] * 2))
    with pytest.warns(DeblurWarning, match="give axes='CZYX'"):
        evaluate(pred[:, None].repeat(2, 1), ref[:, None].repeat(2, 1))


def test_axes_in_another_order_tensors_and_a_stack_score_as_the_channel_axis_does():
    pred, ref = _channels_pair(1)
    pooled = evaluate(pred, ref, channel_axis=0)
    last = evaluate(np.moveaxis(pred, 0, -1), np.moveaxis(ref, 0, -1), axes="YXC")
    assert last["psnr"] == pytest.approx(pooled["psnr"], abs=1e-9)
    # a tensor with no ref_scale: the scale check's numpy scan had raised TypeError
    as_tensor = evaluate(torch.from_numpy(pred.astype(np.float32)),
                         torch.from_numpy(ref.astype(np.float32)), axes="CYX")
    assert as_tensor["ssim"] == pytest.approx(
        evaluate(pred.astype(np.float32), ref.astype(np.float32), channel_axis=0)["ssim"],
        abs=1e-9)
    stack = evaluate(np.stack([pred, pred]), np.stack([ref, ref]), axes="ZCYX")
    assert stack["slice_labels"] == [{"Z": 0}, {"Z": 1}] and len(stack["channels"]) == 3
    with pytest.raises(ValueError, match="give one"):
        evaluate(pred, ref, axes="CYX", channel_axis=0)
    with pytest.raises(ValueError, match="has 2 letters"):
        evaluate(pred, ref, axes="YX")


def _dock_output(path, scope, offset, shape, axes="ZYX"):
    """A Deblur dock result's record (``deblur_metadata``) written with pixels of ``shape``."""
    from napari_microdeblur._widgets._layer_data import deblur_metadata
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.tiling_spec import TilingSpec

    spec = MethodSpec("wiener", psf="gaussian:1.5", balance=0.01)
    req = SimpleNamespace(
        source_name="stack", method=spec, network=None, scope=scope, offset=offset,
        tiling=TilingSpec(), psf_text="gaussian:1.5", axes=axes,
        placement={"rgb": False, "ndim": len(axes), "scale": (1.0,) * len(axes),
                   "source": lambda: None, "source_path": "/home/alice/stack.tif"})
    result = SimpleNamespace(parameters={"balance": 0.01, "psf": "gaussian:1.5"}, axes=axes,
                             tile=(1, 128, 128), overlap=(0, 16, 16), device="cpu",
                             normalization=SimpleNamespace(kind="scale", offset=0.0, scale=1.0))
    outcome = SimpleNamespace(result=result, card=None, seconds=1.0, label="wiener")
    record = deblur_metadata(req, outcome)
    assert record["scope"] == scope
    os.makedirs(path.parent, exist_ok=True)
    io_write.write_image(str(path), np.zeros(shape, np.float32), axes=axes, record=record)


def test_info_says_a_current_slice_result_is_one_plane_and_the_command_the_whole_stack(
        tmp_path, capsys):
    out = tmp_path / "slice.tif"
    _dock_output(out, "current slice", (3, 0, 0), (1, 32, 32))
    assert main(["info", str(out)]) == 0
    assert "  made from plane Z=3 of stack.tif (current slice)" in capsys.readouterr().out
    assert main(["info", "--command", str(out)]) == 0
    said = capsys.readouterr()
    assert said.out.count("\n") == 1 and said.out.startswith("microdeblur deblur stack.tif")
    assert ("slice.tif is plane Z=3 of stack.tif (the Deblur dock's 'current slice'), and no "
            "deblur option takes one part: this command remakes the whole of stack.tif, whose "
            "plane Z=3 is slice.tif") in said.err
    assert main(["info", "--command", "--json", str(out)]) == 0
    assert "plane Z=3" in json.loads(capsys.readouterr().out)["command_note"]


def test_a_field_of_view_is_said_with_its_crop_and_a_whole_stack_with_nothing(tmp_path, capsys):
    crop = tmp_path / "crop.tif"
    _dock_output(crop, "visible field of view", (3, 10, 20), (1, 32, 48))
    assert main(["info", str(crop)]) == 0
    assert ("made from Y 10-41, X 20-67 of plane Z=3 of stack.tif (visible field of view)"
            in capsys.readouterr().out)
    whole = tmp_path / "whole.tif"
    _dock_output(whole, "whole stack", (0, 0, 0), (8, 32, 32))
    assert main(["info", "--command", str(whole)]) == 0
    said = capsys.readouterr()
    assert "note" not in said.err and said.out.startswith("microdeblur deblur stack.tif")
    assert main(["info", str(whole)]) == 0
    assert "  made from stack.tif" in capsys.readouterr().out


def test_the_rerun_output_is_beside_out_from_any_folder(tmp_path, capsys, monkeypatch):
    out = tmp_path / "my results" / "slice.tif"
    _dock_output(out, "whole stack", (0, 0, 0), (2, 32, 32))
    monkeypatch.chdir(tmp_path)
    for given, rerun in ((os.path.join("my results", "slice.tif"),
                          os.path.join("my results", "slice_rerun.tif")),
                         (str(out), str(out.with_name("slice_rerun.tif"))),
                         (str(out.parent / "." / "slice.tif"),
                          str(out.with_name("slice_rerun.tif")))):
        assert main(["info", "--command", given]) == 0
        words = shlex.split(capsys.readouterr().out)  # quoted: the space kept in one word
        assert words[words.index("-o") + 1] == rerun  # was: 'slice_rerun.tif', here
    monkeypatch.chdir(out.parent)
    assert main(["info", "--command", "slice.tif"]) == 0
    words = shlex.split(capsys.readouterr().out)
    assert words[words.index("-o") + 1] == "slice_rerun.tif"  # beside it: here
