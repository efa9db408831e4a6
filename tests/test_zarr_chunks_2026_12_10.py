"""A Zarr input's chunks on Y and X are kept (64-2048 px, ``io_write.output_chunks``) by the
cluster path and by the plugin's writer, as one machine's ``deblur`` keeps them; on a cluster
every task writes whole output chunks only (two tasks writing parts of one chunk would each
rewrite it: the last one wins)."""

import numpy as np
import pytest
import zarr

from napari_microdeblur.core import io, io_write
from napari_microdeblur.core.files import deblur_file

OPTIONS = dict(method="richardson_lucy", psf="gaussian:1.6", iterations=8, device="cpu",
               tile=64)
PLUGIN = "napari-microdeblur"


def _image(shape, seed=0) -> np.ndarray:
    """Blobs on a background, as uint16 (smooth enough for a deblur to be meaningful)."""
    rng = np.random.default_rng(seed)
    image = np.full(shape, 100.0)
    image[tuple(rng.integers(0, n, 400) for n in shape)] = 3000.0
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(image, 1.5).astype(np.uint16)


def _zarr_input(path, image, axes, chunks):
    with io_write.open_zarr_output(path, image.shape, image.dtype, axes=axes,
                                   chunks=chunks) as target:
        target[...] = image
    return path


def _chunks(path) -> tuple:
    return tuple(zarr.open_group(str(path), mode="r")["0"].chunks)


@pytest.fixture
def local_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


@pytest.fixture
def writes(monkeypatch):
    """Every region written into a Zarr array, with the array's chunks and shape."""
    found = []
    original = zarr.Array.__setitem__

    def recording(self, key, value):
        found.append((key, tuple(self.chunks), tuple(self.shape)))
        return original(self, key, value)

    monkeypatch.setattr(zarr.Array, "__setitem__", recording)
    return found


def _misaligned(writes) -> list:
    """The writes that cover part of a chunk only (an edge chunk ends at the array's end)."""
    bad = []
    for key, chunks, shape in writes:
        key = key if isinstance(key, tuple) else (key,)
        for where, side, n in zip(key, chunks, shape):
            start, stop, _ = where.indices(n) if isinstance(where, slice) else (where, where + 1, 1)
            if start % side or (stop % side and stop != n):
                bad.append((key, chunks))
    return bad


def test_a_cluster_run_keeps_the_zarr_inputs_chunks_as_one_machine_does(local_client,
                                                                         tmp_path, writes):
    from napari_microdeblur.core.cluster import deblur_zarr_on_cluster

    image = _image((2, 300, 300))
    src = _zarr_input(tmp_path / "in.zarr", image, "ZYX", (1, 128, 128))
    single = tmp_path / "single.zarr"
    deblur_file(src, single, **OPTIONS)
    writes.clear()
    out = tmp_path / "cluster.zarr"
    deblur_zarr_on_cluster(src, out, scheduler=local_client, **OPTIONS)
    assert _chunks(single) == (1, 128, 128)
    assert _chunks(out) == (1, 128, 128)  # had been (1, 300, 300): the task's region
    assert writes and not _misaligned(writes)
    a = np.asarray(io.read_image(out).array[...], dtype=float)
    b = np.asarray(io.read_image(single).array[...], dtype=float)
    assert np.abs(a - b).max() <= 1e-3 * b.max()


@pytest.mark.parametrize("height, side", [(2050, 128), (2100, 384)])
def test_cluster_tasks_write_whole_chunks_only(local_client, tmp_path, writes, height, side):
    """2050 px along Y: tasks of 2048 px leave a 2 px block, which dask grows to the overlap
    (2018 + 32 px); 384 px chunks: 2048 px tasks end inside a chunk (1920 px do not). Either
    had two tasks write parts of one chunk."""
    from napari_microdeblur.core.cluster import deblur_zarr_on_cluster

    image = _image((1, height, 64), seed=1)
    src = _zarr_input(tmp_path / "tall.zarr", image, "ZYX", (1, side, 64))
    writes.clear()
    out = tmp_path / "tall_out.zarr"
    deblur_zarr_on_cluster(src, out, scheduler=local_client, **OPTIONS)
    assert _chunks(out) == (1, side, 64)
    assert writes and not _misaligned(writes)
    single = tmp_path / "single.zarr"
    deblur_file(src, single, **OPTIONS)
    a = np.asarray(io.read_image(out).array[...], dtype=float)
    b = np.asarray(io.read_image(single).array[...], dtype=float)
    assert np.abs(a - b).max() <= 1e-3 * b.max()


def test_cluster_channels_are_written_together_as_one_machine_writes_them(local_client,
                                                                          tmp_path, writes):
    from napari_microdeblur.core.cluster import deblur_zarr_on_cluster

    image = np.stack([_image((300, 300), seed=2), _image((300, 300), seed=3)])
    src = _zarr_input(tmp_path / "cyx.zarr", image, "CYX", (1, 128, 128))
    single = tmp_path / "single.zarr"
    deblur_file(src, single, **OPTIONS)
    writes.clear()
    out = tmp_path / "cyx_out.zarr"
    deblur_zarr_on_cluster(src, out, scheduler=local_client, **OPTIONS)
    assert _chunks(out) == _chunks(single) == (2, 128, 128)
    assert writes and not _misaligned(writes)


# ---------------------------------------------------------------------- the plugin's writer


def _opened(viewer, path):
    (layer,) = viewer.open(str(path), plugin=PLUGIN)
    return layer


def _result_of(viewer, source, data=None):
    """A deblurred result of ``source`` as the Deblur dock adds it (its record names the
    source layer and its file, ``_layer_data.deblur_metadata``)."""
    from napari_microdeblur._widgets._layer_record import input_file

    data = np.asarray(source.data, dtype=np.float32) if data is None else data
    record = {"source_layer": source.name, "method": "richardson_lucy", "axes": "ZYX",
              "source_file": input_file({"source_path": source.source.path})}
    return viewer.add_image(data, name=f"{source.name} deblurred",
                            metadata={"microdeblur": record})


def _save(viewer, layer, path):
    viewer.layers.selection = {layer}
    assert viewer.layers.save(str(path), selected=True, plugin=PLUGIN) == [str(path)]
    return _chunks(path)


def test_saving_a_zarr_layer_and_its_result_keeps_the_inputs_chunks(make_napari_viewer,
                                                                     tmp_path):
    image = _image((3, 300, 300))
    src = _zarr_input(tmp_path / "em.zarr", image, "ZYX", (1, 128, 128))
    viewer = make_napari_viewer()
    opened = _opened(viewer, src)
    result = _result_of(viewer, opened)
    assert _save(viewer, result, tmp_path / "nap_out.zarr") == (1, 128, 128)  # was (1, 300, 300)
    assert _save(viewer, opened, tmp_path / "copy.zarr") == (1, 128, 128)
    np.testing.assert_array_equal(io.read_image(tmp_path / "nap_out.zarr").array[...], image)
    assert _chunks(src) == (1, 128, 128)  # the input as it was
    # a cropped result: the input's chunks are not its own; a layer whose source is gone:
    # none known; both as before (whole planes of at most 1024 px)
    crop = _result_of(viewer, opened, np.zeros((3, 200, 250), np.float32))
    assert _save(viewer, crop, tmp_path / "crop.zarr") == (1, 200, 250)
    viewer.layers.remove(opened)
    assert _save(viewer, result, tmp_path / "orphan.zarr") == (1, 300, 300)


def test_input_chunks_outside_64_to_2048_px_are_not_kept_by_the_writer(make_napari_viewer,
                                                                        tmp_path):
    image = _image((2, 300, 300))
    src = _zarr_input(tmp_path / "small.zarr", image, "ZYX", (1, 16, 16))
    viewer = make_napari_viewer()
    result = _result_of(viewer, _opened(viewer, src))
    assert _save(viewer, result, tmp_path / "out.zarr") == (1, 300, 300)
