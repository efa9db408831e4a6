"""A tiled PSF-aware run gives the untiled result with the safeguard on (review 2026-12-18).

The safeguard judged each tile alone (``psf_safeguard.blocked_correction_ratio`` and the blend
toward a conservative Wiener), so a custom tile blended other shares than the whole plane: with
``wiener_unet.psf_v4`` on a 384 px image whose PSF did not fit, 36 % (gray) and 39 % (RGB) of
the range at 160 px tiles. A plane cut into tiles is now judged once (``_PsfRunner.start_plane``)
and its noise level is estimated only for a model that takes one, on the run's device.

A tiny random PSF-aware network with its limit set just under its ratio on the image, so the
plane and its tiles fall in the safeguard's soft band (a share between 0 and 1)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from napari_microdeblur.core import psf_aware, psf_safeguard
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.psf_aware import psf_aware_method
from napari_microdeblur.core.registry import build_model, get_arch

PSF = "gaussian:1.6"
# the tiny network's default overlap (40 px) is short of its Wiener step's reach (see
# test_parity_2026_12_18): 56 px is not
TILED = {"tile": 64, "overlap": 56}
pytestmark = [pytest.mark.filterwarnings("ignore:a tile of .* cuts each plane"),
              pytest.mark.filterwarnings("ignore::napari_microdeblur.core.notes.DeblurWarning")]


def tiny(rgb: bool, limit: float | None = None):
    torch.manual_seed(0)
    model = build_model("wiener_unet", get_arch("wiener_unet").tiny_config)
    method = psf_aware_method(model, PSF, precision="float32", rgb=rgb)
    if limit is not None:
        method.forward.model.limit = limit
    return method


def soft_limit(image, axes: str, rgb: bool) -> float:
    """A limit that puts the whole plane's ratio in the soft band (share about 0.5)."""
    method = tiny(rgb, limit=1e9)
    seen = []
    real = psf_safeguard.blocked_correction_ratio

    def spy(x, y, psf):
        seen.append(r := real(x, y, psf))
        return r

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(psf_safeguard, "blocked_correction_ratio", spy)
        deblur(image, method=method, axes=axes)
    return float(torch.cat(seen).max()) / 2 ** 0.5


@pytest.fixture(scope="module")
def gray() -> np.ndarray:
    """96 x 96: blocky (not blurred by the PSF) with uneven noise, so tiles' ratios differ."""
    rng = np.random.default_rng(0)
    scene = np.kron(rng.random((12, 12)), np.ones((8, 8)))
    level = 0.08 - 0.06 * np.mgrid[:96, :96][1] / 96.0
    return (scene + level * rng.standard_normal((96, 96))).astype(np.float32)


def max_diff(a, b, image) -> float:
    return float(np.abs(np.asarray(a, np.float64) - b).max() / np.ptp(image))


@pytest.mark.parametrize("rgb", [False, True], ids=["gray", "rgb"])
def test_a_tiled_plane_takes_the_whole_planes_safeguard_share(rgb, gray, he_rgb):
    image, axes = (he_rgb, "YXS") if rgb else (gray, "YX")
    limit = soft_limit(image, axes, rgb)
    runs = {}
    for name, tiling in (("whole", {}), ("tiled", TILED)):
        runs[name] = method = tiny(rgb, limit)
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            runs[name + " image"] = deblur(image, method=method, axes=axes,
                                           output_dtype="float32", **tiling)
        assert any("blended its result toward" in str(w.message) for w in said)
    assert runs["whole"].forward.model.fallback_tiles == 1
    # was 0.03 (gray) and 0.04 (RGB): each tile judged alone
    assert max_diff(runs["tiled image"], runs["whole image"], image) < 1e-4


def test_no_noise_level_for_a_model_that_takes_none(gray, monkeypatch):
    method = tiny(False)
    bound = method.forward.model
    monkeypatch.setattr(bound, "takes_sigma", False)
    calls = []
    monkeypatch.setattr(psf_aware._BoundPsf, "noise_levels",
                        lambda self, x: calls.append(x) or torch.zeros(x.shape[:2]))
    deblur(gray, method=method, axes="YX", **TILED)
    assert calls == []  # was one whole-plane estimate per plane, unused


def test_the_plane_noise_level_is_estimated_on_the_runs_device(gray, monkeypatch):
    method = tiny(False)
    seen = []  # (the meta device computes no median: the spy answers for it)
    monkeypatch.setattr(psf_aware._BoundPsf, "noise_levels",
                        lambda self, x: seen.append(x.device) or torch.zeros(x.shape[:2]))
    image = gray[None]
    method.forward.start_plane(lambda sl: image[(slice(None), *sl)], gray.shape,
                               lambda b: b.astype(np.float32), device="meta")
    assert seen and seen[0].type == "meta"  # was always the CPU


def test_a_whole_plane_check_out_of_memory_is_tried_once_and_said(gray):
    """Out of memory on the whole-plane check: tiles are judged alone, with one note, and the
    check is not tried again on every later plane (a review saw one failed try per plane)."""
    method = tiny(False, limit=1.0)
    runner = method.forward
    tries = []
    real_call = type(runner).__call__

    def short_of_memory(self, x, *args, **kwargs):
        if x.shape[-1] >= 96:  # the whole 96 px plane; the 64 px tiles fit
            tries.append(x.shape)
            raise torch.OutOfMemoryError("CUDA out of memory (a test)")
        return real_call(self, x, *args, **kwargs)

    stack = np.stack([gray, gray[::-1], gray[:, ::-1]])
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        mp.setattr(type(runner), "__call__", short_of_memory)
        deblur(stack, method=method, axes="ZYX", **TILED)
    assert len(tries) == 1, tries
    notes = [str(w.message) for w in said if "whole-plane check" in str(w.message)]
    assert len(notes) == 1 and "judged tile by tile" in notes[0], notes
