"""Walkthroughs of 2026-12-18: a selective deblur with no unit below its threshold sets up no
method and says so (it said only "wiener: balance ..."); the iterations-cap note names the
command line's option too; a PSF array of one plane (1, N, N) runs on a 2D image as its file
does (Python and a dock layer); an optics PSF's ns= out of range says what to give; and
psf-from-beads says when beads are too dense to isolate, or clipped, instead of blaming a
threshold or a radius."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
from test_beads import gaussian, on_grid

from napari_microdeblur.core import selective
from napari_microdeblur.core.beads import psf_from_beads
from napari_microdeblur.core.classical import still_improving_text
from napari_microdeblur.core.inference import deblur
from napari_microdeblur.core.notes import DeblurNote
from napari_microdeblur.core.psf import gaussian_psf, parse_psf

PLUGIN = "napari-microdeblur"


def _said(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    return out, caught


# ----------------------------------------------------------------------------- selective


def test_nothing_below_the_threshold_sets_up_no_method_and_says_so(fluo_u8, monkeypatch):
    # was: Wiener's balance searched on the image, and its note ("wiener: balance ...") the
    # only line, as if it had run
    def never(*args, **kwargs):
        raise AssertionError("a method was set up for nothing")

    monkeypatch.setattr(selective, "settled_method", never)
    monkeypatch.setattr(selective, "settled_parts", never)
    result, caught = _said(lambda: selective.deblur_selected(
        fluo_u8, "wiener", psf="gaussian:1.6", axes="YX", tile=128, threshold=2e-3,
        output_dtype="input"))
    assert result.selected == () and result.image.tobytes() == fluo_u8.tobytes()
    assert result.method == "wiener" and result.parameters == {}
    (line,) = [str(w.message) for w in caught]
    assert issubclass(caught[0].category, DeblurNote)
    score = float(result.scores.ravel()[0])
    assert line.startswith(f"0 of 1 tile (128 px) below 0.002 (scores {score:.4g} to "
                           f"{score:.4g}): returned unchanged (copied as is; nothing "
                           "deblurred, no PSF estimated)"), line
    assert "balance" not in line and f"a threshold above {score:.4g}" in line


def test_nothing_below_in_slices_counts_the_blank_ones_and_the_cast(focus_stack):
    stack = focus_stack[:4].copy()
    stack[0] = 0  # a blank slice: no structure, never deblurred
    result, caught = _said(lambda: selective.deblur_selected(
        stack, "richardson_lucy", psf="gaussian:1.2", axes="ZYX", threshold=1e-12))
    assert result.image.dtype == np.float32 and np.array_equal(result.image, stack)
    (line,) = [str(w.message) for w in caught]
    assert line.startswith("0 of 4 slices below 1e-12 (scores "), line
    assert ("returned unchanged (copied as is, as float32; nothing deblurred, no PSF "
            "estimated, 1 without structure, never deblurred)") in line


# ----------------------------------------------------------------------------- iterations


def test_the_iterations_cap_note_names_the_option_of_python_and_of_the_command_line():
    note = still_improving_text(30)
    assert "cap of 30" in note and "above 30" in note  # as before
    assert "iterations=100 (--iterations 100 on the command line)" in note, note


# ----------------------------------------------------------------------------- PSF arrays


@pytest.mark.parametrize("method, options", [("richardson_lucy", {"iterations": 4}),
                                             ("wiener", {"balance": 0.02})])
def test_a_one_plane_psf_array_runs_on_a_2d_image_as_its_file(fluo_u8, tmp_path, method,
                                                               options):
    # was: "the PSF is 3D (1 x 15 x 15 px) but the image has no Z axis"; the file ran
    psf = gaussian_psf(1.6, size=15)
    path = tmp_path / "psf.tif"
    tifffile.imwrite(path, psf[None], metadata={"axes": "ZYX"})
    run = {"method": method, "axes": "YX", "device": "cpu", **options}
    from_array = deblur(fluo_u8, psf=psf[None], **run)
    assert np.array_equal(from_array, deblur(fluo_u8, psf=str(path), **run))
    assert np.array_equal(from_array, deblur(fluo_u8, psf=psf, **run))


@pytest.fixture
def tiny_networks(monkeypatch, tmp_path):
    """The bundled names as tiny random networks (``test_deblur_dock_psf``'s)."""
    from test_modality import V1, tiny_weights

    from napari_microdeblur.core import bundled
    from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE

    monkeypatch.setattr(bundled, "WEIGHTS_DIR", tmp_path)
    table = {name: tiny_weights(name, tmp_path) for name in (*V1, DEFAULT_PSF_AWARE)}
    monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS", table)


def test_a_one_plane_psf_layer_is_taken_by_the_deblur_dock(make_napari_viewer, qtbot, fluo_u8,
                                                            tiny_networks):
    viewer = make_napari_viewer()
    layer = viewer.add_image(fluo_u8, name="nuclei")
    viewer.add_image(gaussian_psf(1.6, size=15)[None], name="psf one plane")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    w.set_method("richardson_lucy")
    w.psf_edit.setText("layer:psf one plane")
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=60_000)
    assert w.psf_preview.error is None  # was: "the PSF is 3D (1 x 15 x 15 px) but ..."


# ----------------------------------------------------------------------------- optics


@pytest.mark.parametrize("value", ["0", "3"])
def test_an_optics_sample_index_out_of_range_says_what_to_give(value):
    with pytest.raises(ValueError) as caught:
        parse_psf(f"widefield:na=1.4,wavelength=0.52,pixel=0.1,ns={value}")
    said = str(caught.value)
    assert "sample's a refractive" not in said and "None or" not in said  # was garbled
    assert "accepted: the sample's refractive index, 1.0 to 2.0" in said, said
    assert "leave ns out" in said


# ----------------------------------------------------------------------------- beads


def _beads(spacing, *, height=2000.0, shape=(96, 96), sigma=1.5, seed=0):
    rng = np.random.default_rng(seed)
    clean = np.full(shape, 100.0)
    for c in on_grid(shape, spacing, 8, rng):
        clean += height * gaussian(shape, c, (sigma, sigma))
    return rng.poisson(clean).astype(np.float64)


def _refusal(image, **options) -> str:
    with pytest.raises(ValueError) as caught:
        psf_from_beads(image, **options)
    return str(caught.value)


def test_crowded_beads_are_said_too_dense_not_faint_nor_too_wide():
    image = _beads(5).astype(np.uint16)
    said = _refusal(image)
    # was: "for faint beads give a lower threshold=, e.g. threshold=..."
    assert "has no bead" in said and "too dense to isolate" in said, said
    assert "sparser bead slide" in said and "lower threshold" not in said
    # following that hint: was "36 near the border; PSF radius (33, 33)" and a smaller radius
    said = _refusal(image, threshold=748)
    assert "none usable" in said and "too dense to isolate" in said, said
    assert "smaller radius" not in said


def test_clipped_beads_close_together_are_said_clipped():
    image = np.minimum(_beads(20, height=8000.0), 255).astype(np.uint8)
    said = _refusal(image)
    # was: "9 not isolated ... give a smaller radius=" and no word of the clipping
    assert "saturated" in said and "not isolated" not in said, said
    assert "maximum sits at a ceiling" in said and "shorter exposure or lower gain" in said


def test_isolated_beads_and_noise_keep_their_messages():
    # too close for the radius: still "not isolated" and a smaller radius, not "too dense"
    said = _refusal(_beads(20).astype(np.uint16))
    assert "not isolated" in said and "give a smaller radius=" in said, said
    assert "too dense" not in said and "ceiling" not in said
    noise = np.random.default_rng(0).normal(100, 5, (96, 96))
    said = _refusal(noise)
    assert "has no bead" in said and "too dense" not in said, said
    psf, report = psf_from_beads(_beads(30, shape=(128, 128)).astype(np.uint16))
    assert report.used > 0 and psf.shape[0] % 2 == 1
