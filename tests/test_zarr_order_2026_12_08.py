"""A .zarr output is stored in NGFF order (T, C, Z, Y, X; RGB samples last) whatever its
input's order: an ImageJ hyperstack (TZCYX, Z before C) was written Z before C, which NGFF 0.4
forbids and ome-zarr-py (napari-ome-zarr) refuses."""

import numpy as np
import pytest

from napari_microdeblur.core import io, io_write
from napari_microdeblur.core.files import deblur_file

zarr = pytest.importorskip("zarr")
tifffile = pytest.importorskip("tifffile")

RUN = {"method": "wiener", "psf": "gaussian:1.2", "device": "cpu", "tile": 64}


def _planes(seed=0):
    """3 planes of 2 channels (Z, C, Y, X), different in every plane and channel."""
    return np.random.default_rng(seed).integers(0, 4000, size=(3, 2, 24, 20)).astype(np.uint16)


def _multiscale(path):
    return zarr.open_group(str(path), mode="r").attrs["multiscales"][0]


def test_an_imagej_hyperstack_deblurred_to_zarr_is_stored_in_ngff_order(tmp_path):
    src = tmp_path / "fiji.tif"
    tifffile.imwrite(src, _planes(), imagej=True, resolution=(1 / 0.2, 1 / 0.2),
                     metadata={"axes": "ZCYX", "spacing": 0.5, "unit": "um"})
    assert io.read_image(src).axes == "ZCYX"
    deblur_file(src, tmp_path / "out.tif", **RUN)
    deblur_file(src, tmp_path / "out.zarr", **RUN)
    multiscale = _multiscale(tmp_path / "out.zarr")
    assert [a["name"] for a in multiscale["axes"]] == ["c", "z", "y", "x"]
    assert [a["type"] for a in multiscale["axes"]] == ["channel", "space", "space", "space"]
    scale = multiscale["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == pytest.approx([1.0, 0.5, 0.2, 0.2])
    expected = np.transpose(tifffile.imread(tmp_path / "out.tif"), (1, 0, 2, 3))
    stored = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")["0"][...]
    np.testing.assert_array_equal(stored, expected)
    back = io.read_image(tmp_path / "out.zarr")
    assert back.axes == "CZYX"
    assert back.pixel_size == pytest.approx({"Z": 0.5, "Y": 0.2, "X": 0.2})


def test_channel_names_follow_the_channels_into_the_ngff_order(tmp_path):
    """An OME-TIFF of ZCYX with named channels: the names stay with C in the .zarr output,
    and reading it back gives them with the NGFF-ordered pixels."""
    src = tmp_path / "named.ome.tif"
    planes = _planes(1)
    planes[:, 1] //= 4  # the channels differ in brightness: a swap would show
    tifffile.imwrite(src, planes, ome=True, metadata={
        "axes": "ZCYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1, "PhysicalSizeZ": 0.3,
        "Channel": {"Name": ["DAPI", "GFP"]}})
    assert io.read_image(src).axes == "ZCYX"
    deblur_file(src, tmp_path / "out.ome.tif", **RUN)
    deblur_file(src, tmp_path / "out.zarr", **RUN)
    back = io.read_image(tmp_path / "out.zarr")
    assert back.axes == "CZYX"
    assert back.metadata["channel_names"] == ["DAPI", "GFP"]
    assert back.pixel_size == pytest.approx({"Z": 0.3, "Y": 0.1, "X": 0.1})
    expected = np.transpose(tifffile.imread(tmp_path / "out.ome.tif"), (1, 0, 2, 3))
    np.testing.assert_array_equal(np.asarray(back.array[...]), expected)


def test_a_zarr_target_is_indexed_in_the_callers_axes_order(tmp_path):
    """What a run writes (ints, slices, an Ellipsis, a broadcast row) lands where the caller's
    axes say, and reads back so."""
    data = _planes(2)  # Z, C, Y, X
    out = tmp_path / "t.zarr"
    with io_write.open_zarr_output(out, data.shape, data.dtype, axes="ZCYX",
                                   chunks=(1, 2, 8, 20)) as target:
        assert target.shape == data.shape and target.ndim == 4
        assert target.chunks == (1, 2, 8, 20)
        target[0] = data[0]
        target[1:, :, :, :10] = data[1:, :, :, :10]
        target[1:, ..., 10:] = data[1:, ..., 10:]
        target[2, 1, 3] = 7  # a scalar into a row
        target[2, 0, :, 5] = np.arange(24, dtype=np.uint16)
        data[2, 1, 3] = 7
        data[2, 0, :, 5] = np.arange(24)
        np.testing.assert_array_equal(target[:, 1, 2:4], data[:, 1, 2:4])
        np.testing.assert_array_equal(target[2, :, 3], data[2, :, 3])
    stored = zarr.open_group(str(out), mode="r")["0"]
    assert stored.chunks == (2, 1, 8, 20)
    np.testing.assert_array_equal(stored[...], np.transpose(data, (1, 0, 2, 3)))


def test_a_zarr_volume_on_a_cluster_is_stored_in_ngff_order(tmp_path):
    """The cluster stores a dask array into the output in the input's (ZCYX) order."""
    distributed = pytest.importorskip("distributed")
    from napari_microdeblur.core.cluster import deblur_zarr_on_cluster

    src = tmp_path / "zcyx.zarr"
    source = zarr.open_array(str(src), mode="w", shape=(3, 2, 24, 20), dtype=np.uint16,
                             chunks=(1, 2, 24, 20), zarr_format=2)
    source[...] = _planes(3)
    source.attrs["axes"] = "ZCYX"
    assert io.read_image(src).axes == "ZCYX"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local, \
            distributed.Client(local) as client:
        deblur_zarr_on_cluster(src, tmp_path / "out.zarr", scheduler=client, **RUN)
    assert [a["name"] for a in _multiscale(tmp_path / "out.zarr")["axes"]] == [
        "c", "z", "y", "x"]
    deblur_file(src, tmp_path / "single.tif", **RUN)
    expected = np.transpose(tifffile.imread(tmp_path / "single.tif"), (1, 0, 2, 3))
    back = io.read_image(tmp_path / "out.zarr")
    assert back.axes == "CZYX"
    result = np.asarray(back.array[...])
    assert np.abs(result - expected).max() <= 1e-3 * np.abs(expected).max()
