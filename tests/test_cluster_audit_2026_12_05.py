"""Audit 2026-12-05: a failing chunk of a Zarr volume on a cluster, focus scores of
constant planes."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from napari_microdeblur.core import inference, io_write
from napari_microdeblur.core.focus import focus_score

OPTIONS = dict(method="richardson_lucy", psf="gaussian:1.6", iterations=3, device="cpu",
               tile=64)


def _volume(tmp_path, marker_plane: int):
    """A (6, 40, 36) uint8 ZYX Zarr; only plane ``marker_plane`` holds the value 255."""
    rng = np.random.default_rng(5)
    stack = (rng.random((6, 40, 36)) * 200).astype(np.uint8)
    stack[marker_plane, 7, 9] = 255
    src = tmp_path / "vol.zarr"
    with io_write.open_zarr_output(src, stack.shape, stack.dtype, axes="ZYX",
                                   chunks=(1, 40, 36)) as target:
        target[...] = stack
    return src


def _fail_on_marked_chunks(monkeypatch, calls):
    """prepare_deblur that fails (as a worker out of memory would) for the chunk holding 255;
    the client's whole-volume call, which has no normalization yet, passes."""
    real = inference.prepare_deblur

    def prepare(image, *args, normalization=None, **kwargs):
        if normalization is not None:
            calls.append(time.monotonic())
            if np.asarray(image).max() == 255:
                raise ValueError("out of memory on this worker")
        return real(image, *args, normalization=normalization, **kwargs)

    monkeypatch.setattr(inference, "prepare_deblur", prepare)


def test_a_failing_chunk_is_named_and_leaves_no_output(tmp_path, monkeypatch):
    """A chunk that fails on a worker said only the worker's reason, so a lab could not tell
    which of a volume's thousands of chunks to look at; now the error names its Z, Y, X."""
    distributed = pytest.importorskip("distributed")
    from napari_microdeblur.core.cluster import deblur_zarr_on_cluster

    src = _volume(tmp_path, marker_plane=3)
    calls = []
    _fail_on_marked_chunks(monkeypatch, calls)
    out = tmp_path / "out.zarr"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local, \
            distributed.Client(local) as client:
        with pytest.raises(ValueError, match=r"chunk Z 3:4, Y 0:40, X 0:36.*out of memory"):
            deblur_zarr_on_cluster(src, out, scheduler=client, retries=0, **OPTIONS)
        returned = time.monotonic()
        time.sleep(1.5)
    # no chunk of the failed run went on being deblurred and written after the error
    assert not [t for t in calls if t > returned]
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]


@pytest.mark.parametrize("value", [-7.0, -0.5, 0.0, 7.0, 60000.0])
def test_a_constant_plane_scores_zero(value):
    """A constant plane has no structure: at a negative level (a blank plane after background
    subtraction) it scored 1e10, sharper than any real image, as the score divides by the
    mean clamped to 1e-12."""
    plane = np.full((20, 24), value, np.float32)
    assert focus_score(plane) == 0.0
    np.testing.assert_array_equal(focus_score(plane, tile=8), np.zeros((3, 3)))
    square = np.ones((20, 24), np.float32)
    square[5:15, 6:16] = 2
    stack = np.stack([plane, square])
    scores = focus_score(stack, axes="ZYX")
    assert scores[0] == 0.0 < scores[1]
