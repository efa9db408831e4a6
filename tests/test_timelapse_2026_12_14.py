"""A time series read as Z: said where a 3D run mixes its time points; --focus-below's words
for time-lapses (a dark level that decides auto, time points named so, a 3D PSF's plane)."""

import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core.notes import DeblurWarning


def _series(n=8, side=32, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, side, side)) * 50 + 10).astype(np.float32)


def _psf3d():
    z, y, x = np.mgrid[-1:2, -2:3, -2:3]
    psf = np.exp(-(x**2 + y**2) / 2.0 - z**2).astype(np.float32)
    return psf / psf.sum()


def _axes_lines(caught):
    return [str(w.message) for w in caught
            if issubclass(w.category, DeblurWarning) and "time points" in str(w.message)]


def test_guessed_z_deblurred_in_3d_says_how_to_give_time():
    from napari_microdeblur.core.inference import deblur

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur(_series(), method="richardson_lucy", psf=_psf3d(), iterations=2)
    lines = _axes_lines(caught)
    assert len(lines) == 1 and "axes='TYX'" in lines[0] and "in 3D" in lines[0]


@pytest.mark.parametrize("how", ["stated", "plane_by_plane"])
def test_no_time_line_where_the_guess_changes_nothing(how):
    from napari_microdeblur.core.inference import deblur

    psf = _psf3d() if how == "stated" else _psf3d()[1]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur(_series(), method="richardson_lucy", psf=psf, iterations=2,
               axes="ZYX" if how == "stated" else None)
    assert _axes_lines(caught) == []


def test_file_without_axes_deblurred_in_3d_says_axes(tmp_path):
    from napari_microdeblur.core.files import deblur_file

    source = tmp_path / "series.tif"
    tifffile.imwrite(source, _series())  # no axes metadata
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur_file(source, tmp_path / "out.tif", method="richardson_lucy", psf=_psf3d(),
                    iterations=2)
    lines = _axes_lines(caught)
    assert len(lines) == 1 and "--axes TYX" in lines[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur_file(source, tmp_path / "out2.tif", axes="TYX", method="richardson_lucy",
                    psf=_psf3d()[1], iterations=2)
    assert _axes_lines(caught) == []


def _bleaching(offset=100.0):
    rng = np.random.default_rng(1)
    cells = rng.random((64, 64)) * 20
    t = np.arange(30)[:, None, None]
    return (cells * np.exp(-t / 8) + offset).astype(np.float32)


def test_dark_level_found_on_a_bleaching_series_on_an_offset():
    from napari_microdeblur.cli_selective import dark_level

    kept = np.ones(30, bool)
    assert dark_level(_bleaching(), "TYX", kept) == pytest.approx(100, abs=1)
    assert dark_level(_bleaching(offset=0.0), "TYX", kept) is None  # nothing to subtract
    steady = np.repeat(_bleaching()[:1], 30, axis=0)  # equally bright: the level ranks nothing
    assert dark_level(steady, "TYX", kept) is None


def test_slices_named_by_their_axis():
    from napari_microdeblur.cli_selective import slice_words

    assert slice_words("TYX", 3) == "time points"
    assert slice_words("CTYX", 1) == "time point"
    assert slice_words("TZYX", 2) == "slices"
    assert slice_words("ZYX", 2) == "slices"


def test_3d_psf_plane_says_why_when_planes_run_alone():
    from napari_microdeblur.cli_selective import PLANES_WHY
    from napari_microdeblur.core.psf_aware import PLANES_ALONE, plane_kernel

    token = PLANES_ALONE.set(PLANES_WHY)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            plane_kernel(_psf3d())
    finally:
        PLANES_ALONE.reset(token)
    said = " ".join(str(w.message) for w in caught)
    assert "--focus-below deblurs the soft planes one by one" in said
    assert "is for z-stacks" not in said
