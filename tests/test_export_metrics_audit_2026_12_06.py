"""Audit 2026-12-06: the BioImage Model Zoo export reproduces ``microdeblur deblur``, and PSNR /
SSIM agree with scikit-image on the data users score."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from napari_microdeblur.core.checkpoint import load_model
from napari_microdeblur.core.export import export_bioimageio
from napari_microdeblur.core.inference import deblur


def _rgb_test_image(side: int = 64) -> np.ndarray:
    """(3, Y, X) uint8 whose channels span very different ranges (H&E-like)."""
    rng = np.random.default_rng(1)
    base = rng.random((side, side))
    return np.stack([40 + base * 200, 90 + base * 30, 250 - base * 60]).astype(np.uint8)


def test_rgb_export_normalises_channels_jointly_as_deblur_does(tmp_path):
    """The rdf's scale_range covered each channel alone, deblur all jointly: the package's test
    output, mapped back as its README says, was ~17 % of the range off deblur's (float32)."""
    model, card = load_model("gran.hist_v1")
    image = _rgb_test_image()
    path = export_bioimageio(model, card, tmp_path / "hist.zip", test_input=image)
    with zipfile.ZipFile(path) as zf:
        x = np.load(io.BytesIO(zf.read("test_input.npy")))
        y = np.load(io.BytesIO(zf.read("test_output.npy")))
        rdf = zf.read("rdf.yaml").decode()
    assert "- channel" in rdf.split("scale_range")[1].split("max_percentile")[0]
    # the documented preprocessing: bioimageio's scale_range over (channel, y, x), eps 1e-6
    lo = np.percentile(x, 0.1, axis=(1, 2, 3), keepdims=True)
    hi = np.percentile(x, 99.9, axis=(1, 2, 3), keepdims=True)
    package = (y * (hi - lo + 1e-6) + lo)[0]
    ours = deblur(image, method="gran.hist_v1", axes="CYX", precision="float32")
    span = float((hi - lo).item())
    # float32 arithmetic of one network, same input: measured 3e-7 of the range
    assert np.abs(package - ours).max() / span < 1e-4


# ----------------------------------------------------------------------------- metrics


def _skimage_ssim(x, ref, data_range, channel_axis=None):
    from skimage.metrics import structural_similarity

    return structural_similarity(x, ref, data_range=data_range, gaussian_weights=True,
                                 sigma=1.5, use_sample_covariance=False,
                                 channel_axis=channel_axis)


@pytest.mark.parametrize("kind", ["uint8", "uint16", "float", "rgb", "zstack"])
def test_psnr_and_ssim_agree_with_scikit_image(kind):
    from skimage.metrics import peak_signal_noise_ratio

    from napari_microdeblur.core import metrics

    rng = np.random.default_rng(2)
    shape = {"rgb": (40, 48, 3), "zstack": (12, 32, 40)}.get(kind, (40, 48))
    top = {"uint8": 255, "uint16": 4000}.get(kind, 1.0)
    ref = rng.random(shape) * top
    x = np.clip(ref + rng.normal(0, 0.05 * top, shape), 0, top)
    if kind in ("uint8", "uint16"):
        ref, x = ref.astype(kind), x.astype(kind)
    ca = -1 if kind == "rgb" else None
    assert metrics.psnr(x, ref, data_range=top) == pytest.approx(
        peak_signal_noise_ratio(ref, x, data_range=top), abs=1e-6)
    # float32 moments: measured within 2e-8
    assert metrics.ssim(x, ref, data_range=top, channel_axis=ca) == pytest.approx(
        _skimage_ssim(x, ref, top, ca), abs=1e-6)
    if kind == "zstack":
        per = metrics.ssim_per_slice(x, ref, data_range=top)
        assert per == pytest.approx([_skimage_ssim(x[z], ref[z], top) for z in range(12)],
                                    abs=1e-6)


def test_psnr_of_an_image_with_an_inf_pixel_is_undefined_not_minus_infinity():
    """An Inf pixel gave PSNR -inf: the QC dock showed it as 'inf' (its format for a perfect
    score) and stack_psnr left the plane out as if it equalled the truth."""
    from napari_microdeblur.core import metrics

    ref = np.zeros((2, 16, 16))
    x = ref.copy()
    x[1, 3, 3] = np.inf
    x[0] += 0.1
    assert np.isnan(metrics.psnr(x[1], ref[1], data_range=1.0))
    per = metrics.psnr_per_slice(x, ref, data_range=1.0)
    assert per[0] == pytest.approx(20.0) and np.isnan(per[1])
    assert np.isnan(metrics.stack_psnr(per))


def test_stack_psnr_of_a_stack_with_an_undefined_plane_is_undefined():
    """A NaN plane was dropped: the mean of the other planes read as the stack's PSNR."""
    from napari_microdeblur.core.metrics import stack_psnr

    assert np.isnan(stack_psnr([30.0, float("nan")]))
    assert stack_psnr([30.0, float("inf"), 20.0]) == pytest.approx(25.0)  # identical plane


def test_ssim_on_a_too_small_image_says_what_to_do_instead():
    """'pass channel_axis for colour images' was the only advice, also for a gray 7 x 7
    crop or a 5-plane z-stack."""
    from napari_microdeblur.core import metrics

    with pytest.raises(ValueError, match="PSNR"):
        metrics.ssim(np.zeros((7, 7)), np.ones((7, 7)), data_range=1.0)
    with pytest.raises(ValueError, match="ssim_per_slice"):
        metrics.ssim(np.zeros((5, 32, 32)), np.ones((5, 32, 32)), data_range=1.0)


def test_cli_evaluate_states_the_intensity_scale_it_scored_on(tmp_path, capsys):
    """A uint16 reference is divided by its own maximum (not 65535, scikit-image's default
    data_range): the printed line and the JSON said only the dtype."""
    import json

    import tifffile

    from napari_microdeblur.cli import main

    rng = np.random.default_rng(3)
    ref = rng.integers(0, 4000, (48, 48)).astype(np.uint16)
    ref[0, 0] = 4000
    tifffile.imwrite(tmp_path / "ref.tif", ref)
    tifffile.imwrite(tmp_path / "pred.tif", (ref + 50).astype(np.uint16))
    args = ["evaluate", str(tmp_path / "pred.tif"), "--reference", str(tmp_path / "ref.tif")]
    assert main(args) == 0
    assert "divided by its maximum (4000); data_range 1" in capsys.readouterr().out
    assert main([*args, "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert (scores["reference_scale"], scores["data_range"]) == (4000.0, 1.0)
