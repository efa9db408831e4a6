"""Result layers of the Deblur dock, from a walkthrough: a deblurred channel keeps its input's
blending (channels opened with channel_axis are 'additive'; the result hid the others), a PSF
per channel is named channel by channel (the second was cut off, a TIFF was a full path), a
current-slice result names its slice, and 'auto' that ran the 2D PSF-aware network with a 3D
PSF says it took only the in-focus plane (driven in a real viewer under Xvfb, with tiny random
bundled networks)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from test_modality import V1, tiny_weights

from napari_microdeblur._widgets import _layer_data as names
from napari_microdeblur.core import bundled
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms
WF = "widefield:na=1.2,wavelength={},ni=1.33"


@pytest.fixture(autouse=True)
def tiny_bundled(monkeypatch, tmp_path):
    """The v1 names and the PSF-aware name as tiny random networks."""
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", tmp_path)
    table = {name: tiny_weights(name, tmp_path) for name in (*V1, DEFAULT_PSF_AWARE)}
    monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS", table)
    return table


def deblur_dock(viewer, layer):
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    w.device_combo.setCurrentText("cpu")
    return w


def run_dock(qtbot, w):
    run = w.run()
    assert run is not None, w.status_label.text()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.layer is not None, w.status_label.text()
    return run


# ----------------------------------------------------------------------------- 1. blending


def test_a_deblurred_channel_keeps_the_blending_of_its_input(make_napari_viewer, qtbot,
                                                            fluo_u8):
    viewer = make_napari_viewer()
    czyx = np.stack([fluo_u8[:48, :48], fluo_u8[16:64, 16:64]])[:, None].astype(np.float32)
    dapi, gfp = viewer.add_image(czyx, channel_axis=0, name=["DAPI", "GFP"])
    assert gfp.blending == "additive"
    gfp.opacity = 0.7
    w = deblur_dock(viewer, gfp)
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.2")
    out = run_dock(qtbot, w).layer
    # was: 'translucent_no_depth' at opacity 1, on top, hiding DAPI
    assert out.blending == "additive"
    assert out.opacity == pytest.approx(0.7)
    assert out.colormap.name == gfp.colormap.name


def test_a_fine_tune_preview_keeps_the_blending_of_its_input():
    placement = {"scale": (1.0, 1.0), "translate": (0.0, 0.0), "rotate": np.eye(2),
                 "shear": np.zeros(1), "affine": None, "contrast_limits": (0, 1), "gamma": 1.0,
                 "rgb": False, "blending": "additive", "opacity": 0.5, "colormap": "green"}
    req = SimpleNamespace(placement=placement, offset=(0, 0), source_name="GFP", label="step 3")
    _, kwargs, _ = names.preview_layer(req, np.zeros((4, 4), np.float32))
    assert (kwargs["blending"], kwargs["opacity"]) == ("additive", 0.5)


# ----------------------------------------------------------------------------- 2. channel PSFs


def test_a_psf_per_channel_is_named_channel_by_channel():
    text = f"{WF.format(0.46)};{WF.format(0.52)}"
    assert names.psf_label(text) == "widefield c1 0.46um, c2 0.52um (na=1.2,ni=1.33)"
    # was: both cut to 'widefield:na=1.2,wavelength=0.46,ni=1...', whatever channel 2 had
    other = f"{WF.format(0.46)};{WF.format(0.61)}"
    assert names.psf_label(other) != names.psf_label(text)
    name = names.result_name("czyx", "richardson_lucy", text)
    assert len(name) <= 100


def test_channel_psf_files_are_named_by_their_file_names():
    text = "/tmp/pytest-of-root/pytest-1/test_c0/c1.tif;C:\\scope\\psf 561.tiff"
    # was: 'PSF /tmp/pytest-of-root/pytest-1/test...'
    assert names.psf_label(text) == "c1 c1.tif, c2 psf 561.tiff"
    assert names.psf_label("gaussian:1.2;estimate") == "c1 gaussian:1.2, c2 estimated"
    mixed = f"{WF.format(0.46)};confocal:na=1.2,wavelength=0.52"
    assert (names.psf_label(mixed)
            == "c1 widefield 0.46um na=1.2 ni=1.33, c2 confocal 0.52um na=1.2")


def test_a_long_psf_per_channel_is_cut_and_runs_stay_apart():
    long_one = "widefield:na=1.4,wavelength={},ni=1.518,pixel=0.065,dz=0.2,nz=9,defocus={}"
    a = ";".join(long_one.format(w, 0.1) for w in (0.46, 0.52, 0.61))
    b = ";".join(long_one.format(w, 0.2) for w in (0.46, 0.52, 0.61))
    shown = names.psf_label(a)
    assert len(shown) <= names.CHANNEL_PSFS_CHARS
    assert shown.startswith("widefield c1 0.46um, c2 0.52um, c3 0.61um (na=1.4,")
    assert shown != names.psf_label(b)  # they differ only in a value cut from the name


# ----------------------------------------------------------------------------- 3. the slice


def test_the_part_of_a_layer_is_in_the_name():
    req = SimpleNamespace(scope="current slice", axes="TZYX", offset=(1, 7, 0, 0),
                          image=np.zeros((1, 1, 8, 8)))
    assert names.part_words(req) == "T=1, Z=7"
    assert names.result_name("zs", "wiener", "gaussian:1.6", "Z=7") == \
        "zs deblurred [wiener, PSF gaussian:1.6] (Z=7)"
    fov = SimpleNamespace(scope="visible field of view", axes="YX", offset=(3, 4),
                          image=np.zeros((5, 5)))
    assert names.part_words(fov) == "field of view"
    whole = SimpleNamespace(scope="whole stack", axes="ZYX", offset=(0, 0, 0),
                            image=np.zeros((1, 8, 8)))
    assert names.part_words(whole) == ""


def test_a_current_slice_result_names_its_slice(make_napari_viewer, qtbot, fluo_u8):
    viewer = make_napari_viewer()
    stack = np.stack([fluo_u8[4 * z:4 * z + 48, :48] for z in range(9)]).astype(np.float32)
    layer = viewer.add_image(stack, name="zs")
    viewer.dims.set_current_step(0, 7)
    w = deblur_dock(viewer, layer)
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")
    whole = run_dock(qtbot, w).layer
    assert whole.name == "zs deblurred [wiener, PSF gaussian:1.6]"
    w.scope_combo.setCurrentText("current slice")
    out = run_dock(qtbot, w).layer
    # was: 'zs deblurred [wiener, PSF gaussian:1.6] [1]', napari's number only
    assert out.name == "zs deblurred [wiener, PSF gaussian:1.6] (Z=7)"
    assert "current slice Z=7" in w.status_label.text()


# ----------------------------------------------------------------------------- 4. a 3D PSF


def test_auto_with_a_3d_psf_says_the_network_took_its_in_focus_plane(
        make_napari_viewer, qtbot, fluo_u8, tmp_path):
    import tifffile

    from napari_microdeblur.core.psf import gaussian_psf

    # 5 planes, 60 % of the light in focus (confocal-like): over auto's share for 3D on a
    # short stack (50 %), so the network runs
    psf3 = np.stack([w * gaussian_psf(s, size=31)
                     for w, s in zip((0.05, 0.15, 0.6, 0.15, 0.05), (3.0, 2.0, 1.0, 2.0, 3.0))])
    path = tmp_path / "psf5.tif"
    tifffile.imwrite(path, psf3.astype(np.float32), photometric="minisblack")
    viewer = make_napari_viewer()
    stack = np.stack([fluo_u8[8 * z:8 * z + 64, :64] for z in range(6)])
    layer = viewer.add_image(stack, name="zs")
    w = deblur_dock(viewer, layer)
    w.use_psf_check.setChecked(True)
    w.psf_edit.setText(str(path))
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    run = run_dock(qtbot, w)
    assert run.layer.name == f"zs deblurred [{DEFAULT_PSF_AWARE}, PSF psf5.tif]"
    status = w.status_label.text()
    # was: no word of it in the dock (the core's warning went to a notification only)
    assert "3D PSF reduced to its in-focus plane (z=2 of 5) for every plane" in status
    assert f"{DEFAULT_PSF_AWARE} is a 2D network" in status
    assert "in-focus plane z=2" in run.layer.metadata["microdeblur"]["parameters"]["psf"]
    # a 2D PSF says nothing of the kind
    w.psf_edit.setText("gaussian:1.6")
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    run_dock(qtbot, w)
    assert "in-focus plane" not in w.status_label.text()
