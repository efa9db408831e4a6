"""2026-12-27 walkthrough: hot and dead pixels of a camera (a 12-bit Hoechst image, peak 3000
counts over an offset of 100, Gaussian 1.6 blur, shot and read noise).

- Richardson-Lucy's automatic iteration count fell from 6 to 1 for one hot pixel at 65535
  (0.0015 % of the pixels; 36.55 dB away from it instead of 39.94).
- Wiener and Richardson-Lucy deconvolved hot pixels into rings: 20 at 65535 took Wiener from
  39.99 to 16.87 dB (a ring down to -2676 round each) and RL at 20 iterations from 38.34 to
  19.82 dB (753 pixels pulled to 0).
- Networks left in hot pixels within their input range (4095 on a peak of 3000): each came
  out a bead-like blob.

A lone pixel (``saturation.lone_pixels``: far beyond its neighbours, narrower than any blur)
is now shown to the method as the median of its 3 x 3 and its value put back, with one line
saying how many; an image without one runs bit for bit as before.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from scipy.ndimage import binary_dilation, gaussian_filter

from napari_microdeblur.core import classical, saturation
from napari_microdeblur.core.inference import deblur, prepare_deblur
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.psf import parse_psf

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "napari_microdeblur" / "samples"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WIENER = dict(name="wiener", psf="gaussian:1.6", balance=0.02)
RL = dict(name="richardson_lucy", psf="gaussian:1.6", iterations=20)


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    """The bundled HT29 nuclei as a 16-bit camera shows them: background removed, peak 3000
    counts, Gaussian 1.6 blur, Poisson and read noise, an offset of 100."""
    sharp = tifffile.imread(SAMPLES / "ht29_nuclei_hoechst.tif").astype(np.float64)
    sharp = np.clip(sharp - np.percentile(sharp, 1), 0, None)
    sharp *= 3000 / sharp.max()
    rng = np.random.default_rng(0)
    noisy = rng.poisson(gaussian_filter(sharp, 1.6, mode="reflect")) + rng.normal(0, 1.5,
                                                                                   sharp.shape)
    return np.round(np.clip(noisy, 0, None) + 100).astype(np.uint16)


def spiked(image: np.ndarray, count: int, value: int, where=None, seed=7):
    """``image`` with ``count`` single pixels (among ``where``, default all) set to ``value``,
    and where they are."""
    places = np.flatnonzero(np.ones(image.shape, bool) if where is None else where)
    out = image.copy()
    out.flat[np.random.default_rng(seed).choice(places, count, replace=False)] = value
    return out, out != image


def background(image: np.ndarray) -> np.ndarray:
    """Where ``image`` (the camera's) is dark background, 3 px from any cell."""
    return ~binary_dilation(gaussian_filter(image.astype(float), 2) > 130, iterations=3)


def run(image, **spec):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = prepare_deblur(image, "YX", MethodSpec(**spec)).run()
    lines = [str(w.message) for w in caught if "stand" in str(w.message)]
    return result.image.astype(np.float64), lines, result.parameters


def test_a_hot_pixel_no_longer_sets_richardson_lucys_iterations(camera):
    """Before: one hot pixel at 65535 chose 1 iteration, 20 at 4095 in the background 9
    (46 without)."""
    psf = parse_psf("gaussian:1.6")
    clean = classical.held_out_iterations(camera, psf, max_iterations=100)
    one_hot, _ = spiked(camera, 1, 65535)
    warm, _ = spiked(camera, 20, 4095, where=background(camera))
    assert clean > 20
    assert classical.held_out_iterations(one_hot, psf, max_iterations=100) == clean
    assert classical.held_out_iterations(warm, psf, max_iterations=100) == clean


@pytest.mark.parametrize("spec", [WIENER, RL], ids=["wiener", "richardson_lucy"])
def test_classical_methods_fill_hot_pixels_and_put_them_back(camera, spec):
    """Before: each hot pixel rang (Wiener: down to -9917 and 22699 off the clean result
    beside it; RL: pixels pulled to 0) and came out at a third to 90 % of its value."""
    clean, said, parameters = run(camera, **spec)
    assert not said and "lone_pixels" not in parameters
    image, hot = spiked(camera, 20, 65535)
    out, said, parameters = run(image, **spec)
    beside = np.abs(out - clean)[~hot]
    assert beside.max() < 30  # counts, of a peak of 3000
    assert np.all(np.abs(out[hot] - 65535) < 0.01 * 65535)  # put back
    assert said == ["20 pixels stand alone far above or below their neighbours (hot or dead "
                    f"pixels?): {spec['name']} saw each as the median of its 3 x 3, which keeps "
                    "it from spreading into the pixels around it, and its value was put back "
                    "unchanged"]
    assert parameters["lone_pixels"] == {"pixels": 20}


def test_dead_pixels_under_an_offset_are_filled_too(camera):
    """0 under an offset of 100 in the background: before, each took its neighbours down."""
    clean, _, _ = run(camera, **WIENER)
    image, dead = spiked(camera, 20, 0, where=background(camera))
    out, said, _ = run(image, **WIENER)
    assert np.abs(out - clean)[~dead].max() < 10  # before: 40
    assert said and said[0].startswith("20 pixels stand alone")


def test_a_network_leaves_out_hot_pixels_within_its_range(camera):
    """Hot pixels at 4095 (the 12-bit maximum) lie within the network's input range on a
    peak of 3000: before, each came out a blob (at 2200-2400), 20 of them changing 1055
    neighbours by over 30 counts."""
    clean, _, _ = run(camera, name="auto")
    image, hot = spiked(camera, 20, 4095, where=background(camera))
    out, said, parameters = run(image, name="auto")
    changed = np.abs(out - clean)[~hot]
    assert np.count_nonzero(changed > 30) < 20
    assert np.all(np.abs(out[hot] - 4095) < 0.05 * 4095)
    assert said and said[0].startswith("20 pixels stand alone") and "the network saw" in said[0]
    assert parameters["lone_pixels"] == {"pixels": 20}
    assert "input_clipped" not in parameters  # within range: nothing clipped


def test_pairs_are_lone_three_together_are_content():
    """Two hot pixels side by side are both lone; a third beside them makes a bead's core."""
    x = torch.from_numpy(np.random.default_rng(0).normal(100, 3, (64, 64)))
    x[10, 10] = x[10, 11] = 4000.0
    x[30, 30] = x[30, 31] = x[30, 32] = 4000.0
    x[50, 5] = 4000.0
    lone = saturation.lone_pixels(x)
    assert lone is not None
    assert sorted(map(tuple, torch.nonzero(lone).tolist())) == [(10, 10), (10, 11), (50, 5)]
    filled = saturation.fill_lone(x, lone)
    assert abs(float(filled[10, 10]) - 100) < 10 and float(filled[30, 31]) == 4000.0


def beads(sigma: float, peak_high: float, seed=1, offset=100.0) -> np.ndarray:
    """A camera image of beads (Gaussian of ``sigma`` px, integrated over each pixel, peaks
    up to ``peak_high`` counts, some on pixel centres, some on corners) over an offset."""
    from scipy.special import erf

    rng = np.random.default_rng(seed)
    light = np.zeros((128, 128))
    edges = np.arange(129, dtype=float)
    for i in range(60):
        y, x = rng.uniform(6, 122, 2)
        if i % 2:
            y, x = np.floor(y) + 0.5, np.floor(x) + 0.5  # on a pixel's centre: the sharpest
        share = [np.diff(erf((edges - c) / (sigma * np.sqrt(2)))) / 2 for c in (y, x)]
        light += rng.uniform(0.05, 1) * peak_high * np.outer(*share) * 2 * np.pi * sigma ** 2
    return (rng.poisson(light) + rng.normal(offset, 1.5, light.shape)).astype(np.float32)


@pytest.mark.parametrize("sigma", [0.5, 0.8, 1.2, 2.0])
@pytest.mark.parametrize("peak", [300.0, 60000.0])
def test_beads_are_never_lone(sigma, peak):
    """Beads sampled at sigma 0.5 px or wider, dim or near 16-bit saturation, on pixel centres
    or anywhere: none is lone, in the whole image or a tile of it (normalised as a network
    sees it)."""
    image = beads(sigma, peak)
    assert saturation.lone_pixels(torch.from_numpy(image)) is None
    low, high = np.percentile(image, [0.1, 99.9])
    tile = torch.from_numpy((image[32:96, 32:96] - low) / (high - low))
    assert saturation.lone_pixels(tile, dark=0.0) is None


def test_photon_counts_are_not_lone():
    """A photon-limited image (peak 20 photons, most pixels 0 or 1) holds no lone pixel."""
    sharp = tifffile.imread(SAMPLES / "ht29_nuclei_hoechst.tif").astype(np.float64)
    dim = np.random.default_rng(3).poisson(gaussian_filter(sharp * 20 / sharp.max(), 1.6))
    assert saturation.lone_pixels(torch.from_numpy(dim.astype(np.float32))) is None


CLEAN = {
    "camera": None,  # the fixture's
    "em": ("em_celegans_empiar10982_z0017.tif", "YX"),
    "nuclei": ("ht29_nuclei_hoechst.tif", "YX"),
    "rgb": ("he_kather_mucosa_rgb.tif", "YXS"),
}


@pytest.mark.parametrize("crop, spec", [
    ("camera", WIENER), ("camera", dict(name="richardson_lucy", psf="gaussian:1.6")),
    ("camera", dict(name="auto")), ("em", dict(RL, iterations=5)),
    ("em", dict(name="auto", modality="em")), ("nuclei", dict(name="auto", psf="gaussian:1.6")),
    ("rgb", dict(name="auto")),
])
def test_images_without_lone_pixels_run_bit_for_bit_as_before(camera, crop, spec, monkeypatch):
    """The same result, bit for bit, as with the lone-pixel check taken out (a guard)."""
    if crop == "camera":
        image, axes = camera, "YX"
    else:
        name, axes = CLEAN[crop]
        image = tifffile.imread(SAMPLES / name)

    def deblurred():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = prepare_deblur(image, axes, MethodSpec(**spec)).run().image
        assert not [w for w in caught if "stand alone" in str(w.message)]
        return out

    checked = deblurred()
    monkeypatch.setattr(saturation, "lone_pixels", lambda *args, **kwargs: None)
    monkeypatch.setattr(classical, "lone_pixels", lambda *args, **kwargs: None)
    assert np.array_equal(checked, deblurred())


def test_a_strided_sample_still_counts_hot_pixels():
    """A 2100 px plane is sampled every 2nd pixel: hot pixels in the background are counted
    there ('about N') while its beads are not."""
    image = np.tile(beads(1.2, 3000.0), (17, 17))[:2100, :2100]
    spikes, hot = spiked(image, 200, 65535.0)
    lone = saturation.lone_in_sample(spikes[::2, ::2], spikes.shape, "YX")
    found = 0 if lone is None else int(lone.sum())
    assert 30 < found <= int(hot[::2, ::2].sum())
    assert saturation.lone_in_sample(image[::2, ::2], image.shape, "YX") is None


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")
def test_a_real_cameras_hot_pixel_is_found_and_its_puncta_are_not():
    """The SBS Transfluor GFP images hold one hot pixel, at (16, 130) in all six; the
    gamma-H2AX foci (fine puncta, 12-bit) hold none."""
    folder = SHARED / "fluorescence_cellprofiler_examples_extra" / "train" / "sbs_transfluor_gfp"
    for path in sorted(folder.glob("*.TIF")):
        image = torch.from_numpy(tifffile.imread(path).astype(np.float32))
        lone = saturation.lone_pixels(image)
        assert lone is not None and torch.nonzero(lone).tolist() == [[16, 130]]
    foci = SHARED / "fluorescence_2d" / "cellprofiler_ExampleSpeckles_h2ax" / "1-162hrh2ax2.tif"
    image = torch.from_numpy(tifffile.imread(foci).astype(np.float32))
    assert saturation.lone_pixels(image) is None


def test_deblur_fills_lone_pixels_of_each_plane_of_a_stack(camera):
    """A hot pixel at one place of every plane (a camera's fixed pattern), Richardson-Lucy
    plane by plane: each plane as without it beside the hot pixel."""
    stack = np.stack([camera, np.roll(camera, 40, axis=1)])
    clean = deblur(stack, method="richardson_lucy", psf="gaussian:1.6", iterations=10,
                   axes="ZYX")
    hot = stack.copy()
    hot[:, 100, 7] = 65535
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = deblur(hot, method="richardson_lucy", psf="gaussian:1.6", iterations=10,
                     axes="ZYX")
    beside = np.abs(out - clean)
    beside[:, 100, 7] = 0
    assert beside.max() < 30


def camera_frame(side: int, seed=0) -> np.ndarray:
    """The camera fixture's HT29 nuclei tiled to a ``side`` px frame (over
    ``STATS_MAX_ELEMENTS`` at 2048: its statistics sample is strided every 2nd pixel)."""
    sharp = tifffile.imread(SAMPLES / "ht29_nuclei_hoechst.tif").astype(np.float64)
    sharp = np.clip(sharp - np.percentile(sharp, 1), 0, None)
    sharp *= 3000 / sharp.max()
    reps = (side // sharp.shape[0] + 1, side // sharp.shape[1] + 1)
    big = np.tile(sharp, reps)[:side, :side]
    rng = np.random.default_rng(seed)
    noisy = rng.poisson(gaussian_filter(big, 1.6)) + rng.normal(0, 1.5, big.shape)
    return np.round(np.clip(noisy, 0, None) + 100).astype(np.uint16)


def test_hot_pixels_of_a_frame_over_the_sample_limit_are_said():
    """Before: 40 hot pixels at 4095 in a 2048 px frame were filled by the tiles, but the
    sample (every 2nd pixel) raised the ratio to 6^4, so no line and no record said so."""
    frame = camera_frame(2048)
    image, hot = spiked(frame, 40, 4095, where=background(frame))
    _, said, parameters = run(image, **WIENER)
    assert len(said) == 1 and said[0].startswith("about ") and "stand alone" in said[0]
    assert 20 <= parameters["lone_pixels"]["pixels"] <= 80
    _, said, parameters = run(frame, **WIENER)
    assert not said and "lone_pixels" not in parameters


def bead_frame(sigma: float, side=2100, count=3000, seed=2) -> np.ndarray:
    """``count`` beads (Gaussian of ``sigma`` px, peaks 900-3000 counts over an offset of
    100) on even pixels: each on the grid a 2nd-pixel sample takes."""
    rng = np.random.default_rng(seed)
    light = np.zeros((side, side))
    ys, xs = (2 * rng.integers(5, side // 2 - 5, count) for _ in range(2))
    light[ys, xs] = rng.uniform(0.3, 1, count)
    light = gaussian_filter(light, sigma)
    light *= 3000 / light.max()
    return (rng.poisson(light) + rng.normal(100, 1.5, light.shape)).astype(np.float32)


@pytest.mark.parametrize("sigma", [0.6, 0.8, 1.0])
def test_beads_of_a_frame_over_the_sample_limit_are_not_lone(sigma):
    """Beads stand alone among neighbours 2 px apart in the strided sample (~2900 of 3000
    are candidates at the plain ratio); checked in the image itself, none is lone. Hot
    pixels among them still are."""
    image = bead_frame(sigma)
    sample = image[::2, ::2]
    assert int(saturation.lone_pixels(torch.from_numpy(np.ascontiguousarray(sample))).sum()) > 2000
    _, said, parameters = run(image, **WIENER)
    assert not said and "lone_pixels" not in parameters
    spikes, _ = spiked(image, 200, 65535.0)
    _, said, parameters = run(spikes, **WIENER)
    assert said and 100 <= parameters["lone_pixels"]["pixels"] <= 400


def test_a_strided_network_run_says_its_hot_pixels():
    """The same for a network's run (hot pixels at 4095 within its input range)."""
    frame = camera_frame(2048, seed=1)
    image, _ = spiked(frame, 40, 4095, where=background(frame), seed=3)
    sample = image[::2, ::2]
    lone = saturation.lone_in_sample(sample, image.shape, "YX", image=image,
                                     key=(slice(None, None, 2),) * 2)
    assert lone is not None and 5 <= int(lone.sum()) <= 20
    assert saturation.lone_in_sample(frame[::2, ::2], frame.shape, "YX", image=frame,
                                     key=(slice(None, None, 2),) * 2) is None
