"""From a walkthrough of the Deblur dock (2026-12-08): the PSF preview runs Run's check of the
PSF against the chosen layer (a 3D PSF deeper than the stack was refused only at Run), an
obliquely elongated PSF's FWHM is given along its own axes (the Y and X profiles understated
it), and Load weights... says what to do with a state dict of another configuration, keeps
one entry for a file loaded twice, and puts a failed load on the status line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
    gran_file,
    notes,
    tiny_gran,
    wait_idle,
)

from napari_microdeblur._widgets._methods import SESSION_MODELS, load_failure_line
from napari_microdeblur.core.psf import parse_psf, psf_preview
from napari_microdeblur.core.psf_shape import principal_fwhm

DEEP = "widefield:na=1.2,wavelength=0.52,ni=1.33,nz=15,pixel=0.1,dz=0.3"


def settled(qtbot, w):
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    return w.psf_preview.caption.text()


# ----------------------------------------------------------------------------- FWHM


def test_a_round_or_axis_aligned_psf_keeps_its_y_and_x_widths():
    for source in ("gaussian:1.6", "gaussian:2,1", "astig:2,1,90", "disk:3"):
        assert "along its axes" not in psf_preview(source)[1]
        assert principal_fwhm(parse_psf(source)) is None


def test_an_oblique_psf_is_measured_along_its_own_axes():
    # was: 'FWHM 1.6 x 2.7 px', the profiles along Y and X of a PSF 5.4 px long at 30 deg
    text = psf_preview("astig:2.31,0.61,30")[1]
    assert "FWHM 5.3 x 1.5 px along its axes at 30 and 120 deg" in text
    long_axis, short_axis, angle = principal_fwhm(parse_psf("astig:3,1.5,30"))
    assert long_axis == pytest.approx(3 * 2.3548, rel=0.01)
    assert short_axis == pytest.approx(1.5 * 2.3548, rel=0.01)
    assert angle == pytest.approx(30, abs=0.5)
    assert principal_fwhm(parse_psf("astig:3,1,135"))[2] == pytest.approx(135, abs=0.5)


def test_a_3d_psf_keeps_its_z_width_with_the_oblique_plane():
    plane = parse_psf("astig:2,1,45")
    stack = np.stack([0.3 * plane, plane, 0.3 * plane])
    text = psf_preview(stack)[1]
    assert text.startswith("3D PSF 3 x 17 x 17 px, FWHM ")
    assert " px along its axes at 45 and 135 deg" in text


# ----------------------------------------------------------------------------- dock


def test_the_deblur_dock_preview_shows_the_oblique_width(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.random.default_rng(0).random((48, 48), np.float32), name="em")
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(layer)
    w.set_method("wiener")
    w.psf_edit.setText("astig:2.31,0.61,30")
    assert "5.3 x 1.5 px along its axes at 30 and 120 deg" in settled(qtbot, w)
    assert w.psf_preview.error is None


def test_a_psf_deeper_than_the_stack_is_refused_in_the_preview(make_napari_viewer, qtbot,
                                                                notes):  # noqa: F811
    """nz=15 on 14 planes: the preview drew the PSF; Run alone refused it, after Run."""
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    shallow = viewer.add_image(rng.random((14, 64, 64), np.float32), name="shallow",
                               scale=(0.3, 0.1, 0.1))
    deep = viewer.add_image(rng.random((17, 64, 64), np.float32), name="deep",
                            scale=(0.3, 0.1, 0.1))
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(shallow)
    w.set_method("richardson_lucy")
    w.psf_edit.setText(DEEP)
    caption = settled(qtbot, w)
    assert "larger than layer 'shallow'" in caption and "give nz=13 or fewer" in caption
    assert w.psf_preview.error == caption
    w.layer_combo.set_value(deep)  # 17 planes hold it: the verdict follows the layer
    qtbot.waitUntil(lambda: w.psf_preview.error is None, timeout=TIMEOUT)
    assert "3D PSF 15 x 61 x 61 px" in settled(qtbot, w)
    w.layer_combo.set_value(shallow)
    qtbot.waitUntil(lambda: w.psf_preview.error is not None, timeout=TIMEOUT)
    w.run_button.click()  # Run gives the preview's line, without starting
    assert w.run_handle is None and "give nz=13 or fewer" in notes.errors()[-1]
    assert w.status_label.text() == w.psf_preview.error
    w.scope_combo.setCurrentText("current slice")  # one plane: its in-focus plane only
    qtbot.waitUntil(lambda: w.psf_preview.error is not None and "one plane"
                    in w.psf_preview.error, timeout=TIMEOUT)
    w.scope_combo.setCurrentText("whole stack")
    w.set_method("auto")
    w.use_psf_check.setChecked(True)
    # auto computes the model at the stack's depth (nz=13) and goes 3D: nothing to refuse
    qtbot.waitUntil(lambda: w.psf_preview.error is None, timeout=TIMEOUT)
    settled(qtbot, w)
    assert "richardson_lucy in 3D" in w.method.auto_label.text()


# ----------------------------------------------------------------------------- Load weights


def test_the_same_weights_file_loaded_twice_is_one_method(make_napari_viewer, qtbot,
                                                          gran_file):  # noqa: F811
    viewer = make_napari_viewer()
    w = dock(viewer, "Deblur")
    w.load_weights(gran_file)
    wait_idle(qtbot, w)
    first = w.method.name
    w.set_method("wiener")
    w.load_weights(gran_file)
    wait_idle(qtbot, w)
    assert SESSION_MODELS.labels() == [first]  # was: 'gran' and 'gran (2)', identical
    assert w.method.name == first
    assert "already loaded as" in w.status_label.text() and "same sha256" in \
        w.status_label.text()


def test_a_state_dict_of_another_configuration_says_how_to_load_it(make_napari_viewer,
                                                                   qtbot, tmp_path,
                                                                   notes):  # noqa: F811
    path = tmp_path / "sd.pt"
    torch.save(tiny_gran().state_dict(), path)
    viewer = make_napari_viewer()
    w = dock(viewer, "Deblur")
    w.status_label.setText("added 'x deblurred' in 0.1 s")
    w.load_weights(path, arch="gran")
    wait_idle(qtbot, w)
    line = notes.errors()[-1]
    # the core's conversion (the path as loaded, the config the tensors fit), given once
    assert "paper configuration" in line and "sd.safetensors', card)" in line \
        and "arch='gran'" in line and line.count("load_model(") == 1
    assert line.endswith("then load sd.safetensors here (its card records the configuration)")
    assert w.status_label.text() == line  # was: the last run's line stayed


def test_the_failure_line_adds_advice_only_for_another_configuration():
    other = ("x.pt: the weights do not fit architecture 'gran' in its paper configuration "
             "(...): 2 missing (e.g. ['a']); the file holds another configuration of gran: its "
             "tensors fit config={'n_feats': 8} (preset 'tiny'); convert it once, in Python: "
             "\"model, card = load_model('x.pt', arch='gran', config={'n_feats': 8}); "
             "save_weights(model, 'x.safetensors', card)\", then it loads by itself")
    line = load_failure_line("x.pt", other, "gran")
    assert line.count("load_model('x.pt', arch='gran'") == 1 and "missing" not in line
    # the core found no architecture the tensors are named as: another tool's, no recipe
    foreign = "x.pt: the weights do not fit architecture 'gran' in its paper configuration (...)"
    assert "load_model(" not in load_failure_line("x.pt", foreign, "gran")
    plain = "x.pt: no such file; check the name and the folder"
    assert load_failure_line("x.pt", plain) == f"could not load weights: {plain}"
