"""From a walkthrough of z-stacks with optics PSFs (2026-12-13): a model given dz= without nz=
built a 2D PSF (a stack then ran plane by plane, Richardson-Lucy ending below its input) and is
refused with the fix; a bead PSF whose light went on past the room measured said "holding 100 %"
and "the PSF reaches further" in one line, and now estimates the light missing; the Deblur dock's
preview of a PSF file larger than the layer showed its whole size and in-focus share, not the cut
the run takes; on a layer with no pixel size it showed the core's "lacks pixel", not Run's line."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tifffile
from test_beads_3d_2026_12_10 import bead_stack, light_inside, widefield_like
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
)

from napari_microdeblur._widgets import _deblur
from napari_microdeblur.core.beads import psf_from_beads
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.notes import DeblurWarning
from napari_microdeblur.core.optics import confocal_psf, widefield_psf
from napari_microdeblur.core.psf import parse_psf
from napari_microdeblur.core.psf_fit import check_spec_before_image, fit_psf_to_image_of

FIX = r"dz= has no effect without nz=.*add nz=N \(odd.*for a 3D PSF, or drop dz= for a 2D PSF"
DZ_ONLY = "widefield:na=1.4,wavelength=0.52,dz=0.3"


# ----------------------------------------------------------------------------- dz= without nz=


@pytest.mark.parametrize("spec", [
    DZ_ONLY + ",pixel=0.1",
    "confocal:na=1.4,wavelength=0.52,pixel=0.1,dz=0.3",
    "widefield:na=1.4,wavelength=0.52,pixel=0.1,nz=1,dz=0.3",
])
def test_a_model_with_dz_but_no_planes_is_refused_with_the_fix(spec):
    # was: a 2D PSF, and `info` recorded '...,dz=0.3,pixel=0.1', reading like a 3D one
    with pytest.raises(ValueError, match=FIX):
        parse_psf(spec)


def test_the_python_models_refuse_dz_without_nz_too():
    for make in (widefield_psf, confocal_psf):
        with pytest.raises(ValueError, match=FIX):
            make(1.4, 0.52, 0.1, dz=0.3)


def test_dz_without_nz_is_refused_before_the_file_fills_pixel():
    # the CLI checks a spec lacking pixel= before any file is read (check_spec_before_image)
    with pytest.raises(ValueError, match=FIX):
        check_spec_before_image(MethodSpec("richardson_lucy", psf=DZ_ONLY))


def test_the_cli_refuses_it_and_writes_nothing(tmp_path, capsys):
    from napari_microdeblur.cli import main

    stack = tmp_path / "stack.tif"
    image = np.random.default_rng(0).poisson(50, (5, 32, 32)).astype(np.uint16)
    tifffile.imwrite(stack, image, imagej=True, resolution=(10, 10),
                     metadata={"axes": "ZYX", "spacing": 0.3, "unit": "um"})
    out = tmp_path / "out.tif"
    code = main(["deblur", str(stack), "-o", str(out), "--psf", DZ_ONLY, "--method",
                 "richardson_lucy", "--iterations", "2", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert re.search(FIX, err), err
    assert not out.exists()


def test_the_dock_preview_and_run_give_the_same_line(make_napari_viewer, qtbot, monkeypatch):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.ones((5, 32, 32), np.float32), name="stack",
                             scale=(0.3, 0.1, 0.1))
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("ZYX")
    w.set_method("richardson_lucy")
    w.psf_edit.setText(DZ_ONLY)
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    error = w.psf_preview.error
    assert error is not None and re.search(FIX, error), w.psf_preview.caption.text()
    said: list[str] = []
    monkeypatch.setattr(_deblur, "notify_error", said.append)
    assert w.run() is None
    assert said == [error]


# ----------------------------------------------------------------------------- beads


def test_a_bead_psf_reaching_past_its_room_estimates_the_light_missing():
    # the 2026-12-10 stack: 31 planes, the box limited by them; it said "holding 100 % of the
    # beads' measured light" and "the PSF reaches further" in one line
    psf = widefield_like()
    centres = [(15, y, x) for y in (34, 94) for x in (34, 94)]
    with pytest.warns(DeblurWarning, match="rests on 4 beads"):  # few, said apart
        _, report = psf_from_beads(bead_stack(psf, centres, [3000] * 4))
    summary = report.summary()
    assert "the PSF reaches further" in summary
    assert "measured light" not in summary and "100 %" not in summary, summary
    # an estimate, and a lower bound: the true PSF has 8.8 % of its light outside the box
    truly_missing = 1 - light_inside(psf, report.radius)
    assert report.missing is not None and 0.02 < report.missing <= truly_missing
    said = re.search(r"probably at least (\d+) % of its light lies past the box", summary)
    assert said and int(said.group(1)) == round(100 * report.missing), summary
    # advice the dock's user can follow too (its "PSF from beads..." has no radius setting)
    assert "a larger radius (radius=; microdeblur psf-from-beads --radius)" in summary
    assert "larger --radius" not in summary


# ----------------------------------------------------------------------------- the dock preview


def _gaussian(shape, sigma):
    grids = np.meshgrid(*[np.arange(n) - n // 2 for n in shape], indexing="ij")
    g = np.exp(-0.5 * sum((x / s) ** 2 for x, s in zip(grids, sigma)))
    return (g / g.sum()).astype(np.float32)


def test_the_preview_shows_a_psf_file_larger_than_the_layer_as_the_run_cuts_it(
        make_napari_viewer, qtbot, tmp_path):
    # was: "3D PSF 21 x 61 x 61 px, ..." and the uncut PSF's in-focus share
    path = tmp_path / "big_psf.tif"
    tifffile.imwrite(path, _gaussian((21, 61, 61), (3.0, 2.0, 2.0)))
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.ones((12, 40, 40), np.float32), name="stack")
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("ZYX")
    w.set_method("richardson_lucy")
    w.psf_edit.setText(str(path))
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    caption = w.psf_preview.caption.text()
    assert w.psf_preview.error is None, caption
    with pytest.warns(DeblurWarning, match="cut to"):
        ran = fit_psf_to_image_of(w.build_request().method, "ZYX", (12, 40, 40)).psf.array
    cut = " x ".join(map(str, ran.shape))
    assert ran.shape[0] < 12 and ran.shape[1] < 40  # the run does cut it
    assert caption.startswith(f"3D PSF 21 x 61 x 61 px, as large as the layer or larger: cut "
                              f"by the run to {cut} px around its centroid ("), caption
    z = int(np.argmax(ran.max(axis=(1, 2))))
    share = ran[z].sum() / ran.sum()
    assert f"in-focus plane z={z} shown ({share:.0%} of the light)" in caption


def test_the_preview_says_runs_line_on_a_layer_without_pixel_size(make_napari_viewer, qtbot,
                                                                   monkeypatch):
    # was: "psf spec '...' lacks pixel; accepted: ..." while Run said to set layer.scale
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.ones((5, 32, 32), np.float32), name="nocal")
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("ZYX")
    w.set_method("richardson_lucy")
    w.psf_edit.setText("widefield:na=1.4,wavelength=0.52,nz=3")
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    error = w.psf_preview.error
    assert error is not None and "layer 'nocal' states no pixel size" in error, error
    assert "layer.scale" in error and w.psf_preview.caption.text() == error
    said: list[str] = []
    monkeypatch.setattr(_deblur, "notify_error", said.append)
    assert w.run() is None
    assert said == [error]
