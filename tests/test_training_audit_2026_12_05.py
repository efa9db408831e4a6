"""Training audit of 2026-12-05 (the Python API): a PSF-aware fine-tune refused after its PSF
was bound leaves the caller's network unbound, a bad ``intensity_jitter`` is refused before the
pairs are built, and a diverging self-adaptation stops with its note and no torch warning."""

import warnings

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_microdeblur.core import data as data_mod
from napari_microdeblur.core import registry
from napari_microdeblur.core.finetune import FinetuneRequest, iter_finetune
from napari_microdeblur.core.progress import drive
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.self_adapt import SelfAdaptConfig, self_adapt


def texture(seed: int, shape=(96, 96)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 2.0).astype(np.float32)


def psf_aware_request(tmp_path, **options) -> FinetuneRequest:
    torch.manual_seed(0)
    model = registry.build_model("wiener_unet", registry.get_arch("wiener_unet").tiny_config)
    sharp = texture(0)
    blurry = ndimage.gaussian_filter(sharp, 1.5)
    opts = dict(steps=2, patch=32, batch_size=2, device="cpu", psf="gaussian:1.5",
                noise_scale_calibration="off", checkpoint_dir=str(tmp_path / "ck"))
    opts.update(options)
    return FinetuneRequest(mode="pair", layer_name="pair", axes="YX", model=model,
                           base_label="tiny", base_card=None, blurry=blurry, sharp=sharp,
                           **opts)


@pytest.mark.parametrize(("option", "message"), [
    ({"intensity_jitter": 1.5}, "intensity_jitter=1.5"),
    ({"min_gain_db": -1.0}, "min_gain_db"),
])
def test_a_refused_psf_aware_finetune_leaves_the_callers_network_unbound(tmp_path, option,
                                                                          message):
    # these were refused after the PSF had been bound to the caller's network, which then
    # kept it: model(x) ran with the refused run's PSF instead of asking for one
    req = psf_aware_request(tmp_path, **option)
    with pytest.raises(ValueError, match=message):
        drive(iter_finetune(req))
    assert req.model.bound_psf is None
    with pytest.raises(ValueError, match="needs the PSF"):
        req.model(torch.zeros(1, 1, 32, 32))
    assert not (tmp_path / "ck" / "best.safetensors").exists()


def test_a_bad_intensity_jitter_is_refused_before_any_pair_is_built(tmp_path, monkeypatch):
    # it was refused only after every pair had been aligned (minutes on a large stack)
    def built(*args, **kwargs):
        raise AssertionError("the pairs were built before the option was checked")

    monkeypatch.setattr(data_mod, "pairs_from_arrays", built)
    req = psf_aware_request(tmp_path, psf=None, intensity_jitter=-0.1)
    req.model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    with pytest.raises(ValueError, match=r"intensity_jitter=-0.1; accepted: a number in \[0, 1\)"):
        drive(iter_finetune(req))


def test_a_diverging_self_adaptation_stops_with_its_note_and_no_torch_warning():
    # the note read the loss with float() on a tensor needing grad: torch printed a
    # UserWarning (two lines with a source path) next to the one line saying what happened
    psf = gaussian_psf(1.6, size=13)
    rng = np.random.default_rng(0)
    image = ndimage.convolve(texture(1, (64, 96)), psf) + rng.normal(0, 0.01, (64, 96))
    torch.manual_seed(0)
    model = registry.build_model("c2f_unet", {**registry.get_arch("c2f_unet").tiny_config,
                                              "global_skip": True})
    start = {k: v.clone() for k, v in model.state_dict().items()}
    config = SelfAdaptConfig(minutes=30.0, max_steps=6, patch=32, batch_size=4, lr=1e8,
                             device="cpu", prior_from="start")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = self_adapt(model, image.astype(np.float32), psf, config=config)
    assert result.stopped == "diverged"
    assert any("stopped; the best weights so far are kept" in n for n in result.notes)
    assert not [w for w in caught if issubclass(w.category, UserWarning)], \
        [str(w.message) for w in caught]
    assert not result.improved
    assert all(torch.equal(start[k], v) for k, v in result.model.state_dict().items())
