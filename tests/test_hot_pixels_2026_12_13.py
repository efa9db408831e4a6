"""2026-12-13 walkthrough of the Python API.

- Hot pixels over 0.1 % of an image were its 99.9th percentile: nothing looked out of range and
  the network saw the image squeezed into a sliver (0.5 % hot: the result 0.26x the truth,
  error 20.8 against the input's 4), silently. Isolated outliers are now left out of the
  percentiles and shown to the network as their neighbours; compact bright objects (beads, a
  saturated cell) are signal and normalise as before.
- A masked array's mask was ignored: the masked pixels were deblurred into their neighbours.
- The package's warnings named ``inference.py``, not the line that called ``deblur``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from napari_microdeblur.core.degrade import degrade
from napari_microdeblur.core.inference import (
    Method,
    compute_normalization,
    deblur,
    iter_deblur,
    prepare_deblur,
)
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.notes import DeblurNote

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "napari_microdeblur" / "samples"
NETWORK = "c2f_unet.fluorescence_v2"


def plain(image: np.ndarray) -> tuple[float, float]:
    """(offset, scale) of the 0.1-99.9 percentiles, as the normalisation was before."""
    lo, hi = (float(v) for v in np.percentile(image, [0.1, 99.9]))
    return lo, hi - lo


def with_hot(image: np.ndarray, fraction: float, value: float, seed=0) -> tuple:
    """``image`` with ``fraction`` of its pixels, single ones at random, set to ``value``."""
    hot = np.zeros(image.shape, bool)
    hot.flat[np.random.default_rng(seed).choice(image.size, int(fraction * image.size),
                                                replace=False)] = True
    return np.where(hot, np.float32(value), image).astype(np.float32), hot


def beads(shape, fraction: float, seed=1, sigma=1.2) -> np.ndarray:
    """A dark, noisy background (~10) with blurred beads (peaks 200-1000: 20-100x the
    background) at random sub-pixel places, covering about ``fraction`` of the pixels."""
    rng = np.random.default_rng(seed)
    image = rng.normal(10, 2, shape).astype(np.float32)
    steps = np.arange(-5, 6, dtype=np.float32)
    for _ in range(int(fraction * image.size / max(1, int(np.pi * (1.5 * sigma) ** 2)))):
        y, x = rng.uniform(6, shape[0] - 6), rng.uniform(6, shape[1] - 6)
        dy, dx = steps[:, None] + int(y) - y, steps[None, :] + int(x) - x
        image[int(y) - 5:int(y) + 6, int(x) - 5:int(x) + 6] += rng.uniform(200, 1000) * np.exp(
            -(dy ** 2 + dx ** 2) / (2 * sigma ** 2))
    return image


@pytest.fixture(scope="module")
def ht29():
    sharp = __import__("tifffile").imread(SAMPLES / "ht29_nuclei_hoechst.tif").astype(np.float32)
    blurred = degrade(sharp, "A", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = deblur(blurred, method=NETWORK, axes="YX", device="cpu")
    return sharp, blurred, clean


def rmse(a, b, where):
    return float(np.sqrt(np.mean((a[where] - b[where]) ** 2)))


@pytest.mark.parametrize("fraction", [0.005, 0.02])
def test_hot_pixels_past_a_tenth_of_a_percent_no_longer_darken_the_result(ht29, fraction):
    """Before: 0.5 % hot pixels at 40x the 8-bit maximum, no line, the result 0.26x as bright
    away from them (error 20.2 against the input's 3.6); 2 %: error 56."""
    sharp, blurred, clean = ht29
    image, hot = with_hot(blurred, fraction, 40 * 255.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = deblur(image, method=NETWORK, axes="YX", device="cpu")
    rest = ~hot
    assert rmse(out, sharp, rest) < min(rmse(blurred, sharp, rest), 1.3 * rmse(clean, sharp, rest))
    assert 0.97 < out[rest].mean() / clean[rest].mean() < 1.03
    np.testing.assert_allclose(out[hot], 40 * 255.0, rtol=0.02)  # kept, as the input had them
    line = [str(w.message) for w in caught if "lie outside" in str(w.message)]
    assert len(line) == 1 and line[0].startswith(f"{hot.sum()} pixels lie outside")
    alone = int(line[0].split("; ")[1].split()[0])  # pairs too; clusters of 3 are clipped
    assert 0.95 * hot.sum() < alone <= hot.sum() and "of them stand alone (hot or dead" in line[0]


def test_an_image_without_outliers_runs_as_before(ht29):
    """The bundled sample: the same normalisation (bit for bit), no line, no record."""
    _, blurred, _ = ht29
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepared = prepare_deblur(blurred, "YX", MethodSpec(NETWORK))
    assert (prepared.normalization.offset, prepared.normalization.scale) == plain(blurred)
    assert getattr(prepared.normalization, "isolated", 0) == 0  # a guard: passes before too
    assert "input_clipped" not in prepared.method.parameters
    assert not [w for w in caught if "lie outside" in str(w.message)]


@pytest.mark.parametrize("fraction", [0.005, 0.02])
def test_beads_are_signal_single_pixels_of_their_brightness_are_not(fraction):
    """Compact bright objects covering 0.5-2 % of a dark image (blurred beads, and flat 3 x 3
    squares) set the percentiles as before; the same count of single pixels at the beads'
    brightness is left out."""
    image = beads((256, 256), fraction)
    squares = image.copy()
    for y, x in np.random.default_rng(2).integers(5, 250, (int(fraction * 65536 / 9), 2)):
        squares[y - 1:y + 2, x - 1:x + 2] = 800.0
    spiked, hot = with_hot(beads((256, 256), 0.0), fraction, 800.0)
    norm = compute_normalization(spiked, "YX", "percentile")
    assert norm.offset + norm.scale < 20 < plain(spiked)[1]  # the background's, not theirs
    assert norm.isolated == pytest.approx(hot.mean(), rel=0.03)  # clusters of 3 stay
    for kept in (image, squares):
        norm = compute_normalization(kept, "YX", "percentile")
        assert (norm.offset, norm.scale) == plain(kept) and norm.isolated == 0


def test_a_saturated_cell_keeps_its_place_in_the_percentiles():
    """A compact saturated region over 0.1 % sets the top of the range as before, with hot
    pixels of its value beside it: nothing is left out, nothing is clipped."""
    image = beads((256, 256), 0.005)
    image[100:112, 60:80] = 4095.0  # 0.37 % of the image
    image, _ = with_hot(image, 0.003, 4095.0)
    norm = compute_normalization(image, "YX", "percentile")
    assert (norm.offset, norm.scale) == plain(image)  # a guard: passes before too
    assert getattr(norm, "isolated", 0) == 0


def test_dead_pixels_are_left_out_below():
    """An offset of 5000 with 0.5 % of pixels at 0: the range starts at the offset."""
    image = beads((256, 256), 0.01) + 5000
    spiked, dead = with_hot(image, 0.005, 0.0)
    norm = compute_normalization(spiked, "YX", "percentile")
    assert norm.offset > 4900 and norm.isolated == pytest.approx(dead.mean())


def test_a_strided_sample_tells_hot_pixels_from_small_beads():
    """A 2100 x 2100 image is sampled every 2nd pixel, so a bead can stand alone in the
    sample: hot pixels of one value stand apart in value too, beads do not."""
    spiked, _ = with_hot(beads((2100, 2100), 0.0), 0.005, 800.0)
    norm = compute_normalization(spiked, "YX", "percentile")
    assert norm.offset + norm.scale < 20 and norm.isolated > 0.004
    for sigma in (0.7, 1.2):  # 0.7: sharper than the sampling, sample points on the peaks
        image = beads((2100, 2100), 0.01, sigma=sigma)
        norm = compute_normalization(image, "YX", "percentile")
        assert (norm.offset, norm.scale) == plain(image[::2, ::2]) and norm.isolated == 0


def test_a_masked_array_is_refused_saying_to_fill_it():
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    raw = image.copy()
    raw[20:30, 20:30] = 1e6
    masked = np.ma.masked_array(raw, mask=raw > 1e5)
    for call in (lambda: deblur(masked, method="wiener", psf="gaussian:1.2", balance=0.05),
                 lambda: iter_deblur(masked, method="wiener", psf="gaussian:1.2")):
        with pytest.raises(TypeError, match=r"masked array with 100 masked pixels.*filled"):
            call()
    # nothing masked: the values as they are, as before
    out = deblur(np.ma.masked_array(image), method="wiener", psf="gaussian:1.2", balance=0.05)
    expected = deblur(image, method="wiener", psf="gaussian:1.2", balance=0.05)
    np.testing.assert_array_equal(np.asarray(out), expected)


def _said_here(caught, text: str) -> list:
    found = [w for w in caught if text in str(w.message)]
    assert found, f"no warning with {text!r}"
    return [(Path(w.filename).resolve() == Path(__file__).resolve()) for w in found]


def test_warnings_name_the_callers_line():
    """The clip line (said while preparing), the 'auto' note and a line said inside a tile
    name this file, whichever entry point ran; a warning of the caller's own keeps its line."""
    image, _ = with_hot(beads((96, 96), 0.01), 0.0005, 1e5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur(image, method="auto", axes="YX", device="cpu")
        for _ in iter_deblur(image, method=NETWORK, axes="YX", device="cpu"):
            pass
        prepare_deblur(image, "YX", MethodSpec(NETWORK)).run()
    assert _said_here(caught, "lie outside") == [True] * 3
    assert _said_here(caught, "method 'auto' ran") == [True]

    package_file = str(Path(__import__("napari_microdeblur").__file__).parent / "core" / "x.py")

    def forward(batch):  # a line the package says inside a tile, and one of the caller's
        warnings.warn_explicit("said in a tile", DeblurNote, package_file, 1)
        warnings.warn("the caller's own", UserWarning, stacklevel=1)
        return batch

    probe = Method(name="probe", forward=forward, normalization="none")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur(image, method=probe, axes="YX", device="cpu")
        for _ in iter_deblur(image, method=probe, axes="YX", device="cpu"):
            pass
    assert set(_said_here(caught, "said in a tile")) == {True}
    assert set(_said_here(caught, "the caller's own")) == {True}  # its own line: this file
    assert {w.lineno for w in caught if "the caller's own" in str(w.message)} == {
        forward.__code__.co_firstlineno + 2}


def test_isolated_outliers_are_shown_to_the_network_as_their_neighbours():
    """The network sees a hot pixel as the median of its 3 x 3 (a clipped one was still a
    spike at the range's edge), a compact bright object clipped as before."""
    import torch

    from napari_microdeblur.core.saturation import clipped_forward

    seen = []
    x = torch.zeros(1, 1, 16, 16)
    x[0, 0, 4, 4] = 50.0  # alone
    x[0, 0, 10:13, 10:13] = 50.0  # compact
    out = clipped_forward(lambda t: seen.append(t.clone()) or t, -3.0, 4.0)(x)
    assert seen[0][0, 0, 4, 4] == 0 and torch.all(seen[0][0, 0, 10:13, 10:13] == 4.0)
    assert torch.equal(out, x)  # the excess added back
