"""A Python-API walkthrough: a torch tensor given to deblur, a read-only out= that failed
after the first tile, out= and memory checks made only after the automatic balance search,
method= given a weights file, the memory refusal naming the dock and the CLI to a Python
caller, and fine-tuning that had no plain blocking call (self_adapt took no minutes=)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_microdeblur.core import image_settings, memory
from napari_microdeblur.core.inference import deblur, iter_deblur

WIENER = dict(method="wiener", psf="gaussian:1.6", device="cpu")


def blobs(size=64, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    img = np.zeros((size, size), np.float32)
    for cy, cx in rng.integers(8, size - 8, (6, 2)):
        img += 100 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 8.0)
    return img + 5 + rng.normal(0, 1, img.shape).astype(np.float32)


@pytest.fixture
def no_balance_search(monkeypatch):
    """The automatic Wiener balance search fails the test: checks must come before it."""
    def searched(*args, **kwargs):
        raise AssertionError("the balance search ran before the check")
    monkeypatch.setattr(image_settings, "balance_for", searched)


def test_cpu_tensor_is_deblurred_as_its_numpy_array():
    image = blobs()
    tensor = torch.from_numpy(image.copy())
    result = deblur(tensor, balance=0.02, **WIENER)
    assert isinstance(result, np.ndarray)
    np.testing.assert_array_equal(result, deblur(image, balance=0.02, **WIENER))
    np.testing.assert_array_equal(tensor.numpy(), image)  # the input is not modified


def test_tensor_that_numpy_cannot_hold_is_refused_in_one_line():
    with pytest.raises(TypeError, match=r"bfloat16 tensor.*image\.float\(\)\.numpy\(\)"):
        deblur(torch.zeros((32, 32), dtype=torch.bfloat16), balance=0.02, **WIENER)


@pytest.mark.parametrize("kind", ["readonly", "memmap_r"])
def test_read_only_out_is_refused_before_any_work(tmp_path, kind, no_balance_search):
    image = blobs()
    if kind == "readonly":
        out = np.zeros(image.shape, np.float32)
        out.setflags(write=False)
    else:
        np.save(tmp_path / "o.npy", np.zeros(image.shape, np.float32))
        out = np.load(tmp_path / "o.npy", mmap_mode="r")
    with pytest.raises(ValueError, match="out is read-only.*writable"):
        iter_deblur(image, out=out, **WIENER)


def test_out_shape_and_dtype_are_checked_before_the_balance_search(no_balance_search):
    image = blobs()
    with pytest.raises(ValueError, match="out has shape"):
        iter_deblur(image, out=np.zeros((8, 8), np.float32), **WIENER)
    with pytest.raises(TypeError, match="out has dtype uint16"):
        iter_deblur(image, out=np.zeros(image.shape, np.uint16), **WIENER)


def test_read_only_zarr_out_is_refused(tmp_path):
    zarr = pytest.importorskip("zarr")
    image = blobs()
    zarr.open(str(tmp_path / "o.zarr"), mode="w", shape=image.shape, dtype="float32")
    with pytest.raises(ValueError, match="out is read-only"):
        deblur(image, out=zarr.open(str(tmp_path / "o.zarr"), mode="r"), balance=0.02,
               **WIENER)


def test_result_too_large_names_out_to_a_python_caller_before_the_search(
        monkeypatch, no_balance_search):
    monkeypatch.setattr(memory, "host_available_bytes", lambda: 1024)
    with pytest.raises(ValueError, match="GiB of memory.*give out= a writable array") as err:
        iter_deblur(blobs(), **WIENER)
    assert "dock" not in str(err.value)


def test_result_too_large_without_a_caller_lists_every_remedy(monkeypatch):
    monkeypatch.setattr(memory, "host_available_bytes", lambda: 1024)
    with pytest.raises(ValueError) as err:
        memory.check_result_fits((64, 64), np.float32)
    assert all(w in str(err.value) for w in ("out=", "-o OUT.tif", "current slice"))


@pytest.mark.parametrize("path", ["/data/x.safetensors", "model.pt", "./runs/best"])
def test_method_given_a_weights_file_says_weights(path):
    with pytest.raises(ValueError, match=rf"is a file: give weights='{path}'.*method='auto'"):
        deblur(blobs(), method=path)


def test_method_auto_with_weights_runs_the_file(tiny_gran_weights):
    image = blobs()
    by_auto = deblur(image, method="auto", weights=str(tiny_gran_weights), device="cpu")
    by_arch = deblur(image, method="gran", weights=str(tiny_gran_weights), device="cpu")
    np.testing.assert_array_equal(by_auto, by_arch)


def tiny_network():
    from napari_microdeblur.core import registry

    torch.manual_seed(0)
    return registry.build_model("c2f_unet", {**registry.get_arch("c2f_unet").tiny_config,
                                             "global_skip": True})


def test_self_adapt_takes_config_fields_as_keywords():
    from napari_microdeblur.core.self_adapt import self_adapt

    result = self_adapt(tiny_network(), blobs(96), "gaussian:1.6", axes="YX", minutes=30.0,
                        max_steps=2, patch=32, batch_size=2, device="cpu")
    assert result.steps_done == 2
    assert result.config.max_steps == 2 and result.config.patch == 32


def test_self_adapt_refuses_an_unknown_keyword_in_one_line():
    from napari_microdeblur.core.self_adapt import self_adapt

    with pytest.raises(TypeError, match=r"got 'steps'; accepted: .*max_steps") as err:
        self_adapt(tiny_network(), blobs(96), "gaussian:1.6", steps=10)
    assert "\n" not in str(err.value)


def test_finetune_on_a_pair_writes_weights_deblur_reads(tiny_gran_weights, tmp_path):
    from napari_microdeblur.core.finetune import FinetuneResult, finetune

    sharp = blobs(96)
    from scipy.ndimage import gaussian_filter

    blurry = gaussian_filter(sharp, 1.6).astype(np.float32)
    out = tmp_path / "tuned.safetensors"
    result = finetune(str(tiny_gran_weights), blurry, sharp, steps=4, patch=32, batch_size=2,
                      device="cpu", out=out, val_fraction=0.25)
    assert isinstance(result, FinetuneResult) and out.is_file()
    assert deblur(blurry, method="auto", weights=str(out), device="cpu").shape == blurry.shape


def test_finetune_without_a_reference_adapts_and_writes(tmp_path):
    from napari_microdeblur.core.finetune import finetune

    out = tmp_path / "adapted.safetensors"
    result = finetune((tiny_network(), None), blobs(96), psf="gaussian:1.6", minutes=30.0,
                      max_steps=2, patch=32, batch_size=2, device="cpu", out=out)
    assert result.steps_done == 2 and out.is_file()


def test_finetune_refuses_a_keyword_the_pair_job_lacks(tiny_gran_weights):
    from napari_microdeblur.core.finetune import finetune

    with pytest.raises(TypeError, match=r"got 'max_steps'; accepted with a pair: .*steps"):
        finetune(str(tiny_gran_weights), blobs(), blobs(), max_steps=3)
