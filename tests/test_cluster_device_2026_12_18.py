"""--device on a cluster is the workers': a laptop without a GPU submitting to GPU workers had
been refused 'CUDA is not available here' by its own machine. The client checks the name's
form only; each worker resolves it and refuses, in one line naming itself, a device it lacks."""

import numpy as np
import pytest
import tifffile
import torch

pytest.importorskip("distributed")

from napari_microdeblur.core import cluster, io_write  # noqa: E402
from napari_microdeblur.core.cluster import (  # noqa: E402
    deblur_files_on_cluster,
    deblur_zarr_on_cluster,
)
from napari_microdeblur.core.tiling_spec import TilingSpec  # noqa: E402

OPTIONS = dict(method="wiener", psf="gaussian:2", balance=0.01)


@pytest.fixture
def no_cuda(monkeypatch):
    """No CUDA on the client, nor on the in-process workers (the same process)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _one_line_on_worker(message: str) -> None:
    assert "\n" not in message and "Traceback" not in message, message
    assert "on worker" in message and "CUDA is not available" in message, message


def test_cuda_is_sent_to_the_workers_and_refused_there_in_one_line(client, tmp_path, no_cuda):
    src, dst = tmp_path / "a.tif", tmp_path / "out.tif"
    tifffile.imwrite(src, np.random.default_rng(0).random((32, 32), np.float32))
    records = deblur_files_on_cluster([(src, dst)], scheduler=client, retries=0,
                                      device="cuda", **OPTIONS)  # not refused up front
    (record,) = records
    _one_line_on_worker(record["error"])
    assert record["error_type"] == "ValueError" and not dst.exists()


def test_a_zarr_volume_with_cuda_is_refused_by_its_chunks_workers(client, tmp_path, no_cuda):
    src, out = tmp_path / "vol.zarr", tmp_path / "out.zarr"
    with io_write.open_zarr_output(src, (32, 32), np.float32, axes="YX") as target:
        target[...] = np.random.default_rng(1).random((32, 32), np.float32)
    with pytest.raises(ValueError) as refused:
        deblur_zarr_on_cluster(src, out, scheduler=client, retries=0, device="cuda", **OPTIONS)
    _one_line_on_worker(str(refused.value))


def test_a_malformed_device_is_refused_before_any_work(client, tmp_path, monkeypatch):
    def no_client(scheduler):
        raise AssertionError("work was sent")

    monkeypatch.setattr(cluster, "_client", no_client)
    pair = [(tmp_path / "a.tif", tmp_path / "out.tif")]
    for device in ("cuda:x", "cpu:1"):
        with pytest.raises(ValueError, match="device="):
            deblur_files_on_cluster(pair, scheduler=client, device=device, **OPTIONS)


def test_bare_cuda_stays_bare_for_each_worker_and_one_machine_is_unchanged(no_cuda):
    # no index fixed here: each worker's own current GPU (its CUDA_VISIBLE_DEVICES)
    _, tiling = cluster._specs("wiener", None, {"psf": "gaussian:2", "device": "cuda"})
    assert tiling.device == "cuda"
    for device in ("cuda", "cuda:1", "mps"):
        TilingSpec(device=device).check(on_workers=True)
    with pytest.raises(ValueError, match="CUDA is not available here"):
        TilingSpec(device="cuda").check()  # one machine still refuses it up front


def test_the_command_sends_cuda_to_the_workers(client, tmp_path, no_cuda, capsys):
    """`microdeblur deblur ... --device cuda --scheduler ADDRESS` from a machine without CUDA:
    the command had refused it itself before the cluster code was reached."""
    from napari_microdeblur import cli

    src, dst = tmp_path / "a.tif", tmp_path / "out.tif"
    tifffile.imwrite(src, np.random.default_rng(0).random((32, 32), np.float32))
    code = cli.main(["deblur", str(src), "-o", str(dst), "--method", "wiener", "--psf",
                     "gaussian:2", "--balance", "0.01", "--device", "cuda", "--scheduler",
                     client.scheduler.address])
    err = capsys.readouterr().err
    assert code != 0 and not dst.exists()
    assert "on worker" in err and "CUDA is not available" in err and "Traceback" not in err
    assert cli.main(["deblur", str(src), "-o", str(dst), "--method", "wiener", "--psf",
                     "gaussian:2", "--device", "cuda"]) == 2  # one machine: refused up front
    assert "CUDA is not available here" in capsys.readouterr().err
