"""benchmarks/peers.py's rl3d_sparse case: its stacks, its re-run of RedLionfish's iteration,
its drift measure and its scores."""

import numpy as np
import pytest
from _scripts import load_script

peers = load_script("benchmarks/peers.py", "peers_sparse_under_test")


def test_sparse_objects_are_seeded_sparse_and_peak_one():
    for kind in peers.SPARSE_KINDS:
        a = peers.sparse_object(kind, np.random.default_rng(0))
        b = peers.sparse_object(kind, np.random.default_rng(0))
        assert a.shape == peers.SPARSE_SHAPE and np.array_equal(a, b)
        assert a.max() == pytest.approx(1.0)
        assert 0 < np.mean(a > 0.05) < 0.05, kind  # a few percent of the voxels, not a mosaic


def test_scores_give_raw_psnr_besides_the_fitted_one():
    rng = np.random.default_rng(1)
    truth = rng.uniform(100, 200, (12, 16, 16)).astype(np.float32)
    s = peers.scores(truth, 2 * truth, (3, 3, 3))
    assert s["psnr_whole"] > 100  # a gain is fitted away
    assert s["psnr_raw_whole"] < 20 and s["psnr_raw_inner"] < 20  # as written it is not


def test_drift_finds_a_quarter_voxel_shift():
    from scipy import ndimage

    rng = np.random.default_rng(2)
    truth = ndimage.gaussian_filter(rng.uniform(0, 1, (16, 24, 24)), 1.5).astype(np.float32)
    moved = np.real(np.fft.ifftn(ndimage.fourier_shift(np.fft.fftn(truth), (0.25,) * 3)))
    found = peers.drift(truth, moved, (3, 3, 3))
    assert found["shift_back_voxels"] == -0.25
    assert found["psnr_whole_shifted_back"] > peers.scores(truth, moved, (3, 3, 3))["psnr_whole"]


def test_the_re_run_is_redlionfish_to_the_bit():
    scipy_rl = pytest.importorskip("RedLionfishDeconv.RLDeconv3DScipy")
    helpers = pytest.importorskip("RedLionfishDeconv.helperfunctions")
    rng = np.random.default_rng(3)
    data = rng.poisson(100, (8, 20, 20)).astype(np.float32)
    psf = np.outer(np.hanning(7), np.hanning(7))[None] * np.hanning(5)[:, None, None]
    psf = (psf / psf.sum()).astype(np.float32)
    kernel = helpers.circulify3D(helpers.change3DSizeTo(psf, data.shape))
    theirs = scipy_rl.doRLDeconvolution_DL2_4(data, psf, niter=3)
    ours = dict(peers.rl_iterates(data, kernel, np.flip(kernel), "data", 3))[3]
    assert np.array_equal(ours, theirs)
    # and its forward kernel peaks one voxel before the origin, the back kernel at it
    assert np.unravel_index(kernel.argmax(), kernel.shape) == (7, 19, 19)
    assert np.unravel_index(np.flip(kernel).argmax(), kernel.shape) == (0, 0, 0)
