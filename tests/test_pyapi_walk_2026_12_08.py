"""A walkthrough of the Python API (2026-12-08): what a notebook user met. A ground truth placed
inside a stack showed its own plane index as the current slice; evaluate on RGB arrays spoke
of a negative border; save_weights with card and path swapped raised pathlib's TypeError; an
RGB (Y, X, 3) test_input was refused by the Zoo export; Python errors named the CLI's
--overwrite; deblur's warnings named an internal line; info printed 17 digits; a small tile
ran 729 tiles without a word."""

from __future__ import annotations

import io
import json
import warnings
import zipfile

import numpy as np
import pytest
import tifffile
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    _clean_session,
    dock,
    wait_table,
)

from napari_microdeblur.cli import main
from napari_microdeblur.core.checkpoint import card_for_model, save_weights
from napari_microdeblur.core.export import export_bioimageio
from napari_microdeblur.core.files import deblur_file
from napari_microdeblur.core.inference import iter_deblur
from napari_microdeblur.core.metrics import evaluate
from napari_microdeblur.core.registry import build_model, get_arch


def _image(shape=(64, 64), seed=0) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) * 200 + 10).astype(np.float32)


def test_compare_dock_names_the_viewers_slice_for_a_truth_inside_the_stack(
        make_napari_viewer, qtbot):
    """truth[5:10] placed at z 5: the slider at 7 read 'current slice: 2' (the truth's own
    index); the other layers' slices read as the slider does."""
    viewer = make_napari_viewer()
    stack = _image((12, 64, 64))
    rng = np.random.default_rng(1)
    b = viewer.add_image(stack + rng.random(stack.shape, dtype=np.float32) * 20, name="blurred")
    d = viewer.add_image(stack + rng.random(stack.shape, dtype=np.float32) * 5,
                         name="deblurred [wiener]")
    g = viewer.add_image(stack[5:10], name="truth", translate=(5, 0, 0))
    w = dock(viewer, "Compare & QC")
    w.set_layers(b, d, g)
    w.border_check.setChecked(False)
    viewer.dims.set_current_step(0, 7)
    table = wait_table(qtbot, w)
    assert w.slice_label.text().startswith("current slice: 7 (the ground truth's plane 2)")
    ref = evaluate(d.data[5:10], stack[5:10], border=0)  # scaled by the whole truth's range
    assert table["psnr_deblurred"] == pytest.approx(ref["psnr_per_slice"][2], abs=1e-9)


def test_evaluate_on_rgb_arrays_says_to_pass_channel_axis():
    rgb = np.random.default_rng(0).random((150, 150, 3))
    with pytest.raises(ValueError, match=r"for an RGB\(A\) image pass channel_axis=-1") as error:
        evaluate(rgb * 0.9, rgb)
    assert "\n" not in str(error.value) and "-29" not in str(error.value)
    assert evaluate(rgb * 0.9, rgb, channel_axis=-1)["ssim"] > 0.9  # the advice works


def _tiny(in_channels=1):
    config = dict(get_arch("gran").tiny_config, in_channels=in_channels,
                  out_channels=in_channels)
    return build_model("gran", config)


def test_save_weights_with_card_and_path_swapped_says_the_order(tmp_path):
    model = _tiny()
    card = card_for_model(model, None)
    with pytest.raises(TypeError, match=r"save_weights takes \(model, path, card\)") as error:
        save_weights(model, card, tmp_path / "my.safetensors")
    assert "ModelCard" in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "my.safetensors").exists()


def test_export_takes_a_channels_last_rgb_test_input(tmp_path):
    """(Y, X, 3), as tifffile and napari give RGB: moved to (3, Y, X), not refused."""
    model = _tiny(3)
    rgb = (np.random.default_rng(2).random((64, 64, 3)) * 255).astype(np.uint8)
    path = export_bioimageio(model, {"license": "BSD-3-Clause"}, tmp_path / "hist.zip",
                             test_input=rgb)
    with zipfile.ZipFile(path) as zf:
        x = np.load(io.BytesIO(zf.read("test_input.npy")))
    np.testing.assert_array_equal(x[0], np.moveaxis(rgb, -1, 0).astype(np.float32))


def _existing(tmp_path):
    source, out = tmp_path / "in.tif", tmp_path / "out.tif"
    tifffile.imwrite(source, _image())
    out.write_bytes(b"kept")
    return source, out


def test_an_existing_output_says_overwrite_true_in_python(tmp_path):
    source, out = _existing(tmp_path)
    with pytest.raises(FileExistsError, match="choose another name or overwrite=True$"):
        deblur_file(source, out, method="wiener", psf="gaussian:1.0")
    assert out.read_bytes() == b"kept"


def test_an_existing_output_says_overwrite_alone_in_the_cli(tmp_path, capsys):
    """cli_words writes the flag 'overwrite=True' as '--overwrite' (not '--overwrite True')."""
    source, out = _existing(tmp_path)
    assert main(["deblur", str(source), "-o", str(out), "--method", "wiener", "--psf",
                 "gaussian:1.0", "-q"]) != 0
    err = capsys.readouterr().err
    assert "choose another name or --overwrite" in err and "True" not in err
    assert out.read_bytes() == b"kept"


def test_info_prints_parameters_with_four_significant_digits(tmp_path, capsys):
    source, out = tmp_path / "in.tif", tmp_path / "out.tif"
    tifffile.imwrite(source, _image())
    assert main(["deblur", str(source), "-o", str(out), "--method", "wiener", "--psf",
                 "gaussian:1.0", "--balance", "3.9810717055349695e-05", "-q"]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "balance 3.981e-05" in text and "3.98107" not in text
    assert main(["info", str(out), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["microdeblur"]["parameters"]["balance"] == 3.9810717055349695e-05


def test_a_tile_that_multiplies_the_work_is_said_once():
    image = _image((512, 512))
    with pytest.warns(UserWarning, match=r"a tile of 96 px cuts each plane into 729 tiles"
                      ) as caught:
        iter_deblur(image, method="gran.em_v1", tile=96)
    lines = [w for w in caught if "tile of 96 px" in str(w.message)]
    assert len(lines) == 1 and "default tile (256 x 256" in str(lines[0].message)
    assert "--tile" not in str(lines[0].message)  # one wording for the docks, CLI and Python
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        iter_deblur(image, method="gran.em_v1", tile=200)  # 1.3x the default's pixels
        iter_deblur(image, method="gran.em_v1")
