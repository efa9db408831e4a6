"""The Deblur dock's PSF-scale warning at Run compares a 3D PSF's Z step (dz=, a PSF layer's Z
scale) with the layer's only where the run deconvolves in 3D, as ``microdeblur deblur`` does
(``core.files``): a run plane by plane (a network, 'auto' that does not go 3D, one slice) uses
the PSF's in-focus plane, whose Z step has no effect. Its pixel size is still compared."""

from __future__ import annotations

import numpy as np
import pytest
from test_modality import V1, tiny_weights

from napari_microdeblur._widgets import _deblur
from napari_microdeblur.core import bundled
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms
OPTICS = "widefield:na=1.4,wavelength=0.52,size=9"
PLANAR = f"{OPTICS},pixel=0.1,nz=3,dz=1.5"  # 0.84 in focus: auto keeps the PSF-aware network
WIDEFIELD = f"{OPTICS},pixel=0.1,nz=7,dz=0.2"  # 'auto' runs it in 3D (bundled.auto_runs_in_3d)


@pytest.fixture(autouse=True)
def tiny_bundled(monkeypatch, tmp_path):
    """The bundled names as tiny random networks."""
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", tmp_path)
    table = {name: tiny_weights(name, tmp_path) for name in (*V1, DEFAULT_PSF_AWARE)}
    monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS", table)


@pytest.fixture
def dock(make_napari_viewer, monkeypatch):
    """A Deblur dock on a ZYX layer of voxel 0.3 x 0.1 x 0.1, and the warnings it gives."""
    viewer = make_napari_viewer()
    data = np.random.default_rng(0).random((9, 32, 32)).astype(np.float32)
    layer = viewer.add_image(data, name="stack", scale=(0.3, 0.1, 0.1))
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("ZYX")
    w.device_combo.setCurrentText("cpu")
    warned: list[str] = []
    monkeypatch.setattr(_deblur, "notify_warning", warned.append)
    return viewer, w, warned


def use(qtbot, w, method, psf):
    w.set_method(method)
    if method == "auto":
        w.use_psf_check.setChecked(True)
    w.psf_edit.setText(psf)  # typed pixel= and dz= are kept
    assert w.psf_edit.text() == psf
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    assert w.psf_preview.error is None


def run_through(qtbot, w):
    run = w.run()
    assert run is not None, w.status_label.text()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    return run


def test_a_psf_aware_network_runs_plane_by_plane_and_the_z_step_is_not_said(dock, qtbot):
    viewer, w, warned = dock
    use(qtbot, w, DEFAULT_PSF_AWARE, PLANAR)
    run_through(qtbot, w)
    assert viewer.layers[-1].name.startswith("stack deblurred")
    assert warned == []
    # its pixel size still matters, and is said without the Z step
    w.psf_edit.setText(f"{OPTICS},pixel=0.2,nz=5,dz=0.5")
    w._warn_psf_scale(w.build_request())
    assert len(warned) == 1 and "give pixel=0.1 in it" in warned[0]
    assert "Z " not in warned[0].split(" is sampled at ")[1]


def test_richardson_lucy_on_the_whole_stack_runs_in_3d_and_says_the_z_step(dock, qtbot):
    viewer, w, warned = dock
    use(qtbot, w, "richardson_lucy", PLANAR)
    w.iterations_spin.setValue(2)
    run_through(qtbot, w)
    assert len(warned) == 1 and "give dz=0.3" in warned[0]
    assert "pixel=" not in warned[0].split("give")[1] and "\n" not in warned[0]


def test_auto_says_the_z_step_only_where_it_goes_3d(dock, qtbot):
    viewer, w, warned = dock
    use(qtbot, w, "auto", PLANAR)  # the PSF-aware network, plane by plane
    assert not w.auto_runs_in_3d()
    w._warn_psf_scale(w.build_request())
    assert warned == []
    use(qtbot, w, "auto", WIDEFIELD)  # widefield-like: Richardson-Lucy in 3D
    assert w.auto_runs_in_3d()
    w._warn_psf_scale(w.build_request())
    assert len(warned) == 1 and "give dz=0.3" in warned[0]


def test_one_slice_is_not_deconvolved_over_z_and_its_z_step_is_not_said(dock, qtbot):
    """A PSF layer measured at Z 0.1 (the layer's is 0.3): a current slice with
    Richardson-Lucy, or the PSF-aware network, takes one plane."""
    viewer, w, warned = dock
    z, y, x = np.indices((5, 9, 9)) - np.array([2, 4, 4])[:, None, None, None]
    psf = np.exp(-(z * z / 2 + y * y / 2 + x * x / 2)).astype(np.float32)
    viewer.add_image(psf / psf.sum(), name="psf", scale=(0.1, 0.1, 0.1))
    w.layer_combo.set_value(viewer.layers["stack"])
    viewer.dims.set_current_step(0, 4)
    use(qtbot, w, "richardson_lucy", "layer:psf")
    w._warn_psf_scale(w.build_request())  # the whole stack in 3D: said
    assert len(warned) == 1 and "Z 0.1 (image 0.3)" in warned.pop()
    w.scope_combo.setCurrentText("current slice")
    w._warn_psf_scale(w.build_request())
    assert warned == []
    use(qtbot, w, DEFAULT_PSF_AWARE, "layer:psf")
    run_through(qtbot, w)
    assert viewer.layers[-1].name.startswith("stack deblurred")
    assert warned == []


def test_a_psf_per_channel_runs_in_3d_where_a_channel_s_psf_is_3d():
    from napari_microdeblur._widgets._jobs import DeblurRequest
    from napari_microdeblur.core.method import MethodSpec

    image = np.zeros((2, 9, 32, 32), np.float32)

    def request(psf, name="richardson_lucy", axes="CZYX", shape=image.shape):
        return DeblurRequest("cells", np.zeros(shape, np.float32), axes,
                             MethodSpec(name, psf=psf), name)

    assert _deblur.psf_runs_in_3d(request(f"gaussian:1.5;{PLANAR}"))
    assert not _deblur.psf_runs_in_3d(request("gaussian:1.5;gaussian:2"))
    assert not _deblur.psf_runs_in_3d(request(f"gaussian:1.5;{PLANAR}", DEFAULT_PSF_AWARE))
    assert not _deblur.psf_runs_in_3d(request(PLANAR, shape=(2, 1, 32, 32)))  # one plane


def test_a_3d_psf_on_one_plane_says_what_to_change():
    """Richardson-Lucy with a 3D PSF on one plane (a slice of a stack) failed with only
    'image is too small: spatial axes ZYX have size (1, 32, 32)'."""
    from napari_microdeblur.core.inference import deblur
    from napari_microdeblur.core.psf import parse_psf

    psf = np.stack([parse_psf("gaussian:1.5")] * 5) / 5
    with pytest.raises(ValueError, match="give the whole stack, or a 2D PSF"):
        deblur(np.random.default_rng(0).random((1, 32, 32)).astype(np.float32), axes="ZYX",
               method="richardson_lucy", psf=psf, iterations=5)


@pytest.mark.parametrize("psfs, in_3d", [
    (f"{PLANAR};{WIDEFIELD}", 2),  # channel 1 to the network, channel 2 Richardson-Lucy in 3D
    (f"{WIDEFIELD};{PLANAR}", 1),
])
def test_a_psf_per_channel_says_each_channels_z_step_where_its_run_is_3d(dock, qtbot, psfs,
                                                                          in_3d):
    """Both PSFs have another Z step than the layer's 0.3: only the channel 'auto' deconvolves
    in 3D is said, 'channel N: ...' as microdeblur deblur says it (the dock said both channels'
    dz= whenever any channel ran in 3D)."""
    viewer, w, warned = dock
    data = np.random.default_rng(1).random((2, 9, 32, 32)).astype(np.float32)
    layer = viewer.add_image(data, name="cells", scale=(1, 0.3, 0.1, 0.1))
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("CZYX")
    use(qtbot, w, "auto", psfs)
    run_through(qtbot, w)
    assert viewer.layers[-1].name.startswith("cells deblurred")
    assert len(warned) == 1 and "\n" not in warned[0]
    assert warned[0].startswith(f"channel {in_3d}: psf ") and "give dz=0.3" in warned[0]
    assert f"channel {3 - in_3d}:" not in warned[0]
    # one plane of a channel ('current slice') runs plane by plane: nothing to say
    warned.clear()
    viewer.dims.set_current_step(0, in_3d - 1)
    w.scope_combo.setCurrentText("current slice")
    w._warn_psf_scale(w.build_request())
    assert warned == []


def test_a_psf_per_channel_says_a_2d_channels_pixel_size_without_its_z_step(dock, qtbot):
    """Channel 1 runs plane by plane at the wrong pixel size, channel 2 in 3D at the wrong Z
    step: one line, each channel's own fix (channel 1 was also told its dz=)."""
    viewer, w, warned = dock
    data = np.random.default_rng(1).random((2, 9, 32, 32)).astype(np.float32)
    layer = viewer.add_image(data, name="cells", scale=(1, 0.3, 0.1, 0.1))
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("CZYX")
    use(qtbot, w, "auto", f"{OPTICS},pixel=0.2,nz=3,dz=1.5;{WIDEFIELD}")
    w._warn_psf_scale(w.build_request())
    assert len(warned) == 1 and "\n" not in warned[0]
    first, second = warned[0].split("; channel 2: ")
    assert first.startswith("channel 1: psf ") and "give pixel=0.1 in it" in first
    assert "give dz=0.3 in it" in second and "pixel=" not in second.split("give")[1]
