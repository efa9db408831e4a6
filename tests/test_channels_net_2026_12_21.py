"""A network on an image with channels (C of 2 or more, not RGB) normalises each channel on its
own (``image_settings.network_per_channel``; the run splits the channels as one PSF per
channel does). One normalisation over all channels took the brightest one's range: a dim GFP
channel next to a bright DAPI one was under-restored and its mean moved (-14 % on a 4-channel
file). Also: a per-channel PSF refused by selective deblurring says so, not that
`microdeblur deblur` runs it; 'estimate' on a channel of one value passes it through."""

import warnings

import numpy as np
import pytest
import tifffile
from scipy.ndimage import gaussian_filter

from napari_microdeblur.cli import main
from napari_microdeblur.core.inference import compute_normalization, prepare_deblur
from napari_microdeblur.core.method import MethodSpec

PSF = "gaussian:1.6"


def _bright_and_dim(n: int = 96, z: int = 0) -> np.ndarray:
    """CYX (ZCYX with ``z`` planes) uint16: a bright channel (~1000-4000) and a dim one
    (~10-90), both blurred by ``PSF`` with Poisson noise, as DAPI beside GFP."""
    rng = np.random.default_rng(1)
    shape = (z, n, n) if z else (n, n)
    sharp = gaussian_filter(rng.random((2, *shape)), [0] + [1.0] * len(shape))
    sharp = (sharp - sharp.min()) / np.ptp(sharp)
    sharp = np.stack([1000 + 3000 * sharp[0], 10 + 80 * sharp[1]])
    blurred = np.stack([gaussian_filter(c, [0] * (len(shape) - 2) + [1.6, 1.6]) for c in sharp])
    image = rng.poisson(blurred).astype(np.uint16)
    return np.ascontiguousarray(np.moveaxis(image, 0, 1)) if z else image


def _run(image, axes: str, spec: MethodSpec, **kw):
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        prepared = prepare_deblur(image, axes, spec, **kw)
        result = prepared.run()
    return prepared, result, [str(w.message) for w in said]


@pytest.mark.parametrize("spec", [MethodSpec(), MethodSpec("gran.fluo_v1"),
                                  MethodSpec(psf=PSF)],
                         ids=["blind default", "gran.fluo_v1", "PSF-aware, one PSF"])
def test_a_network_gives_each_channel_the_pixels_it_gives_it_alone(spec):
    image = _bright_and_dim()
    prepared, result, _ = _run(image, "CYX", spec)
    _, alone, _ = _run(image[1], "YX", spec)
    np.testing.assert_array_equal(result.image[1], alone.image)  # the dim channel as alone
    # the record: each channel's own normalisation, the dim one on its own range
    norms = [run.normalization for run in prepared.channel_runs]
    assert len(norms) == 2 and norms[1] == alone.normalization != norms[0]
    channels = result.parameters["channels"]
    assert [c["normalization"]["scale"] for c in channels] == [n.scale for n in norms]
    assert "psf" not in result.parameters if spec.psf is None else \
        result.parameters["psf"] == f"{PSF};{PSF}"


def test_the_dim_channel_keeps_its_mean():
    image = _bright_and_dim()
    _, result, _ = _run(image, "CYX", MethodSpec())
    dim = image[1].astype(np.float64)
    assert abs(result.image[1].mean() - dim.mean()) < 0.02 * dim.mean()


@pytest.mark.parametrize("axes", ["ZCYX", "CZYX"])
def test_a_z_stack_with_channels_normalises_each_channel(axes):
    image = _bright_and_dim(64, z=3)  # ZCYX
    image = np.ascontiguousarray(np.moveaxis(image, 1, 0)) if axes == "CZYX" else image
    c = axes.index("C")
    prepared, result, _ = _run(image, axes, MethodSpec())
    dim = np.take(image, 1, axis=c)
    _, alone, _ = _run(dim, "ZYX", MethodSpec())
    np.testing.assert_array_equal(np.take(result.image, 1, axis=c), alone.image)
    assert len(prepared.channel_runs) == 2


def test_tiled_and_lazy_channels_give_the_same_pixels():
    import dask.array as da

    from napari_microdeblur.core.tiling_spec import TilingSpec

    image = np.tile(_bright_and_dim(), (1, 3, 3))  # 288 px: tiles of 192 overlap
    tiling = TilingSpec(tile=192)
    _, alone, _ = _run(image[1], "YX", MethodSpec(), tiling_spec=tiling)
    for array in (image, da.from_array(image, chunks=(1, 96, 96))):
        _, result, _ = _run(array, "CYX", MethodSpec(), tiling_spec=tiling)
        np.testing.assert_array_equal(result.image[1], alone.image)


def test_an_empty_channel_passes_through_with_the_note():
    image = np.concatenate([_bright_and_dim(), np.zeros((1, 96, 96), np.uint16)])
    _, result, said = _run(image, "CYX", MethodSpec())
    assert not result.image[2].any()
    assert any(line.startswith("channel 3:") and "single value" in line for line in said), said


def test_rgb_single_channel_and_time_points_run_whole_as_before():
    image = _bright_and_dim()
    rgb = np.moveaxis((image // 16).clip(0, 255).astype(np.uint8)[[0, 1, 0]], 0, -1)
    for array, axes in ((rgb, "YXS"), (image[1], "YX"), (image[1:], "CYX"), (image, "TYX")):
        prepared, result, said = _run(array, axes, MethodSpec())
        assert prepared.channel_runs == () and "channels" not in result.parameters
        assert prepared.normalization == compute_normalization(array, axes, "percentile")
        assert not any(line.startswith("channel ") for line in said)


@pytest.mark.parametrize("spec, axes, shape, split", [
    (MethodSpec(), "CYX", (3, 64, 64), True),  # the blind default
    (MethodSpec(psf=PSF), "CYX", (3, 64, 64), True),  # the PSF-aware network
    (MethodSpec(psf="estimate"), "CYX", (2, 64, 64), True),
    (MethodSpec("gran.fluo_v1"), "ZCYX", (3, 2, 64, 64), True),
    (MethodSpec("wiener_unet.psf_v4", psf=PSF), "CYX", (3, 64, 64), True),
    (MethodSpec("gran.hist_v1"), "CYX", (3, 64, 64), False),  # RGB weights take C whole
    # EM and brightfield: 'auto' estimates the PSF on the whole image, as the docks settle it
    (MethodSpec(modality="em"), "CYX", (2, 64, 64), False),
    (MethodSpec("gran.em_v1", modality="em"), "CYX", (2, 64, 64), False),
    (MethodSpec(), "YXS", (64, 64, 3), False),
    (MethodSpec(), "TYX", (3, 64, 64), False),
    (MethodSpec(), "CYX", (1, 64, 64), False),
    (MethodSpec("wiener", psf=PSF, balance=0.01), "CYX", (3, 64, 64), False),
])
def test_which_network_specs_split_their_channels(spec, axes, shape, split):
    from napari_microdeblur.core.image_settings import auto_per_channel

    assert auto_per_channel(spec, axes, shape) is split


def test_the_network_is_loaded_once_for_all_channels(monkeypatch):
    from napari_microdeblur.core import checkpoint

    loads = []
    real = checkpoint.load_model
    monkeypatch.setattr(checkpoint, "load_model", lambda *a, **k: loads.append(a) or real(*a, **k))
    image = np.concatenate([_bright_and_dim(64), _bright_and_dim(64)[:1]])
    prepared, _, _ = _run(image, "CYX", MethodSpec())
    assert len(prepared.channel_runs) == 3 and len(loads) == 1
    assert len({id(run.method.forward.model) for run in prepared.channel_runs}) == 1


def _zero_channel_image() -> np.ndarray:
    image = _bright_and_dim(128).astype(np.float32)
    return np.stack([image[0], np.zeros_like(image[0]), image[1]])


@pytest.mark.parametrize("spec", [
    MethodSpec("wiener", psf="estimate;estimate;estimate", balance=0.01),
    MethodSpec(psf="estimate;estimate;estimate"),
    MethodSpec(psf="estimate"),  # one PSF, estimated on each channel for the network
])
def test_estimate_passes_a_channel_of_one_value_through(spec):
    image = _zero_channel_image()
    _, result, said = _run(image, "CYX", spec)
    assert not result.image[1].any() and result.image[0].any()
    assert any(line.startswith("channel 2:") and "single value" in line for line in said), said
    assert not any("image is constant" in line for line in said)


def test_selective_deblurring_names_itself_when_it_refuses_a_psf_per_channel(tmp_path, capsys):
    image = _bright_and_dim(64, z=3)
    tifffile.imwrite(tmp_path / "z.tif", image, imagej=True, metadata={"axes": "ZCYX"})
    code = main(["deblur", str(tmp_path / "z.tif"), "-o", str(tmp_path / "x.tif"),
                 "--focus-below", "1e12", "--method", "wiener", "--psf",
                 "gaussian:1.2;gaussian:1.5"])
    err = capsys.readouterr().err
    assert code != 0
    assert "--focus-below" in err and "give one PSF" in err, err
    assert "which microdeblur deblur" not in err and "without the threshold" in err, err


def test_a_whole_image_run_refusing_a_psf_per_channel_says_which_run():
    from napari_microdeblur.core.image_settings import spec_for_image

    spec = MethodSpec("wiener", psf="gaussian:1.2;gaussian:1.5", balance=0.01)
    said = r"channel by channel; this run \(a Zarr volume on a cluster"
    with pytest.raises(ValueError, match=said):
        spec_for_image(spec, np.ones((2, 32, 32), np.float32), "CYX")


def test_a_zarr_volume_on_a_cluster_normalises_each_channel(client, tmp_path):
    from napari_microdeblur.core import io, io_write
    from napari_microdeblur.core.cluster import deblur_zarr_on_cluster
    from napari_microdeblur.core.provenance import RECORD_KEY

    image = _bright_and_dim()
    src, out = tmp_path / "cells.zarr", tmp_path / "out.zarr"
    with io_write.open_zarr_output(src, image.shape, image.dtype, axes="CYX",
                                   chunks=(1, 64, 64)) as target:
        target[...] = image
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        deblur_zarr_on_cluster(src, out, scheduler=client, method="auto", device="cpu")
    written = io.read_image(out)
    _, alone, _ = _run(image[1], "YX", MethodSpec())
    np.testing.assert_allclose(np.asarray(written.array[1]), alone.image,
                               atol=1e-3 * float(alone.image.max()))
    scales = [c["normalization"]["scale"] for c in written.metadata[RECORD_KEY]["channels"]]
    assert scales[1] == alone.normalization.scale != scales[0]
