"""The Python API keeps its networks loaded between calls (from a walkthrough: a loop of
``deblur(tile, method='c2f_unet.em_v2')`` read the weights file on every call, and
``deblur(..., models=ModelCache())`` raised TypeError): ``inference.RECENT_MODELS``, the
``models=`` keyword of ``deblur`` / ``iter_deblur``, and what the kept networks must never do
(run another call's PSF, survive a rewrite of their file or training in place, keep a failed
load, grow without bound)."""

import os
import threading

import numpy as np
import pytest
import torch

from napari_microdeblur.core import checkpoint, inference
from napari_microdeblur.core.checkpoint import ModelCache, save_weights
from napari_microdeblur.core.inference import deblur, iter_deblur
from napari_microdeblur.core.progress import drive

BLIND = "c2f_unet.em_v2"
PSF_AWARE = "wiener_unet.psf_v4"


def image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).gamma(2.0, 50.0, (64, 64)).astype(np.float32)


@pytest.fixture
def loads(monkeypatch):
    """The weights each ``checkpoint.load_model`` call loaded, in order; an empty API cache."""
    recent = getattr(inference, "RECENT_MODELS", None)
    if recent is not None:
        recent.clear()
    calls = []
    real = checkpoint.load_model

    def counting(path_or_name, **kwargs):
        calls.append(str(path_or_name))
        return real(path_or_name, **kwargs)

    monkeypatch.setattr(checkpoint, "load_model", counting)
    yield calls
    if recent is not None:
        recent.clear()


def test_a_loop_of_deblur_calls_loads_the_bundled_network_once(loads):
    for seed in range(4):
        deblur(image(seed), method=BLIND, axes="YX", device="cpu")
    assert loads == [BLIND]


def test_a_kept_network_gives_what_a_fresh_load_gives(loads):
    kept = [deblur(image(s), method=BLIND, axes="YX", device="cpu") for s in (0, 1, 0)]
    fresh = deblur(image(0), method=BLIND, axes="YX", device="cpu", models=ModelCache())
    np.testing.assert_array_equal(kept[0], fresh)
    np.testing.assert_array_equal(kept[2], fresh)


def test_models_keyword_is_taken_by_deblur_and_iter_deblur(loads):
    models = ModelCache()
    deblur(image(0), method=BLIND, axes="YX", device="cpu", models=models)
    result = drive(iter_deblur(image(1), method=BLIND, axes="YX", device="cpu",
                               models=models))
    assert loads == [BLIND] and result.image.shape == (64, 64)
    assert len(getattr(inference, "RECENT_MODELS", ())) == 0  # the given cache, not the API's


def test_a_kept_psf_aware_network_runs_each_calls_own_psf(loads):
    x = image(0)
    narrow = deblur(x, method=PSF_AWARE, psf="gaussian:1.0", axes="YX", device="cpu")
    wide = deblur(x, method=PSF_AWARE, psf="gaussian:2.5", axes="YX", device="cpu")
    again = deblur(x, method=PSF_AWARE, psf="gaussian:1.0", axes="YX", device="cpu")
    assert loads == [PSF_AWARE]
    np.testing.assert_array_equal(again, narrow)
    fresh = deblur(x, method=PSF_AWARE, psf="gaussian:2.5", axes="YX", device="cpu",
                   models=ModelCache())
    np.testing.assert_array_equal(wide, fresh)
    assert not np.array_equal(wide, narrow)


def tiny_gran(path, seed: int) -> None:
    from napari_microdeblur.core import registry

    torch.manual_seed(seed)
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    save_weights(model, path, {"license": "BSD-3-Clause", "training_data": "none (test)"})


def test_a_rewritten_weights_file_is_loaded_again(loads, tmp_path):
    path = tmp_path / "w.safetensors"
    tiny_gran(path, 0)
    first = [deblur(image(0), method="auto", weights=str(path), axes="YX", device="cpu")
             for _ in range(2)]
    assert len(loads) == 1
    stamp = path.stat().st_mtime_ns
    tiny_gran(path, 1)
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))  # a coarse clock still sees a change
    after = deblur(image(0), method="auto", weights=str(path), axes="YX", device="cpu")
    assert len(loads) == 2
    fresh = deblur(image(0), method="auto", weights=str(path), axes="YX", device="cpu",
                   models=ModelCache())
    np.testing.assert_array_equal(after, fresh)
    assert not np.array_equal(after, first[0])


def test_a_network_changed_in_place_or_bound_to_a_psf_is_not_reused(loads):
    recent = inference.RecentModels()
    model, _ = recent.load(BLIND)
    assert recent.load(BLIND)[0] is model
    with torch.no_grad():  # as an optimiser step would
        next(model.parameters()).add_(1.0)
    reloaded, _ = recent.load(BLIND)
    assert reloaded is not model and len(loads) == 2
    aware, _ = recent.load(PSF_AWARE)
    aware.bind_psf(torch.ones(3, 3) / 9)  # as fine-tuning on pairs does
    assert recent.load(PSF_AWARE)[0] is not aware


def test_a_failed_load_is_not_kept(loads, monkeypatch):
    counting = checkpoint.load_model

    def fails_once(path_or_name, **kwargs):
        monkeypatch.setattr(checkpoint, "load_model", counting)
        loads.append("failed")
        raise ValueError("a truncated file")

    monkeypatch.setattr(checkpoint, "load_model", fails_once)
    with pytest.raises(ValueError, match="truncated"):
        deblur(image(0), method=BLIND, axes="YX", device="cpu")
    for seed in range(2):
        deblur(image(seed), method=BLIND, axes="YX", device="cpu")
    assert loads == ["failed", BLIND]


def test_the_cache_keeps_only_the_most_recent_networks(loads):
    recent = inference.RecentModels(most=2)
    for name in (BLIND, PSF_AWARE, "c2f_unet.fluorescence_v2"):
        recent.load(name)
    assert len(recent) == 2
    recent.load(BLIND)  # the oldest was dropped
    assert loads == [BLIND, PSF_AWARE, "c2f_unet.fluorescence_v2", BLIND]


def test_threads_share_one_load_and_get_the_single_thread_results(loads):
    reference = ModelCache()
    expected = {s: deblur(image(s), method=BLIND, axes="YX", device="cpu", models=reference)
                for s in range(4)}
    got, errors = {}, []

    def work(seeds):
        try:
            for s in seeds:
                got[s] = deblur(image(s), method=BLIND, axes="YX", device="cpu")
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(seeds,)) for seeds in ((0, 1), (2, 3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert loads.count(BLIND) == 2  # the fresh reference's load and the threads' one
    for s, value in expected.items():
        np.testing.assert_array_equal(got[s], value)
