"""Thin strips (2-16 px on one axis) through the bundled blind c2f_unet networks.

The v2 networks never learned the 16-32 px next to an input border, so they mirror 32 px
around every input. The mirror used to be narrowed to what one reflection of the short side
allows (8 px on the 16-px tile of an 8-px strip): the strip then sat in the border zone,
where the output blows up, far worse at the top border than at the left one, so a
horizontal strip came back wrecked (8 x 1000 EM strip: 12.4 dB from 33.5) and its transpose
did not.
"""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.registry import build_model


def _psnr(x: np.ndarray, ref: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((x.astype(float) - ref) ** 2)))


@pytest.fixture(scope="module")
def grey_scene(fluo_u8):
    """HT29 nuclei inverted (a bright background, dark bodies: EM-like), blurred as a whole
    (Gaussian 1.6, noise) so a strip of it carries blur from rows outside it."""
    sharp = 255.0 - fluo_u8.astype(float)
    rng = np.random.default_rng(0)
    blurred = gaussian_filter(sharp, 1.6) + rng.normal(0, 1.0, sharp.shape)
    return sharp, np.clip(np.round(blurred), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("net", "first", "rows"), [("c2f_unet.em_v2", 90, 2),
                                                    ("c2f_unet.em_v2", 60, 8),
                                                    ("c2f_unet.fluorescence_v2", 60, 16)])
def test_horizontal_strip_scores_like_its_transpose_and_above_the_input(
        grey_scene, net, first, rows):
    sharp, blurred = grey_scene
    strip, truth = blurred[first : first + rows], sharp[first : first + rows]
    across = deblur(strip, method=net, device="cpu")
    down = deblur(np.ascontiguousarray(strip.T), method=net, device="cpu").T
    # before: 20.6 dB (em_v2, 8 rows) where the input has 37.6 and the transpose 38.3; 12.5
    # (2 rows) against 34.4 and 34.8; now 38.9 and 35.3
    assert _psnr(across, truth) > _psnr(strip, truth) - 0.5
    assert abs(_psnr(across, truth) - _psnr(down, truth)) < 1.0
    assert across.max() <= 1.1 * strip.max()


def test_auto_em_on_a_three_row_strip_keeps_its_range(grey_scene):
    """The walkthrough's case: ``auto`` without a PSF on a 3-px EM strip peaked at twice the
    input's maximum (here 394 for 249, 13.1 dB from 34.1)."""
    sharp, blurred = grey_scene
    strip = blurred[90:93]
    out = deblur(strip, method="auto", modality="em", device="cpu")
    assert out.shape == strip.shape
    assert out.max() <= 1.1 * strip.max()
    assert _psnr(out, sharp[90:93]) > _psnr(strip, sharp[90:93]) - 0.5


def _tiny_pair(mirror: int):
    config = {"levels": 2, "depth": 3, "base_channels": 4, "global_skip": True}
    mirrored = build_model("c2f_unet", {**config, "border_mirror": mirror}).eval()
    bare = build_model("c2f_unet", config).eval()
    bare.load_state_dict(mirrored.state_dict())
    return mirrored, bare


@pytest.mark.parametrize("shape", [(4, 40), (40, 4)])
def test_input_narrower_than_the_mirror_gets_the_whole_mirror(shape):
    """The configured mirror on every input, reflected again off the far side where the input
    is narrower (numpy's 'reflect'), never narrowed to the short side."""
    mirrored, bare = _tiny_pair(8)
    x = torch.rand(1, 1, *shape)
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (8, 8), (8, 8)), mode="reflect")
    with torch.no_grad():
        want = bare(torch.from_numpy(padded))[..., 8:-8, 8:-8]
        got = mirrored(x)
    assert torch.allclose(got, want, atol=1e-6)


def test_input_wider_than_the_mirror_is_padded_exactly_as_before():
    """The path every ordinary image takes is ``F.pad(..., 'reflect')`` bit for bit."""
    from napari_microdeblur.core.archs.c2f_unet import mirror_pad

    x = torch.rand(1, 2, 33, 48)
    assert torch.equal(mirror_pad(x, 32), torch.nn.functional.pad(x, (32,) * 4, mode="reflect"))
    small = torch.rand(1, 1, 3, 5)
    want = np.pad(small.numpy(), ((0, 0), (0, 0), (16, 16), (16, 16)), mode="reflect")
    assert np.array_equal(mirror_pad(small, 16).numpy(), want)
    assert torch.equal(mirror_pad(torch.ones(1, 1, 1, 4), 4), torch.ones(1, 1, 9, 12))
