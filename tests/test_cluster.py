"""dask.distributed runs on a LocalCluster of two worker processes (loopback only)."""

import os
import signal
import time

import numpy as np
import pytest
import tifffile

distributed = pytest.importorskip("distributed")

from napari_microdeblur.core import io, io_write  # noqa: E402
from napari_microdeblur.core.cluster import deblur_files_on_cluster, deblur_zarr_on_cluster  # noqa: E402
from napari_microdeblur.core.files import deblur_file  # noqa: E402

# 5 iterations: what these tests compare (a cluster's result against one machine's, the
# tasks a killed worker had) does not depend on the count; 20 only made them slower
OPTIONS = dict(method="richardson_lucy", psf="gaussian:1.6", iterations=5, device="cpu",
               tile=64)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield cluster, client


@pytest.fixture
def files(tmp_path, fluo_u8, fluo_u16):
    src = tmp_path / "in"
    src.mkdir()
    # 256 and 192 px: several 64 px tiles each, as the 384 and 288 px they were (the results
    # compared do not depend on the size; those had 2.25x the pixels to deblur twice)
    images = [np.tile(fluo_u8, (2, 2)), np.tile(fluo_u16, (2, 2)), np.tile(fluo_u8.T, (2, 2)),
              np.tile(fluo_u16[::-1], (2, 2))]
    paths = []
    for i, image in enumerate(images):
        tifffile.imwrite(src / f"{i}.tif", image)
        paths.append(src / f"{i}.tif")
    return paths


def test_zarr_volume_chunk_by_chunk_matches_single_process(cluster, tmp_path, focus_stack):
    _, client = cluster
    stack = np.tile(focus_stack[:2], (1, 2, 2))  # 2 x 192 x 192: 2 x 2 chunks a plane
    src = tmp_path / "vol.zarr"
    with io_write.open_zarr_output(src, stack.shape, stack.dtype, axes="ZYX",
                                   chunks=(1, 128, 128)) as target:
        target[...] = stack
    out = tmp_path / "vol_out.zarr"
    deblur_zarr_on_cluster(src, out, scheduler=client, **OPTIONS)
    single = tmp_path / "single.zarr"
    deblur_file(src, single, **OPTIONS)
    a = np.asarray(io.read_image(out).array[...])
    b = np.asarray(io.read_image(single).array[...])
    assert np.abs(a - b).max() < 1e-3 * b.max()


def _zarr_on_cluster(client, tmp_path, stack, chunks, options, warning):
    """(source, result): ``stack`` written as a Zarr of ``chunks`` and deblurred on the
    cluster with ``options``, which warns ``warning``."""
    src = tmp_path / "vol.zarr"
    with io_write.open_zarr_output(src, stack.shape, stack.dtype, axes="ZYX",
                                   chunks=chunks) as target:
        target[...] = stack
    out = tmp_path / "vol_out.zarr"
    with pytest.warns(UserWarning, match=warning):
        deblur_zarr_on_cluster(src, out, scheduler=client, **options)
    return src, out


def _difference_to_peak(out, single) -> float:
    """The largest difference between the cluster's result and one machine's, over the peak."""
    a = np.asarray(io.read_image(out).array[...])
    b = np.asarray(io.read_image(single).array[...])
    return float(np.abs(a - b).max() / b.max())


def test_zarr_volume_with_an_estimated_psf_uses_one_psf_for_all_chunks(cluster, tmp_path,
                                                                       focus_stack):
    _, client = cluster
    # one task per plane: each plane's own estimate gave results 8 % of the peak apart here
    stack = np.tile(focus_stack[:2], (1, 2, 2))
    options = {**OPTIONS, "psf": "estimate"}
    src, out = _zarr_on_cluster(client, tmp_path, stack, (1, 128, 128), options,
                                "estimated from the image")
    deblur_file(src, tmp_path / "single.zarr", **options)
    assert _difference_to_peak(out, tmp_path / "single.zarr") < 1e-3


def test_zarr_stack_with_a_widefield_like_3d_psf_runs_auto_in_3d(cluster, tmp_path, focus_stack):
    """'auto' given a widefield-like 3D PSF deconvolves the volume in 3D (bundled.
    auto_runs_in_3d) on the cluster as on one machine."""
    from napari_microdeblur.core.psf import gaussian_psf

    _, client = cluster
    psf3 = np.stack([0.45 * gaussian_psf(3.0, size=9), 0.1 * gaussian_psf(0.7, size=9),
                     0.45 * gaussian_psf(3.0, size=9)])
    options = dict(method="auto", psf=psf3, iterations=10, device="cpu")
    src, out = _zarr_on_cluster(client, tmp_path, focus_stack[:5], (1, 128, 128), options,
                                "Richardson-Lucy in 3D")
    # the clean stack keeps the 10 iterations asked for (the held-out check stops none early)
    deblur_file(src, tmp_path / "single.zarr", **{**options, "method": "richardson_lucy"})
    assert _difference_to_peak(out, tmp_path / "single.zarr") < 1e-3


def test_zarr_with_iterations_auto_settles_one_count_for_every_chunk(cluster, tmp_path,
                                                                    focus_stack):
    """Richardson-Lucy's iterations 'auto' is found once for the whole array (on its central
    crop), so every chunk on the cluster runs the count one machine runs."""
    _, client = cluster
    options = dict(method="richardson_lucy", psf="gaussian:1.6", iterations="auto",
                   device="cpu")
    src, out = _zarr_on_cluster(client, tmp_path, focus_stack[:3], (1, 64, 64), options,
                                "richardson_lucy: [0-9]+ iterations")
    deblur_file(src, tmp_path / "single.zarr", **options)
    assert _difference_to_peak(out, tmp_path / "single.zarr") < 1e-3


def test_unreachable_scheduler_is_a_clear_error(files, tmp_path, monkeypatch):
    import time

    from dask.utils import parse_timedelta

    from napari_microdeblur.core import cluster as cluster_module

    # the run's own connect timeout is read, then the attempt waits 1 s of it, not 8
    real, asked = cluster_module._closing_client(), []

    class QuickClient(real):
        def __init__(self, *args, **kwargs):
            asked.append(kwargs.pop("timeout", None))
            super().__init__(*args, timeout="1s", **kwargs)

    monkeypatch.setattr(cluster_module, "_closing_client", lambda: QuickClient)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="cannot reach the dask scheduler"):
        deblur_files_on_cluster([(files[0], tmp_path / "x.tif")], scheduler="tcp://127.0.0.1:1",
                                **OPTIONS)
    assert time.perf_counter() - t0 < 10
    assert asked and asked[0] is not None and parse_timedelta(asked[0]) < 10, asked


def test_cli_scheduler_option(cluster, files, tmp_path, capsys):
    from napari_microdeblur.cli import main

    local, _ = cluster
    out = tmp_path / "cli_out"
    out.mkdir()
    code = main(["deblur", str(files[0].parent), "-o", str(out), "--method", "richardson_lucy",
                 "--psf", "gaussian:1.6",
                 "--iterations", "5", "--device", "cpu", "--scheduler", local.scheduler_address])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [f"{i}_deblurred.tif" for i in range(4)]
    assert "_deblurred.tif" in capsys.readouterr().out


def test_a_files_notes_come_back_from_the_worker(cluster, tmp_path, fluo_u8):
    """One machine warns that a (3, Y, X) TIFF's first axis was read as Z; on a cluster the
    warning was raised on the worker and never reached the user."""
    _, client = cluster
    image = np.stack([fluo_u8, fluo_u8.T, fluo_u8[::-1]])
    tifffile.imwrite(tmp_path / "three.tif", image, photometric="minisblack")
    pairs = [(tmp_path / "three.tif", tmp_path / "three_out.tif")]
    [record] = deblur_files_on_cluster(pairs, scheduler=client, **OPTIONS)
    with pytest.warns(UserWarning) as single:
        deblur_file(tmp_path / "three.tif", tmp_path / "single.tif", **OPTIONS)
    expected = [str(w.message) for w in single if "assumed for shape (3," in str(w.message)]
    assert expected and expected[0] in record["notes"]


def test_gray_alpha_zarr_on_a_cluster_matches_one_machine(tmp_path, fluo_u8):
    """Gray + alpha: the gray deblurred as on one machine, the alpha passed through, and the
    alpha note said once by the client, not once per chunk by the workers."""
    from napari_microdeblur.core.inference import GRAY_ALPHA_NOTE

    image = np.stack([np.tile(fluo_u8, (2, 2)), np.full((256, 256), 200, np.uint8)], -1)
    image[:10, :, 1] = 0
    src = tmp_path / "la.zarr"
    with io_write.open_zarr_output(src, image.shape, image.dtype, axes="YXS",
                                   chunks=(256, 256, 2)) as target:
        target[...] = image
    options = dict(method="richardson_lucy", psf="gaussian:1.4", iterations=10, device="cpu",
                   tile=64)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local, \
            distributed.Client(local) as client, pytest.warns(UserWarning) as caught:
        deblur_zarr_on_cluster(src, tmp_path / "out.zarr", scheduler=client, **options)
    assert sum(str(w.message) == GRAY_ALPHA_NOTE for w in caught) == 1
    deblur_file(src, tmp_path / "single.zarr", **options)
    out = np.asarray(io.read_image(tmp_path / "out.zarr", keep_alpha=True).array[...])
    single = np.asarray(io.read_image(tmp_path / "single.zarr", keep_alpha=True).array[...])
    assert out.shape == image.shape
    np.testing.assert_array_equal(out[..., 1], image[..., 1])
    assert np.abs(out.astype(float) - single).max() <= 1


# last of the tests on the shared cluster: the worker the nanny restarts then never imports
# torch and the package again for a later test's tasks
def test_one_task_per_file_survives_a_killed_worker(cluster, files, tmp_path):
    import threading

    _, client = cluster
    out = tmp_path / "out"
    out.mkdir()
    pairs = [(p, out / p.name) for p in files]
    pid_of = client.run(os.getpid)  # worker address -> process id
    records = []
    run = threading.Thread(
        target=lambda: records.extend(deblur_files_on_cluster(pairs, scheduler=client, **OPTIONS))
    )
    run.start()
    # kill a worker while it is processing one of our tasks
    deadline = time.monotonic() + 60
    busy = []
    while not busy:
        busy = [addr for addr, keys in client.processing().items() if keys and addr in pid_of]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(pid_of[busy[0]], signal.SIGKILL)
    killed_mid_run = run.is_alive()
    run.join(timeout=300)
    assert killed_mid_run and not run.is_alive()
    assert sorted(r["output"] for r in records) == sorted(str(out / p.name) for p in files)
    for src, dst in pairs:
        single = tmp_path / f"single_{src.name}"
        deblur_file(src, single, **OPTIONS)
        np.testing.assert_array_equal(tifffile.imread(dst), tifffile.imread(single))
    assert not any(p.name.endswith(".partial") for p in out.iterdir())
