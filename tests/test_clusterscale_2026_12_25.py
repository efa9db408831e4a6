"""A Zarr volume's chunks on a cluster scale with the volume: each task carries its own planes'
noise levels, not every plane's, and the scheduler is reached before the planes are read for
their levels (core.cluster, core.cluster_chunks)."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("distributed")

from napari_microdeblur.core import cluster, cluster_chunks, io_write  # noqa: E402
from napari_microdeblur.core.cluster_chunks import PlaneLevels  # noqa: E402

WIDE = 2100  # wider than a chunk (2048 px): each plane is cut, so its levels are sent
OPTIONS = dict(method="richardson_lucy", psf="gaussian:1.2", iterations=2, device="cpu")


class _Submitted(Exception):
    """Stops a run where it would hand its graph to the scheduler."""


def _volume(tmp_path, planes: int):
    src = tmp_path / f"in_{planes}.zarr"
    image = np.random.default_rng(0).integers(0, 255, (planes, 16, WIDE), dtype=np.uint8)
    with io_write.open_zarr_output(src, image.shape, image.dtype, axes="ZYX",
                                   chunks=(1, 16, 512)) as target:
        target[...] = image
    return src


def _fake_levels(prepared, device="cpu"):
    """Levels for every plane without a network (what is measured is what the tasks carry)."""
    layout = prepared.layout
    return PlaneLevels(tuple(layout.loop_axes),
                       {tuple(p): np.full(1, 0.05, np.float32) for p in layout.planes})


@pytest.fixture
def levels_given(monkeypatch):
    calls = []

    def counted(prepared, device="cpu"):
        calls.append(device)
        return _fake_levels(prepared, device)

    monkeypatch.setattr(cluster_chunks, "whole_plane_levels", counted)
    monkeypatch.setattr(cluster, "whole_plane_levels", counted, raising=False)  # where it was
    return calls


def _largest_task(tmp_path, planes: int, monkeypatch) -> int:
    """The pickled size of the largest chunk task of a run over ``planes`` planes."""
    graph = {}

    def submitted(client, stored, retries, namer, output):
        graph.update(dict(stored.__dask_graph__()))
        raise _Submitted

    monkeypatch.setattr(cluster, "compute_watched", submitted)
    monkeypatch.setattr(cluster, "_client", lambda scheduler: (None, False))
    with warnings.catch_warnings(), pytest.raises(_Submitted):
        warnings.simplefilter("ignore")
        cluster.deblur_zarr_on_cluster(_volume(tmp_path, planes), tmp_path / f"o{planes}.zarr",
                                       scheduler="tcp://127.0.0.1:1", **OPTIONS)
    tasks = [v for k, v in graph.items()
             if isinstance(k, tuple) and str(k[0]).startswith("_deblur_block")]
    assert len(tasks) == 2 * planes  # two chunks a plane
    return max(len(pickle.dumps(task)) for task in tasks)


def test_a_chunk_task_does_not_grow_with_the_number_of_planes(tmp_path, monkeypatch,
                                                              levels_given):
    """Every task had carried every plane's levels: 118 KB a task (1.3 KB without) for 3000
    planes, and 500 tasks took 306 s instead of 3 s on a 2-process cluster."""
    few, many = (_largest_task(tmp_path, n, monkeypatch) for n in (2, 60))
    assert levels_given  # the levels were estimated and sent
    assert many - few < 200, (few, many)


def test_an_unreachable_scheduler_is_said_before_the_planes_are_read(tmp_path, monkeypatch,
                                                                     levels_given):
    """Every plane had been read for its levels first (40 planes of 4096^2: 9 s, 598 MB) before
    a wrong address was said."""
    def unreachable(scheduler):
        raise ValueError(f"cannot reach the dask scheduler at {scheduler!r}")

    monkeypatch.setattr(cluster, "_client", unreachable)
    with warnings.catch_warnings(), pytest.raises(ValueError, match="cannot reach"):
        warnings.simplefilter("ignore")
        cluster.deblur_zarr_on_cluster(_volume(tmp_path, 3), tmp_path / "out.zarr",
                                       scheduler="tcp://127.0.0.1:1", **OPTIONS)
    assert levels_given == []
    assert not (tmp_path / "out.zarr").exists()


def test_a_tasks_block_of_levels_holds_its_own_planes_of_each_channel():
    """Per channel (a channel without levels stays None), each task's block of the levels
    array gives back its planes' levels as the whole dict had."""
    red = PlaneLevels(("Z",), {(z,): np.array([z], np.float32) for z in range(5)})
    found = (red, None)
    array = cluster_chunks.levels_array(found, "CZYX", ((2,), (2, 2, 1), (8,), (2048, 52)))
    assert array.numblocks == (1, 3, 1, 1)
    block = np.asarray(array.blocks[0, 1, 0, 0])
    got, none = cluster_chunks.block_levels(block)
    assert none is None and got.loop_axes == ("Z",)
    assert {k: float(v[0]) for k, v in got.by_plane.items()} == {(2,): 2.0, (3,): 3.0}
    assert cluster_chunks.block_levels(None) is None
