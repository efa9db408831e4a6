"""One PSF on an image with channels (C): Richardson-Lucy's iterations='auto' and Wiener's
balance='auto' are found on each channel (``image_settings.auto_per_channel``; the run splits
the channels as psf='A;A;A' does). They were found on channel 1 and run on all: a CYX
cell_dna_mts_actin crop blurred by gaussian:1.6 left its actin channel at 28.25 dB (input
28.20) where its own balance gave 33.55. RGB's colours (S), time points (T), values given
and a classical 'estimate' still run the image whole; since 2026-12-07 networks split their
channels too (tests/test_channels_net_2026_12_21.py: each normalised on its own)."""

import shlex
import warnings

import numpy as np
import pytest
import tifffile
from scipy.ndimage import gaussian_filter

from napari_microdeblur.cli import main
from napari_microdeblur.core.inference import prepare_deblur
from napari_microdeblur.core.method import MethodSpec

PSF = "gaussian:1.6"
SETTING = {"wiener": "balance", "richardson_lucy": "iterations"}


def _channels(n: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """(blurred, sharp) CYX: three textured channels blurred by ``PSF``, each far noisier than
    the next (as dim and bright stains are): balances 0.1, 0.0063, 0.00016; RL 10, 35, 100."""
    rng = np.random.default_rng(0)
    sharp = np.stack([gaussian_filter(rng.random((n, n)), 1.5) for _ in range(3)]) * 1000 + 50
    blurred = np.stack([gaussian_filter(c, 1.6) for c in sharp])
    noise = np.array([30.0, 6.0, 1.0])[:, None, None] * rng.normal(size=blurred.shape)
    return (blurred + noise).astype(np.float32), sharp.astype(np.float32)


def _run(image, axes: str, spec: MethodSpec):
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        result = prepare_deblur(image, axes, spec).run()
    return result, [str(w.message) for w in said]


def _psnr(a, b) -> float:
    return float(10 * np.log10((b.max() - b.min()) ** 2 / np.mean((a - b) ** 2)))


@pytest.mark.parametrize("method", ["wiener", "richardson_lucy"])
def test_one_psf_finds_the_auto_setting_on_each_channel(method):
    image, _ = _channels()
    key = SETTING[method]
    result, said = _run(image, "CYX", MethodSpec(method, psf=PSF))
    found = [run[key] for run in result.parameters.get("channels", [])]
    alone = [_run(image[i], "YX", MethodSpec(method, psf=PSF))[0] for i in range(3)]
    assert found == [r.parameters[key] for r in alone]  # each channel's own, not channel 1's
    assert len(set(found)) == 3
    for i, r in enumerate(alone):
        np.testing.assert_array_equal(result.image[i], r.image)
    for i, value in enumerate(found):  # each line names its channel and its value
        word = f"balance {value:.3g}" if method == "wiener" else f"{value} iterations"
        assert any(line.startswith(f"channel {i + 1}: {method}: {word}") for line in said)
    # the same pixels as one PSF per channel, the path it now takes
    per, _ = _run(image, "CYX", MethodSpec(method, psf=";".join([PSF] * 3)))
    np.testing.assert_array_equal(result.image, per.image)


def test_the_least_noisy_channel_is_no_longer_deblurred_with_the_noisiest_balance():
    image, sharp = _channels()
    result, _ = _run(image, "CYX", MethodSpec("wiener", psf=PSF))
    first = result.parameters["channels"][0]["balance"]
    shared, _ = _run(image, "CYX", MethodSpec("wiener", psf=PSF, balance=first))  # as before
    assert _psnr(result.image[2], sharp[2]) > _psnr(shared.image[2], sharp[2]) + 3


def test_the_record_and_its_rerun_command_give_the_same_pixels(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image, _ = _channels()
    tifffile.imwrite("mc.tif", image, photometric="minisblack", metadata={"axes": "CYX"})
    assert main(["deblur", "mc.tif", "-o", "w.tif", "--method", "wiener", "--psf", PSF]) == 0
    err = capsys.readouterr().err
    assert all(f"channel {i}: wiener: balance" in err for i in (1, 2, 3)), err
    assert main(["info", "w.tif"]) == 0
    described = capsys.readouterr().out
    assert all(f"channel {i}: wiener, balance" in described for i in (1, 2, 3)), described
    assert main(["info", "--command", "w.tif"]) == 0
    words = shlex.split(capsys.readouterr().out.strip())
    assert words[:2] == ["microdeblur", "deblur"] and "--balance" not in words, words
    assert main(words[1:]) == 0, capsys.readouterr().err
    rerun = words[words.index("-o") + 1]
    np.testing.assert_array_equal(tifffile.imread(rerun), tifffile.imread("w.tif"))


@pytest.mark.parametrize("axes, spec", [
    ("YXS", MethodSpec("wiener", psf=PSF)),  # RGB: one balance keeps the colours together
    ("TYX", MethodSpec("wiener", psf=PSF)),  # a time series: one value for the series
    ("CYX", MethodSpec("wiener", psf=PSF, balance=0.01)),  # a value given
    ("CYX", MethodSpec("richardson_lucy", psf=PSF, iterations=5)),
])
def test_colours_time_and_values_given_run_the_image_whole(axes, spec):
    image, _ = _channels(64)
    image = np.moveaxis(image, 0, -1) if axes == "YXS" else image
    result, said = _run(image, axes, spec)
    assert "channels" not in result.parameters
    assert not any(line.startswith("channel ") for line in said), said


@pytest.mark.parametrize("spec, axes, shape, split", [
    (MethodSpec("wiener", psf=PSF), "CYX", (3, 64, 64), True),
    (MethodSpec("richardson_lucy", psf=PSF), "ZCYX", (4, 2, 64, 64), True),
    (MethodSpec("richardson_lucy", psf=PSF), "CYX", (1, 64, 64), False),  # one channel
    (MethodSpec("wiener", psf=PSF), "YXS", (64, 64, 3), False),
    (MethodSpec("wiener", psf=PSF), "TYX", (3, 64, 64), False),
    (MethodSpec("wiener", psf="estimate"), "CYX", (3, 64, 64), False),
    (MethodSpec("wiener", psf=f"{PSF};{PSF}"), "CYX", (2, 64, 64), False),  # already split
    # networks: each channel normalised on its own, as run alone (they ran the image whole,
    # normalised on its brightest channel: a dim GFP channel 26.23 dB in the stack, 29.32 alone)
    (MethodSpec("auto", psf=PSF), "CYX", (3, 64, 64), True),  # the PSF-aware network
    (MethodSpec("auto"), "CYX", (3, 64, 64), True),  # the blind network
    (MethodSpec("wiener_unet.psf_v4", psf=PSF), "CYX", (3, 64, 64), True),
    # 'auto' with a 3D PSF on a z-stack runs Richardson-Lucy in 3D: its count per channel
    (MethodSpec("auto", psf="widefield:na=1.4,wavelength=0.52,pixel=0.1,dz=0.2,nz=9"),
     "ZCYX", (12, 2, 64, 64), True),
])
def test_which_specs_split_their_channels(spec, axes, shape, split):
    from napari_microdeblur.core.image_settings import auto_per_channel

    assert auto_per_channel(spec, axes, shape) is split
