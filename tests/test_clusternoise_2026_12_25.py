"""A PSF-aware network on a dask cluster gives one machine's pixels: a plane wider than a chunk
takes the whole plane's noise level (not each chunk's), a chunk at the volume's end is run from
the plane's own edge (not dask's mirror), and chunks run side by side in a worker's threads each
keep their own plane's level (core.cluster, core.cluster_chunks, core.psf_aware)."""

import contextlib
import threading
import warnings

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from napari_microdeblur.core import io, io_write, psf_aware  # noqa: E402
from napari_microdeblur.core.cluster import deblur_zarr_on_cluster  # noqa: E402
from napari_microdeblur.core.files import deblur_file  # noqa: E402

EM = dict(method="auto", modality="em", device="cpu")
WIDE = 2300  # wider than a chunk (2048 px): two chunks a plane


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as local, \
            distributed.Client(local) as client:
        yield client


def _wide_plane(image, row: int, noise: float, rng, height: int = 48) -> np.ndarray:
    """A ``height`` x ``WIDE`` uint8 plane of ``image``'s rows (mirrored back and forth), its
    left 900 px noisier than the rest, so that each chunk's own noise estimate differs from the
    plane's."""
    strip = image[row:row + height].astype(float)
    repeat = -(-WIDE // (2 * strip.shape[1]))
    plane = np.tile(np.concatenate([strip, strip[:, ::-1]], 1), (1, repeat))[:, :WIDE]
    plane[:, :900] += rng.normal(0, noise, (height, 900))
    return np.clip(plane, 0, 255).astype(np.uint8)


def _cluster_against_one_machine(client, tmp_path, image, axes, chunks, options,
                                 on_cluster=contextlib.nullcontext) -> float:
    """The largest difference between the cluster's result and one machine's, over the peak;
    ``on_cluster()``: a context the cluster's run (alone) runs in."""
    src = tmp_path / "in.zarr"
    with io_write.open_zarr_output(src, image.shape, image.dtype, axes=axes,
                                   chunks=chunks) as target:
        target[...] = image
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the estimated PSF's lines: said on both paths
        with on_cluster():
            deblur_zarr_on_cluster(src, tmp_path / "out.zarr", scheduler=client, **options)
        deblur_file(src, tmp_path / "single.zarr", **options)
    a = np.asarray(io.read_image(tmp_path / "out.zarr").array[...], np.float64)
    b = np.asarray(io.read_image(tmp_path / "single.zarr").array[...], np.float64)
    assert a.shape == b.shape == image.shape
    return float(np.abs(a - b).max() / b.max())


def test_a_wide_em_plane_on_a_cluster_matches_one_machine(client, tmp_path, fluo_u8):
    """Its two chunks each estimated their own noise level (0.043 and 0.058 against the plane's
    0.055 on a 2600 px plane) and ran their outer columns on dask's mirror: up to 20 grey
    levels (8 % of the peak) from one machine's result."""
    plane = _wide_plane(fluo_u8, 0, 14, np.random.default_rng(0))[None]
    assert _cluster_against_one_machine(client, tmp_path, plane, "ZYX", (1, 48, 512),
                                        EM) < 1e-3


def test_channels_and_planes_sharing_a_chunk_each_take_their_planes_level(client, tmp_path,
                                                                          fluo_u8):
    """Two channels (each run on its own, with its own PSF and normalisation) of two planes
    stored in one chunk along Z: every plane of every chunk takes its own plane's level."""
    rng = np.random.default_rng(1)
    stack = np.stack([[_wide_plane(fluo_u8, row, noise, rng) for row, noise in planes]
                      for planes in (((0, 12), (40, 3)), ((20, 2), (80, 16)))])
    assert _cluster_against_one_machine(client, tmp_path, stack, "CZYX", (1, 2, 48, 512),
                                        EM) < 1e-3


def test_a_wide_rgb_plane_shares_the_planes_levels_in_colour(client, tmp_path, fluo_u8):
    """RGB runs in the opponent colour space: the plane's three levels reach every chunk."""
    grey = _wide_plane(fluo_u8, 0, 10, np.random.default_rng(2)).astype(float)
    rgb = np.clip(np.stack([grey, 0.8 * grey + 20, 0.6 * grey + 40], -1), 0, 255)
    assert _cluster_against_one_machine(client, tmp_path, rgb.astype(np.uint8), "YXS",
                                        (48, 512, 3), dict(method="auto", device="cpu")) < 1e-3


def test_chunks_run_side_by_side_keep_their_own_planes_level(client, tmp_path, fluo_u8):
    """A worker's threads had shared one resolved Method, whose noise level is the plane's it
    was last shown: two planes started together both ran with the second's level (48 grey
    levels off, now and then). Here the two chunks' planes are made to start together."""
    together, started = threading.Barrier(2, timeout=60), []
    start_plane = psf_aware._PsfRunner.start_plane

    def start_together(self, *args, **kwargs):
        start_plane(self, *args, **kwargs)
        started.append(self)
        together.wait()  # both planes' levels set before either runs a tile

    @contextlib.contextmanager
    def planes_start_together():
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(psf_aware._PsfRunner, "start_plane", start_together)
            yield

    rng = np.random.default_rng(3)
    stack = np.stack([np.clip(fluo_u8 + rng.normal(0, noise, fluo_u8.shape), 0, 255)
                      for noise in (1, 20)]).astype(np.uint8)
    difference = _cluster_against_one_machine(client, tmp_path, stack, "ZYX", (1, 128, 128),
                                              EM, planes_start_together)
    assert len(started) == 2  # the PSF-aware network ran each plane, side by side
    assert difference < 1e-3


def test_a_piece_of_a_plane_takes_the_levels_it_is_given_and_is_judged_tile_by_tile(fluo_u8):
    """The hook core.cluster sets for each plane of a chunk: the levels given are used as they
    are, and the safeguard judges the piece's tiles one by one (a plane wider than its crop),
    not the piece as a whole, as it would a small plane of its own."""
    from napari_microdeblur.core.psf_aware import PIECE_OF_PLANE, PlanePiece, load_psf_aware

    method = load_psf_aware("gaussian:1.6")
    runner = method.forward
    piece = np.tile(fluo_u8, (2, 2)).astype(np.float32)[None] / 255
    read = lambda sl: piece[(slice(None), *sl)]  # noqa: E731
    own = runner.plane_noise_levels(read, (256, 256), lambda b: b)
    runner.start_plane(read, (256, 256), lambda b: b, tiles=4)
    assert runner.model.plane.ratio is not None  # alone: judged as a whole
    assert np.array_equal(runner.model.plane.value.numpy(), own)
    token = PIECE_OF_PLANE.set(PlanePiece(np.array([0.25], np.float32)))
    try:
        runner.start_plane(read, (256, 256), lambda b: b, tiles=4)
    finally:
        PIECE_OF_PLANE.reset(token)
    assert runner.model.plane.value.tolist() == [0.25]
    assert runner.model.plane.ratio is None
