"""core.method (MethodSpec, TilingSpec), core.axes and core.progress: the shared models."""

import json

import numpy as np
import pytest
import torch

from napari_microdeblur.core import axes as axes_model
from napari_microdeblur.core.bundled import auto_method_name
from napari_microdeblur.core.inference import deblur, prepare_deblur
from napari_microdeblur.core.method import MethodSpec, PsfArray
from napari_microdeblur.core.progress import drive
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE
from napari_microdeblur.core.tiling_spec import TilingSpec

# ----------------------------------------------------------------------------- MethodSpec


def test_spec_is_hashable_and_round_trips_through_json():
    spec = MethodSpec("wiener", psf="gaussian:1.6", balance=0.02)
    same = MethodSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert same == spec and hash(same) == hash(spec)
    kernel = gaussian_psf(1.2)
    with_array = MethodSpec("richardson_lucy", psf=kernel, iterations=7)
    assert isinstance(with_array.psf, PsfArray)
    np.testing.assert_array_equal(with_array.psf_value, kernel.astype(np.float32))
    back = MethodSpec.from_dict(json.loads(json.dumps(with_array.to_dict())))
    assert back == with_array and hash(back) == hash(with_array)
    assert len({spec, same, with_array, back}) == 2
    with pytest.raises(ValueError, match="unknown keys"):
        MethodSpec.from_dict({"name": "wiener", "sigma": 2})


@pytest.mark.parametrize(
    "changes,message",
    [
        (dict(name="wiener"), "needs a PSF"),
        (dict(name="wiener", psf="gaussian:-1"), "sigma"),
        (dict(name="wiener", psf="nowhere.tif"), "psf='nowhere.tif'"),
        (dict(iterations=0), "iterations=0"),
        (dict(balance=0), "balance=0"),
        (dict(tv_weight=-1.0), "tv_weight"),
        (dict(precision="float8"), "precision"),
        (dict(modality="xray"), "modality"),
        (dict(weights="missing.safetensors"), "weights='missing.safetensors'"),
        (dict(name="gran"), "give weights=FILE"),
        (dict(name="no_such_method"), "is not one of"),
    ],
)
def test_check_names_the_bad_option_and_loads_nothing(changes, message):
    spec = MethodSpec(**changes)
    with pytest.raises((ValueError, TypeError), match=message):
        spec.check()


def test_check_accepts_the_accepted_names(tmp_path):
    for spec in (MethodSpec(), MethodSpec("wiener", psf="disk:3"),
                 MethodSpec("richardson_lucy", psf=gaussian_psf(1.0))):
        assert spec.check() is spec


def test_auto_picks_the_default_network_for_the_image():
    # the shipped table: fluorescence runs its blind network; EM and brightfield (RGB) run the
    # PSF-aware network with a PSF estimated from the image (core.bundled.auto_psf)
    assert auto_method_name(MethodSpec(), rgb=False) == "c2f_unet.fluorescence_v2"
    assert auto_method_name(MethodSpec(), rgb=True) == DEFAULT_PSF_AWARE
    assert auto_method_name(MethodSpec(modality="em"), rgb=False) == DEFAULT_PSF_AWARE
    assert auto_method_name(MethodSpec("wiener", psf="disk:3"), rgb=False) == "wiener"
    assert auto_method_name(MethodSpec(weights="w.safetensors"), rgb=False) == "auto"


def test_a_weights_file_alone_says_which_network_runs(tmp_path, fluo_u8):
    from napari_microdeblur.core import registry, weights

    torch.manual_seed(0)
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    path = tmp_path / "net.safetensors"
    weights.save_weights(model, path, {"license": "BSD-3-Clause",
                                       "training_data": "none: random weights for a test"})
    spec = MethodSpec(weights=str(path)).check()
    method = spec.resolve()
    assert method.parameters["card"]["arch"] == "gran"
    image = fluo_u8[:64, :64]
    expected = deblur(image, method=weights.load_model(path)[0], device="cpu")
    got = prepare_deblur(image, "YX", spec, TilingSpec(device="cpu")).run().image
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


# ----------------------------------------------------------------------------- TilingSpec


@pytest.mark.parametrize(
    "changes,message",
    [
        (dict(tile=0), "tile=0"),
        (dict(overlap=-1), "overlap=-1"),
        (dict(batch_size=0), "batch_size=0"),
        (dict(window="hann"), "window"),
        (dict(output_dtype="uint8"), "output_dtype"),
        (dict(device="tpu"), "device"),
    ],
)
def test_tiling_check_names_the_bad_option(changes, message):
    with pytest.raises((ValueError, TypeError), match=message):
        TilingSpec(**changes).check()


def test_cuda_without_cuda_is_refused_up_front():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA is not available"):
        TilingSpec(device="cuda").check()


def test_tiling_spec_round_trips_and_takes_lists():
    spec = TilingSpec(tile=[64, 96], overlap=8, device=torch.device("cpu"))
    assert spec.tile == (64, 96) and spec.device == "cpu"
    assert TilingSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


# ----------------------------------------------------------------------------- prepared runs


def test_prepare_checks_without_work_and_runs_like_deblur(fluo_u16):
    spec = MethodSpec("wiener", psf="gaussian:1.6")
    prepared = prepare_deblur(fluo_u16, "YX", spec, TilingSpec(tile=64, device="cpu"))
    assert prepared.method.name == "wiener" and prepared.layout.spatial_axes == "YX"
    records = []
    result = prepared.run(callback=records.append)
    assert records and records[-1].done == records[-1].total == len(records)
    expected = deblur(fluo_u16, method="wiener", psf="gaussian:1.6", tile=64, device="cpu")
    np.testing.assert_array_equal(result.image, expected)
    with pytest.raises(ValueError, match="out has shape"):
        prepared.iter_run(out=np.empty((3, 3), np.float32))
    with pytest.raises(ValueError, match="overlap"):
        prepare_deblur(fluo_u16, "YX", spec, TilingSpec(tile=32, overlap=32))


# ----------------------------------------------------------------------------- axes


def test_axes_model_walks_planes_and_channels():
    image = np.arange(2 * 3 * 8 * 9).reshape(2, 3, 8, 9)
    assert axes_model.check_axes("tcyx", image.shape) == "TCYX"
    assert axes_model.channel_index("TCYX") == 1 and axes_model.channel_index("ZYX") is None
    assert axes_model.loop_axes("TCYX") == "TC"
    planes = list(axes_model.iter_planes(image, "TCYX"))
    assert [i for i, _ in planes] == [(t, c) for t in range(2) for c in range(3)]
    np.testing.assert_array_equal(planes[4][1], image[1, 1])
    stack, loop_shape, plane_axes = axes_model.stack_planes(image, "TCYX")
    assert stack.shape == (2, 3, 8, 9) and loop_shape == (2,) and plane_axes == "CYX"
    moved = axes_model.to_order(image, "TCYX", "YXTC")
    assert moved.shape == (8, 9, 2, 3)
    assert axes_model.is_rgb("YXS", (8, 9, 3)) and not axes_model.is_rgb("YXS", (8, 9, 4))
    with pytest.raises(ValueError, match="letters differ"):
        axes_model.to_order(image, "TCYX", "ZCYX")
    with pytest.raises(ValueError, match="both C and S"):
        axes_model.check_axes("CYXS", (2, 8, 9, 3))


# ----------------------------------------------------------------------------- progress


def test_drive_returns_the_result_and_closes_on_a_callback_error():
    closed = []

    def work():
        try:
            yield from range(3)
            return "done"
        finally:
            closed.append(True)

    seen = []
    assert drive(work(), seen.append) == "done" and seen == [0, 1, 2]

    def stop(record):
        raise KeyboardInterrupt

    closed.clear()
    with pytest.raises(KeyboardInterrupt):
        drive(work(), stop)
    assert closed == [True]


def test_psf_as_large_as_the_image_is_cut_to_its_support_with_a_note():
    import warnings

    from napari_microdeblur.core.inference import deblur
    from napari_microdeblur.core.psf import gaussian_psf

    rng = np.random.default_rng(0)
    image = rng.random((64, 64)).astype(np.float32)
    bead_image = np.zeros((81, 81), np.float32)  # a whole bead image, larger than the image
    g = gaussian_psf(1.5)
    r = g.shape[0] // 2
    bead_image[40 - r : 41 + r, 40 - r : 41 + r] = g
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = MethodSpec(name="wiener", psf=bead_image, balance=0.05)
        out = deblur(image, axes="YX", method=spec)
    notes = [str(w.message) for w in caught if "larger than the image" in str(w.message)]
    assert len(notes) == 1 and "cut to" in notes[0]
    expected = deblur(image, axes="YX", method=MethodSpec(name="wiener", psf=g, balance=0.05))
    np.testing.assert_allclose(np.asarray(out), np.asarray(expected), atol=1e-3)


@pytest.mark.parametrize(("method", "psf", "shape", "axes", "tile", "words"), [
    ("wiener", "gaussian:1.6", (10, 10), "YX", None, "is 15 x 15 px, larger than the image"),
    ("richardson_lucy", "disk:3", (2, 64), "YX", None,
     r"larger than the image \(2 x 64 px in YX\)"),
    ("auto", "gaussian:1.6", (4, 10, 10), "ZYX", None, "larger than the image"),
    ("wiener", "gaussian:3", (128, 128), "YX", 16, "tile 16 is not larger than the PSF"),
])
def test_a_psf_model_that_cannot_fit_is_refused_before_any_work(method, psf, shape, axes, tile,
                                                                   words, monkeypatch):
    from napari_microdeblur.core import inference

    def no_work(*args):  # the 'auto' settings, estimates and network loading come after
        raise AssertionError("prepared further than the check")

    monkeypatch.setattr(inference, "spec_for_image", no_work)
    image = np.ones(shape, np.float32)
    with pytest.raises(ValueError, match=words):
        prepare_deblur(image, axes, MethodSpec(name=method, psf=psf), TilingSpec(tile=tile))
