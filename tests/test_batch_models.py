"""A batch of files loads its network once (checkpoint.ModelCache), every file's settings stay
its own, and the cluster's file tasks settle each file as one machine does."""

import gc
import weakref

import numpy as np
import pytest
import tifffile
import torch

from napari_microdeblur import cli
from napari_microdeblur.core import checkpoint, io
from napari_microdeblur.core.checkpoint import ModelCache, save_weights
from napari_microdeblur.core.files import deblur_file
from napari_microdeblur.core.fusion import shared_inference_copy
from napari_microdeblur.core.method import NetworkRunner
from napari_microdeblur.core.registry import build_model


@pytest.fixture
def tiles(tmp_path, fluo_u8):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        tifffile.imwrite(folder / f"t{i}.tif", np.rot90(fluo_u8[:64, :64], i).copy())
    return folder


@pytest.fixture
def load_counter(monkeypatch):
    calls = []
    real = checkpoint.load_model

    def counting(path_or_name, **kwargs):
        calls.append(str(path_or_name))
        return real(path_or_name, **kwargs)

    monkeypatch.setattr(checkpoint, "load_model", counting)
    return calls


def test_a_cli_batch_loads_the_network_once_and_writes_what_single_runs_write(
        tiles, tmp_path, load_counter):
    out = tmp_path / "out"
    out.mkdir()
    options = ["--method", "c2f_unet.fluorescence_v2", "--device", "cpu", "-q"]
    assert cli.main(["deblur", str(tiles), "-o", str(out), *options]) == 0
    assert load_counter == ["c2f_unet.fluorescence_v2"]  # once, not once per file
    for source in sorted(tiles.iterdir()):
        alone = tmp_path / f"alone_{source.name}"
        deblur_file(source, alone, method="c2f_unet.fluorescence_v2", device="cpu")
        np.testing.assert_array_equal(tifffile.imread(out / f"{source.stem}_deblurred.tif"),
                                      tifffile.imread(alone))


def test_each_file_of_a_batch_gets_its_own_estimated_psf(tiles, tmp_path, load_counter,
                                                         capsys):
    # the EM default estimates a PSF per image: the cache shares the network, not the PSF
    tifffile.imwrite(tiles / "t1.tif", np.ascontiguousarray(
        tifffile.imread(tiles / "t1.tif")[::2, ::2].repeat(2, 0).repeat(2, 1)))
    out = tmp_path / "out"
    out.mkdir()
    assert cli.main(["deblur", str(tiles), "-o", str(out), "--modality", "em", "-q"]) == 0
    err = capsys.readouterr().err
    # with -q the first file's estimate is said, the others counted in one line
    assert err.count("PSF estimated from the image") == 2
    assert "warning: t0.tif: PSF estimated from the image" in err and "also for 2 more" in err
    records = [io.read_image(out / f"t{i}_deblurred.tif").metadata["microdeblur"]
               for i in range(3)]
    assert all(r["psf_estimated"] for r in records) and len({r["psf"] for r in records}) > 1
    assert load_counter == ["wiener_unet.psf_v4"]


def test_the_cache_reloads_a_weights_file_rewritten_during_the_batch(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "w.safetensors"
    save_weights(build_model("gran", {"n_feats": 8, "n_resblocks": 1}), path)
    models = ModelCache()
    first, _ = models.load(path)
    assert models.load(path)[0] is first
    torch.manual_seed(1)
    save_weights(build_model("gran", {"n_feats": 8, "n_resblocks": 2}), path)
    second, _ = models.load(path)
    count = [sum(p.numel() for p in m.parameters()) for m in (first, second)]
    assert second is not first and count[0] != count[1]


def test_runners_of_one_model_share_its_folded_copy_without_keeping_it_alive():
    torch.manual_seed(0)
    model = build_model("c2f_unet", {"levels": 2, "depth": 3, "base_channels": 4})
    a, b = NetworkRunner(model, "float32"), NetworkRunner(model, "float32")
    x = torch.rand(1, 1, 32, 32)
    a(x), b(x)
    assert a._inference is b._inference is shared_inference_copy(model)
    folded = a._inference.get(torch.channels_last)
    assert folded is not model and b._inference.get(torch.channels_last) is folded
    alive = weakref.ref(model)
    del a, b, model, folded
    gc.collect()
    assert alive() is None  # the shared copy does not keep a dropped network in memory


def test_the_cluster_settles_each_file_as_one_machine_does(tiles, tmp_path):
    distributed = pytest.importorskip("distributed")
    from napari_microdeblur.core.cluster import deblur_files_on_cluster
    from napari_microdeblur.core.method import MethodSpec

    out = tmp_path / "cluster"
    out.mkdir()
    sources = sorted(tiles.iterdir())[:2]
    pairs = [(p, out / p.name) for p in sources]
    spec = MethodSpec("auto", modality="em")  # a PSF estimated from each file
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            records = deblur_files_on_cluster(pairs, scheduler=client, method=spec)
    # each file's line, said on its worker, comes back with its record
    assert all(any("PSF estimated from the image" in n for n in r["notes"]) for r in records)
    for source in sources:
        alone = tmp_path / f"alone_{source.name}"
        with pytest.warns(UserWarning, match="PSF estimated from the image"):
            deblur_file(source, alone, method=spec)
        np.testing.assert_array_equal(tifffile.imread(out / source.name),
                                      tifffile.imread(alone))
