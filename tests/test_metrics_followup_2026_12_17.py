"""Follow-up of 2026-12-17's Compare & QC and per-channel PSF fixes: (1) a region of a lazy float
plane is checked for NaN/Inf by chunks and read alone (the whole plane was read into memory:
12.5 s and 1.5 GB a slice for a 256^2 region of a 10240^2 dask plane); (2) the Deblur dock
resamples one PSF file per channel to the layer's voxels as the CLI does (it ran them as
they were) and records it; (3) evaluate with several predictions exits 2 where none is scored
(it exited 1 when two of two were bad) and names a bad file once."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
)

from napari_microdeblur.cli import main
from napari_microdeblur.core import plane_metrics
from napari_microdeblur.core.plane_metrics import iter_plane_metrics_borders
from napari_microdeblur.core.progress import drive

BOX = ((20, 50), (20, 50))


def pair(shape=(64, 64), seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.random(shape).astype(np.float32)
    return truth, truth + 0.05 * rng.random(shape).astype(np.float32)


class RowsArray:
    """A lazy array read by slicing (as zarr is): records each read's shape."""

    def __init__(self, array):
        self._a, self.shape, self.dtype, self.ndim = array, array.shape, array.dtype, array.ndim
        self.reads = []

    def __getitem__(self, key):
        part = self._a[key]
        self.reads.append(part.shape)
        return part

    def __array__(self, dtype=None, copy=None):
        self.reads.append(self.shape)
        return self._a if dtype is None else self._a.astype(dtype)


# ----------------------------------------------------------------------------- (1) lazy region


def test_a_region_of_a_lazy_plane_is_checked_by_rows_never_read_whole(monkeypatch):
    truth, deblurred = pair()
    deblurred[2, 2] = np.nan  # outside the region: the row is still undefined
    monkeypatch.setattr(plane_metrics, "FINITE_BLOCK_BYTES", 8 * 64 * 4, raising=False)
    lazy = RowsArray(deblurred)
    out = drive(iter_plane_metrics_borders({"truth": truth, "deblurred": lazy}, (0.0, 1.0),
                                           borders=(0,), box=BOX))
    assert np.isnan(out[0]["psnr_deblurred"]) and np.isnan(out[0]["ssim_deblurred"])
    assert (64, 64) not in lazy.reads, "the whole plane was read for a region"
    assert max(r[0] for r in lazy.reads) <= 30  # blocks of 8 rows, the region's 30


def test_a_region_of_a_finite_lazy_plane_scores_as_numpy_does(monkeypatch):
    truth, deblurred = pair()
    deblurred[60, 60] = 7.0  # outside the region: no effect on it
    monkeypatch.setattr(plane_metrics, "FINITE_BLOCK_BYTES", 8 * 64 * 4, raising=False)
    lazy = RowsArray(deblurred)
    got = drive(iter_plane_metrics_borders({"truth": truth, "deblurred": lazy}, (0.0, 1.0),
                                           borders=(0,), box=BOX))[0]
    want = drive(iter_plane_metrics_borders({"truth": truth, "deblurred": deblurred},
                                            (0.0, 1.0), borders=(0,), box=BOX))[0]
    assert got == want and np.isfinite(got["psnr_deblurred"])
    assert (64, 64) not in lazy.reads


@pytest.mark.parametrize("bad", [np.nan, np.inf, None])
def test_a_dask_plane_with_a_region_is_checked_by_chunks(monkeypatch, bad):
    import dask.array as da

    truth, deblurred = pair()
    if bad is not None:
        deblurred[63, 1] = bad
    whole = []
    array = da.Array.__array__

    def spy(self, *args, **kwargs):
        whole.append(self.shape)
        return array(self, *args, **kwargs)

    monkeypatch.setattr(da.Array, "__array__", spy)
    lazy = da.from_array(deblurred, chunks=(16, 64))
    out = drive(iter_plane_metrics_borders({"truth": da.from_array(truth, chunks=(16, 64)),
                                            "deblurred": lazy}, (0.0, 1.0), borders=(0,),
                                           box=BOX))[0]
    assert (64, 64) not in whole, "the whole dask plane was computed for a region"
    assert np.isnan(out["psnr_deblurred"]) == (bad is not None)


def test_without_a_region_a_lazy_float_plane_is_read_once():
    """Guard: the whole plane is scored, read once (the check then runs on it in memory)."""
    truth, deblurred = pair()
    deblurred[1, 1] = np.inf
    lazy = RowsArray(deblurred)
    out = drive(iter_plane_metrics_borders({"truth": truth, "deblurred": lazy}, (0.0, 1.0),
                                           borders=(16, 0)))
    assert lazy.reads == [(64, 64)]
    assert np.isnan(out[16]["psnr_deblurred"]) and np.isnan(out[0]["ssim_deblurred"])


def test_all_finite_finds_a_bad_pixel_in_the_last_block(monkeypatch):
    import dask.array as da

    monkeypatch.setattr(plane_metrics, "FINITE_BLOCK_BYTES", 10 * 3 * 4)
    a = np.ones((37, 3), np.float32)
    assert plane_metrics.all_finite(a) and plane_metrics.all_finite(RowsArray(a))
    a[36, 2] = -np.inf
    for plane in (a, RowsArray(a), da.from_array(a, chunks=(8, 3))):
        assert not plane_metrics.all_finite(plane)


# ----------------------------------------------------------------------------- (2) dock PSFs

LAYER_UM = 0.1  # the layer's pixel size; the PSF files' is half of it
PSF_UM = 0.05
ITERATIONS = 3


def _psf(path, sigma, size=21):
    g = np.exp(-0.5 * ((np.arange(size) - size // 2) / sigma) ** 2)
    psf = np.outer(g, g).astype(np.float32)
    tifffile.imwrite(path, psf / psf.sum(), imagej=True,
                     resolution=(1 / PSF_UM, 1 / PSF_UM), metadata={"unit": "um", "axes": "YX"})
    return str(path)


@pytest.fixture
def channel_files(tmp_path):
    """A CYX image of 2 channels at 0.1 um, and one PSF file per channel at 0.05 um."""
    from scipy import ndimage

    rng = np.random.default_rng(5)
    image = np.zeros((2, 40, 40), np.float32)
    image[:, 8:32:6, 8:32:6] = 1.0
    image = np.stack([ndimage.gaussian_filter(image[0], 1.5), ndimage.gaussian_filter(
        image[1], 2.5)]) + 0.01 + rng.normal(0, 0.001, image.shape).astype(np.float32)
    image = np.clip(image, 0, None).astype(np.float32)
    path = tmp_path / "cyx.tif"
    tifffile.imwrite(path, image, imagej=True, resolution=(1 / LAYER_UM, 1 / LAYER_UM),
                     metadata={"unit": "um", "axes": "CYX"})
    a, b = _psf(tmp_path / "a.tif", 3.0), _psf(tmp_path / "b.tif", 5.0)
    return str(path), image, a, b


def _channel_dock(viewer, image, a, b, scale=LAYER_UM):
    layer = viewer.add_image(image, name="cyx", scale=(1, scale, scale))
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("CYX")
    w.device_combo.setCurrentText("cpu")
    w.set_method("richardson_lucy")
    w.iterations_spin.setValue(ITERATIONS)
    w.psf_edit.setText(f"{a};{b}")
    return w


def test_the_dock_resamples_a_psf_file_per_channel_as_the_cli_does(
        make_napari_viewer, qtbot, channel_files, tmp_path):
    from napari_microdeblur._widgets._psf_preview import psf_resampling_of
    from napari_microdeblur.core.method import MethodSpec, PsfArray
    from napari_microdeblur.core.psf_scale import channel_resampling

    source, image, a, b = channel_files
    viewer = make_napari_viewer()
    w = _channel_dock(viewer, image, a, b)
    spec = w.build_request().method
    assert spec.psf == f"{a};{b}"  # the text as typed, as the record names it
    psfs, _, _ = channel_resampling(MethodSpec("richardson_lucy", psf=f"{a};{b}"),
                                    {"Y": LAYER_UM, "X": LAYER_UM}, "CYX", image.shape)
    for part, want in zip((a, b), psfs, strict=True):
        got = spec.replace(psf=part).psf  # as the core prepares each channel (or a slice of one)
        assert isinstance(got, PsfArray), "the dock ran the 0.05 um file as it was"
        np.testing.assert_array_equal(got.array, want.array)
        line, record = psf_resampling_of(got)  # a slice of one channel records and says it
        assert line.startswith("the PSF ") and line.endswith("(21 x 21 -> 11 x 11)"), line
        assert record["resampled_shape"] == [11, 11]
    run = w.run()
    assert run is not None, w.status_label.text()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    result = viewer.layers[-1]
    out = tmp_path / "cli.tif"
    assert main(["deblur", source, "-o", str(out), "--method", "richardson_lucy", "--psf",
                 f"{a};{b}", "--iterations", str(ITERATIONS), "--device", "cpu"]) == 0
    np.testing.assert_allclose(np.asarray(result.data), tifffile.imread(out), rtol=1e-5,
                               atol=1e-6)
    done = result.metadata["microdeblur"]["psf_resampled"]
    assert [d["resampled_shape"] for d in done] == [[11, 11], [11, 11]]
    assert all(d["psf_um"] == {"Y": PSF_UM, "X": PSF_UM} for d in done)


def test_a_layer_at_the_files_pixel_size_takes_the_files_as_they_are(
        make_napari_viewer, channel_files):
    """Guard: nothing to resample, the request keeps the plain text."""
    from napari_microdeblur.core.method import MethodSpec

    _, image, a, b = channel_files
    w = _channel_dock(make_napari_viewer(), image, a, b, scale=PSF_UM)
    spec = w.build_request().method
    assert type(spec) is MethodSpec and spec.psf == f"{a};{b}"
    assert spec.replace(psf=a).psf == a


# ----------------------------------------------------------------------------- (3) evaluate


def _evaluate_files(tmp_path):
    truth, good = pair()
    bad = good.copy()
    bad[3, 5] = np.nan
    for name, array in (("ref", truth), ("good", good), ("bad", bad), ("bad2", bad)):
        tifffile.imwrite(tmp_path / f"{name}.tif", array)
    return {n: str(tmp_path / f"{n}.tif") for n in ("ref", "good", "bad", "bad2")}


def test_several_predictions_none_scored_exit_2(tmp_path, capsys):
    f = _evaluate_files(tmp_path)
    assert main(["evaluate", f["bad"], f["bad2"], "--reference", f["ref"]]) == 2  # was 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "microdeblur: error: none of the 2 predictions scored (said above)"
    assert main(["evaluate", f["bad"], f["good"], "--reference", f["ref"]]) == 1  # some
    assert main(["evaluate", f["good"], f["good"], "--reference", f["ref"]]) == 0


def test_a_bad_prediction_is_named_once(tmp_path, capsys):
    f = _evaluate_files(tmp_path)
    main(["evaluate", f["bad"], f["good"], "--reference", f["ref"]])
    line = capsys.readouterr().err.splitlines()[0]
    assert line.count("bad.tif") == 1, line  # was "'bad.tif': prediction 'bad.tif' holds..."
    assert line.startswith("microdeblur: error: prediction ") and line.endswith("not scored")


def test_evaluate_help_states_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "Exit status: 0 every prediction scored; 1 some scored and some not" in said
    assert "2 nothing scored" in said
