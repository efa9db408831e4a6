"""deblur / iter_deblur over axes, dtypes and array types; bad input gets a clear error."""

import numpy as np
import pytest

from napari_microdeblur.core.degrade import degrade, protocol_psf
from napari_microdeblur.core.inference import check_axes, deblur, guess_axes, iter_deblur
from napari_microdeblur.core.metrics import evaluate
from napari_microdeblur.core.psf import gaussian_psf


def test_richardson_lucy_improves_a_real_image_and_keeps_units(fluo_u8):
    blurred = degrade(fluo_u8, "A", seed=1)
    out = deblur(blurred, method="richardson_lucy", psf=protocol_psf("A"), iterations=20,
                 device="cpu", tile=64)
    before = evaluate(blurred, fluo_u8)["psnr"]
    after = evaluate(out, fluo_u8)
    assert out.dtype == np.float32 and out.shape == fluo_u8.shape
    assert after["psnr"] > before + 1.5
    # small tiles give the result of one whole-image tile: no seams
    whole = deblur(blurred, method="richardson_lucy", psf=protocol_psf("A"), iterations=20,
                   device="cpu", tile=256)
    assert evaluate(out, whole)["psnr_whole"] > 50


def test_output_dtype_input_is_clipped_to_its_range(fluo_u16):
    """Nuclei stretched to the full uint16 range: Wiener's ringing overshoots both ends in
    float32, and output_dtype='input' rounds and clips those values, not wraps them."""
    full = (fluo_u16.astype(np.float64) * (65535 / fluo_u16.max())).astype(np.uint16)
    options = dict(method="wiener", psf="gaussian:1.6", balance=0.001, device="cpu")
    floats = deblur(full, **options)
    assert floats.max() > 65535 and floats.min() < 0  # clipping is exercised at both ends
    out = deblur(full, output_dtype="input", **options)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, np.clip(np.rint(floats), 0, 65535).astype(np.uint16))


@pytest.mark.parametrize("axes", ["ZYX", "TYX"])
def test_stacks_run_plane_by_plane(focus_stack, axes):
    stack = focus_stack[:4]
    # a fixed balance: 'auto' settles one balance per image, from its middle plane or first time
    # point, which plane 2 alone need not share
    out = deblur(stack, method="wiener", psf="gaussian:1.2", balance=0.01, axes=axes,
                 device="cpu")
    one = deblur(stack[2], method="wiener", psf="gaussian:1.2", balance=0.01, device="cpu")
    assert out.shape == stack.shape
    # the same plane alone gives the same result up to the per-image normalisation scale
    np.testing.assert_allclose(out[2], one, rtol=1e-3, atol=1e-2)


def test_rgb_and_channel_first_give_the_same_result(he_rgb):
    # a fixed balance: 'auto' is found per channel of a C axis, once for RGB's colours
    rgb = deblur(he_rgb, method="wiener", psf="disk:2", balance=0.01, axes="YXS", device="cpu")
    cyx = deblur(np.moveaxis(he_rgb, -1, 0), method="wiener", psf="disk:2", balance=0.01,
                 axes="CYX", device="cpu")
    np.testing.assert_allclose(np.moveaxis(rgb, -1, 0), cyx, atol=1e-4)


def test_dask_and_memmap_inputs(tmp_path, fluo_u16):
    import dask.array as da

    ref = deblur(fluo_u16, method="wiener", psf="gaussian:1.6", device="cpu")
    lazy = da.from_array(fluo_u16, chunks=32)
    np.testing.assert_allclose(deblur(lazy, method="wiener", psf="gaussian:1.6", device="cpu"),
                               ref, atol=1e-4)
    mm = np.lib.format.open_memmap(tmp_path / "a.npy", mode="w+", dtype=np.uint16,
                                   shape=fluo_u16.shape)
    mm[:] = fluo_u16
    np.testing.assert_allclose(deblur(mm, method="wiener", psf="gaussian:1.6", device="cpu"),
                               ref, atol=1e-4)


def test_result_records_normalisation_and_parameters(fluo_u8):
    gen = iter_deblur(fluo_u8, method="richardson_lucy", psf="gaussian:1.6", iterations=3,
                      device="cpu")
    records = []
    while True:
        try:
            records.append(next(gen))
        except StopIteration as stop:
            result = stop.value
            break
    assert records[-1].done == records[-1].total == len(records)
    assert result.parameters["iterations"] == 3
    assert result.normalization.scale == pytest.approx(float(fluo_u8.max()))


def test_axes_guesses():
    assert guess_axes((64, 64)) == "YX"
    assert guess_axes((64, 64, 3)) == "YXS"
    assert guess_axes((10, 64, 64)) == "ZYX"
    assert guess_axes((2, 10, 64, 64, )) == "CZYX"
    assert guess_axes((5, 2, 10, 64, 64)) == "TCZYX"


@pytest.mark.parametrize(
    "image,kwargs,error,match",
    [
        (np.zeros((32, 32)), {"axes": "ZYX"}, ValueError, "3 letters"),
        (np.zeros((32, 32)), {"axes": "YY"}, ValueError, "at most once"),
        (np.zeros((32, 32)), {"tile": 16, "overlap": 16}, ValueError, "overlap"),
        (np.zeros((64, 64)), {"tile": 8, "psf": "gaussian:3"}, ValueError,
         "tile 8 is not larger than the PSF"),
        (np.zeros((64, 64)), {"tile": 8, "psf": gaussian_psf(3.0)}, ValueError, "receptive field"),
        (np.zeros((1, 1)), {}, ValueError, "single pixel"),
        (np.zeros((0, 5)), {}, ValueError, "empty"),
        (np.full((32, 32), np.nan), {}, ValueError, "NaN"),
        (np.full((32, 32), np.inf), {}, ValueError, "NaN or Inf"),
        (np.zeros((32, 32), dtype=complex), {}, TypeError, "complex"),
        (np.zeros((32, 32), dtype=bool), {}, TypeError, "boolean"),
        (np.zeros((8, 8)), {"psf": "gaussian:4"}, ValueError, "PSF"),
        (np.zeros((32, 32)), {"window": "hamming"}, ValueError, "window"),
        (np.zeros((32, 32)), {"output_dtype": "uint8"}, ValueError, "output_dtype"),
        (np.zeros((32, 32)), {"device": "tpu"}, ValueError, "device"),
        ([[1, 2], [3, 4]], {}, TypeError, "array"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(image, kwargs, error, match):
    kwargs = {"psf": "gaussian:1.0", **kwargs}
    before = np.array(image, copy=True) if isinstance(image, np.ndarray) else None
    with pytest.raises(error, match=match):
        deblur(image, method="wiener", device=kwargs.pop("device", "cpu"), **kwargs)
    if before is not None:
        np.testing.assert_array_equal(image, before)


def test_missing_psf_and_unknown_method():
    with pytest.raises(ValueError, match="needs a PSF"):
        deblur(np.ones((16, 16)), method="richardson_lucy", device="cpu")
    with pytest.raises(ValueError, match="no_such_method"):
        deblur(np.ones((16, 16)), method="no_such_method", device="cpu")


def test_check_axes_accepts_lowercase():
    assert check_axes("tczyx", (1, 2, 3, 4, 5)) == "TCZYX"


@pytest.mark.parametrize("arch", ["gran", "c2f_unet", "sgpn", "psf_cyclegan"])
def test_every_architecture_keeps_odd_shapes_through_the_tiler(arch, fluo_u8, focus_stack):
    import torch

    from napari_microdeblur.core import registry

    record = registry.get_arch(arch)
    torch.manual_seed(0)
    model = registry.build_model(arch, record.tiny_config)
    if model.spatial_dims == 3:
        image, axes = focus_stack[:9, :37, :41], "ZYX"
    else:
        image, axes = fluo_u8[:53, :71], "YX"
    # one tile, padded up to the size divisor
    out = deblur(image, method=model, axes=axes, device="cpu")
    assert out.shape == image.shape and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    if 2 * model.receptive_field < 40:  # and several tiles where the receptive field allows
        tiled = deblur(image, method=model, axes=axes, device="cpu", tile=40, overlap=16)
        assert tiled.shape == image.shape and np.all(np.isfinite(tiled))


def test_a_network_with_three_channels_refuses_a_gray_image(fluo_u8):
    from napari_microdeblur.core import registry

    config = dict(registry.get_arch("gran").tiny_config, in_channels=3, out_channels=3)
    model = registry.build_model("gran", config)
    with pytest.raises(ValueError, match="3 channels"):
        deblur(fluo_u8, method=model, device="cpu")


def test_reduced_precision_stays_close_to_float32(fluo_u8):
    import torch

    from napari_microdeblur.core import registry
    from napari_microdeblur.core.metrics import psnr

    torch.manual_seed(0)
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config)
    full = deblur(fluo_u8, method=model, precision="float32", device="cpu", tile=64)
    fast = deblur(fluo_u8, method=model, precision="bfloat16", device="cpu", tile=64)
    assert psnr(fast, full, data_range=255.0) > 45
    with pytest.raises(ValueError, match="precision"):
        deblur(fluo_u8, method=model, precision="int8", device="cpu")


def test_auto_method_picks_the_bundled_default_by_image_kind(fluo_u8, he_rgb, tmp_path,
                                                             monkeypatch):
    import torch

    from napari_microdeblur.core import registry, weights

    monkeypatch.setattr("napari_microdeblur.core.bundled.BUNDLED_WEIGHTS", {})
    with pytest.raises(ValueError, match="needs bundled weights"):
        deblur(fluo_u8, method="auto", device="cpu")
    torch.manual_seed(0)
    for name, channels in (("gran.fluo_v1", 1), ("gran.hist_v1", 3)):
        config = dict(registry.get_arch("gran").tiny_config, in_channels=channels,
                      out_channels=channels)
        model = registry.build_model("gran", config)
        path = tmp_path / f"{name}.safetensors"
        weights.save_weights(model, path, {"arch": "gran", "config": model.config.model_dump(),
                                           "in_channels": channels, "out_channels": channels})
        weights.BUNDLED_WEIGHTS[name] = weights.BundledWeights(
            file=path.name, sha256=weights.sha256_file(path), license="BSD-3-Clause",
            description="test")
    monkeypatch.setattr("napari_microdeblur.core.bundled.WEIGHTS_DIR", tmp_path)
    gen = iter_deblur(he_rgb, method="auto", axes="YXS", device="cpu")
    result = drain_result(gen)
    assert result.method == "gran.hist_v1"
    assert drain_result(iter_deblur(fluo_u8, method="auto", device="cpu")).method == "gran.fluo_v1"


def drain_result(gen):
    from napari_microdeblur.core.inference import drain

    return drain(gen)


@pytest.mark.parametrize("method,options", [("richardson_lucy", {"iterations": 10}),
                                            ("wiener", {"balance": 0.01})])
def test_a_stack_of_few_planes_deconvolves_in_3d_under_a_laterally_wider_psf(method, options):
    """A widefield z-stack often has fewer planes than its PSF is wide: the PSF must fit the
    image axis by axis (here 5 planes of 25 x 25 px on 8 planes of 64 x 64 px)."""
    from scipy import ndimage

    rng = np.random.default_rng(0)
    sharp = ndimage.gaussian_filter(rng.random((8, 64, 64)), (0.5, 1.5, 1.5)).astype(np.float32)
    z, y, x = np.mgrid[-2:3, -12:13, -12:13]  # wider out of focus, as a widefield PSF
    psf = np.exp(-(x**2 + y**2) / (2 * (2.0 + 1.5 * np.abs(z)) ** 2) - z**2 / 2)
    psf = (psf / psf.sum()).astype(np.float32)
    blurred = ndimage.convolve(sharp, psf, mode="reflect").astype(np.float32)
    out = deblur(blurred, method=method, psf=psf, axes="ZYX", device="cpu", **options)
    assert out.shape == sharp.shape
    gain = evaluate(out, sharp, border=12)["psnr"] - evaluate(blurred, sharp, border=12)["psnr"]
    assert gain > 0.3
