"""2026-12-09 walkthroughs. (1) A Deblur dock result saved from napari did not record the PSF
estimated from the image at the top level (only under ``parameters.psf``), so ``microdeblur
info`` showed no PSF and its ``--command`` had no ``--psf``; nor the CPU's name ('ran on cpu').
(2) On a 4000 x 20 strip, Richardson-Lucy's iterations 'auto' said "too small to hold pixels out
of it" (its check read a 256 x 20 crop), and EM's PSF estimate named the crop's size, (256, 20),
not the image's."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
from scipy.ndimage import gaussian_filter

from napari_microdeblur.cli_info import describe, rerun_command, text_block
from napari_microdeblur.core.image_settings import (
    balance_for,
    central_volume,
    iterations_for,
    spec_for_image,
)
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.notes import DeblurNote, DeblurWarning
from napari_microdeblur.core.psf_estimate import estimation_plane
from napari_microdeblur.core.tiling_spec import TilingSpec

FOUND = "astig:1.64,1.52,172"  # the walkthrough's estimate


def _dock_record(spec, parameters, *, psf_text=""):
    from napari_microdeblur._widgets._layer_data import deblur_metadata

    req = SimpleNamespace(
        source_name="he", method=spec, network=None, scope="whole stack", offset=(0, 0),
        tiling=TilingSpec(), psf_text=psf_text, axes="YXS",
        placement={"rgb": True, "ndim": 2, "scale": (1.0, 1.0), "source": lambda: None,
                   "source_path": "/home/alice/he.tif"})
    result = SimpleNamespace(parameters=parameters, axes="YXS", tile=(256, 256),
                             overlap=(16, 16), device="cpu",
                             normalization=SimpleNamespace(kind="scale", offset=0.0, scale=255.0))
    outcome = SimpleNamespace(result=result, card=None, seconds=1.0, label="wiener_unet.psf_v4")
    return deblur_metadata(req, outcome)


def _saved_info(tmp_path, record):
    """``record`` on a layer saved by the plugin's writer, as ``microdeblur info`` reads it."""
    from napari.layers import Image

    from napari_microdeblur._writer import save_calibrated

    layer = Image(np.zeros((40, 48, 3), np.uint8), rgb=True, name="he deblurred",
                  metadata={"microdeblur": record})
    path = tmp_path / "nap.tif"
    save_calibrated(layer, str(path))
    return describe(str(path))


def test_a_dock_record_of_an_estimated_psf_carries_it_as_the_cli_does(tmp_path):
    from napari_microdeblur.core.provenance import device_name

    meta = _dock_record(MethodSpec("auto"), {"psf": FOUND, "precision": "auto"})
    # was: neither key (the PSF only under parameters), no device_name
    assert meta["psf"] == FOUND and meta["psf_estimated"] is True
    assert meta["device_name"] == device_name("cpu") and meta["device_name"]
    info = _saved_info(tmp_path, meta)
    assert f"--psf {FOUND}" in rerun_command(info)
    text = text_block(info)
    assert f"PSF {FOUND} (estimated from the image)" in text
    assert f"on cpu ({device_name('cpu')})" in text


def test_a_psf_given_by_the_user_is_not_called_estimated(tmp_path):
    path = tmp_path / "bead.tif"
    tifffile.imwrite(path, np.ones((5, 5), np.float32) / 25)
    meta = _dock_record(MethodSpec("wiener", psf=str(path)), {"psf": str(path), "balance": 0.1})
    assert meta["psf"] == "bead.tif" and "psf_estimated" not in meta
    assert len(meta["psf_sha256"]) == 64  # a file PSF's hash, as the CLI records it
    model = _dock_record(MethodSpec("wiener", psf="gaussian:1.6"), {"psf": "gaussian:1.6"})
    assert model["psf"] == "gaussian:1.6" and "psf_estimated" not in model


def test_a_psf_layer_is_recorded_as_an_array_which_no_rerun_option_gives(tmp_path):
    psf = np.ones((5, 5), np.float32) / 25
    meta = _dock_record(MethodSpec("richardson_lucy", psf=psf, iterations=5),
                        {"psf": psf, "iterations": 5}, psf_text="layer:beads")
    assert meta["method_spec"]["psf"] == "layer:beads" and meta["psf"] == "array"
    # was: the writer copied 'layer:beads' up, and --command printed '--psf layer:beads'
    with pytest.raises(ValueError, match="save the PSF as a .tif"):
        rerun_command(_saved_info(tmp_path, meta))


def _texture(shape, noise=2.0, seed=0):
    """Fine texture 20..220, blurred by a sigma-1.5 Gaussian, with Gaussian noise."""
    rng = np.random.default_rng(seed)
    sharp = gaussian_filter(rng.random(shape), 1.0)
    sharp = (sharp - sharp.min()) / np.ptp(sharp) * 200 + 20
    return (gaussian_filter(sharp, 1.5) + rng.normal(0, noise, shape)).astype(np.float32)


def _iterations_line(image):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = iterations_for(MethodSpec("richardson_lucy", psf="gaussian:1.5",
                                         iterations="auto"), image, "YX")
    (line,) = [str(w.message) for w in caught
               if issubclass(w.category, (DeblurNote, DeblurWarning))]
    return spec, line


def test_iterations_auto_holds_pixels_out_of_a_long_thin_strip():
    strip = _texture((4000, 20), noise=8.0)
    # the crop keeps the 256 x 256 budget: 3276 x 20, not 256 x 20
    assert central_volume(strip, "YX", 256).shape == (3276, 20)
    assert central_volume(strip.T, "YX", 256).shape == (20, 3276)
    assert central_volume(strip[:300], "YX", 256).shape == (300, 20)
    spec, line = _iterations_line(strip)
    assert "too small" not in line and "too few" not in line
    assert "held out of the image" in line
    # the noise stopped it (measured: 13 here, 15 on a 256 x 256 image of the same texture)
    assert 5 <= spec.iterations <= 30


def test_an_image_too_small_to_hold_pixels_out_says_its_size():
    spec, line = _iterations_line(_texture((50, 20)))
    assert spec.iterations == 30
    # was: "the image is too small to hold pixels out of it"
    assert "50 x 20 px" in line and "1,000 pixels" in line and "10,000 pixels" in line


def test_the_em_estimate_names_the_image_plane_and_the_size_it_needs():
    strip = _texture((4000, 20))
    with pytest.raises(ValueError) as error:
        estimation_plane(strip, "YX")
    assert "4000 x 20 px" in str(error.value) and "at least 32 px" in str(error.value)
    with pytest.warns(DeblurWarning) as record:
        spec = spec_for_image(MethodSpec("auto", modality="em"), strip, "YX")
    words = " ".join(str(w.message) for w in record)
    assert "4000 x 20 px" in words and "(256, 20)" not in words  # was: the crop's size
    assert spec.psf is None  # the blind network runs
    with pytest.warns(DeblurWarning, match="GCV") as record:
        balance_for(MethodSpec("wiener", psf="gaussian:2.5", balance="auto"), strip, "YX")
    words = " ".join(str(w.message) for w in record)
    assert "4000 x 20 px" in words and "256 x 20" not in words


def test_the_deblur_dock_records_the_psf_it_estimated(make_napari_viewer, qtbot, tmp_path,
                                                      fluo_u8):
    """The dock's own request: a PSF estimated from the image (the walkthrough's 'auto' on
    H&E estimated it the same way) is recorded at the top level, and info's --command has it."""
    from test_widgets import dock

    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, fluo_u8[:64, :64])
    viewer = make_napari_viewer()
    viewer.open(str(path))
    w = dock(viewer, "Deblur")
    w.device_combo.setCurrentText("cpu")
    w.set_method("wiener")
    w.use_psf_check.setChecked(True)
    w.psf_edit.setText("estimate")
    run = w.run()
    assert run is not None, w.status_label.text()
    qtbot.waitUntil(lambda: run.done, timeout=60_000)
    assert run.layer is not None, w.status_label.text()
    meta = run.layer.metadata["microdeblur"]
    found = meta["parameters"]["psf"]
    assert found != "estimate" and meta["psf"] == found and meta["psf_estimated"] is True
    assert meta["device_name"]
    out = tmp_path / "out.tif"
    from napari_microdeblur._writer import save_calibrated

    save_calibrated(run.layer, str(out))
    command = rerun_command(describe(str(out)))
    assert "cells.tif" in command and f"--psf {found}" in command
