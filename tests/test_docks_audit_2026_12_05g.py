"""Audit of the Deblur dock with the layer kinds napari users have (2026-12-05, seventh pass):
a zarr-backed layer's slice read on the GUI thread, and the status line of a run on a pyramid
or on one slice of a stack not saying which part runs. Driven in a real viewer under Xvfb;
tests wait on conditions, never on fixed delays."""

from __future__ import annotations

import threading

import numpy as np
from test_docks_audit_2026_12_04d import names, notes, wait_preview  # noqa: F401
from test_widgets import _clean_session, dock, wait_run  # noqa: F401


def wiener_dock(viewer, data, **kwargs):
    layer = viewer.add_image(data, name="cells", **kwargs)
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(layer)
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.0")
    return layer, w


def test_a_zarr_layer_slice_is_read_in_the_worker_not_on_the_gui_thread(
        make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """'current slice' on a zarr-backed z-stack indexed the zarr array in Run (zarr reads
    when indexed): the plane came from disk (or the network) on the GUI thread."""
    import zarr

    stack = np.random.default_rng(0).random((4, 48, 48)).astype(np.float32)
    z = zarr.open_array(str(tmp_path / "a.zarr"), mode="w", shape=stack.shape,
                        chunks=(1, 24, 24), dtype="f4")
    z[:] = stack
    viewer = make_napari_viewer()
    _, w = wiener_dock(viewer, z, contrast_limits=(0, 1))
    viewer.dims.set_current_step(0, 2)
    w.scope_combo.setCurrentText("current slice")
    wait_preview(qtbot, w)
    reads, get = [], type(z).__getitem__

    def spy(self, key):
        reads.append(threading.current_thread() is threading.main_thread())
        return get(self, key)

    monkeypatch.setattr(type(z), "__getitem__", spy)
    run = w.run()
    on_gui = list(reads)
    wait_run(qtbot, run)
    assert on_gui.count(True) == 0  # was: one read of the plane, on the GUI thread
    assert reads and run.layer.data.shape == (1, 48, 48)
    assert tuple(run.layer.translate) == (2, 0, 0)
    # a current slice names its slice (was: named like a whole-stack result)
    assert names(viewer) == ["cells", "cells deblurred [wiener, PSF gaussian:1.0] (Z=2)"]


def test_a_pyramid_run_says_it_takes_the_full_resolution_level(make_napari_viewer, qtbot):
    """A multiscale layer (an OME-Zarr pyramid) runs its level 0, and the result sits on
    level 0's scale; the status line said only 'axes YX', not which level runs."""
    a = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    viewer = make_napari_viewer()
    layer, w = wiener_dock(viewer, [a, a[::2, ::2], a[::4, ::4]], scale=(0.5, 0.5),
                           multiscale=True)
    wait_preview(qtbot, w)
    run = w.run()
    assert "(axes YX, full-resolution level of 3)" in w.status_label.text()
    wait_run(qtbot, run)
    assert run.layer.data.shape == (64, 64) and not run.layer.multiscale
    assert tuple(run.layer.scale) == (0.5, 0.5)
    assert layer.data[0] is a  # the source is untouched


def test_a_slice_run_says_which_plane_of_a_5d_stack_it_takes(make_napari_viewer, qtbot):
    """'current slice' on a TCZYX layer runs the one plane under the sliders (channel
    included) and puts it there; the status line said 'axes TCZYX', as for the whole stack."""
    data = np.random.default_rng(0).random((2, 2, 3, 32, 32)).astype(np.float32)
    viewer = make_napari_viewer()
    _, w = wiener_dock(viewer, data, scale=(1, 1, 2, 0.5, 0.5))
    assert w.axes_edit.text() == "TCZYX"
    for axis, step in enumerate((1, 0, 2)):
        viewer.dims.set_current_step(axis, step)
    w.scope_combo.setCurrentText("current slice")
    wait_preview(qtbot, w)
    run = w.run()
    assert "(axes TCZYX, current slice T=1, C=0, Z=2)" in w.status_label.text()
    wait_run(qtbot, run)
    meta = run.layer.metadata["microdeblur"]
    assert run.layer.data.shape == (1, 1, 1, 32, 32)
    assert tuple(run.layer.translate) == (1, 0, 4, 0, 0)
    assert meta["scope"] == "current slice" and meta["offset"] == (1, 0, 2, 0, 0)


def test_the_finetune_preview_request_does_not_read_a_zarr_layer(make_napari_viewer, tmp_path,
                                                                  monkeypatch):
    """The Fine-tune dock's Preview built its request with layer_data(layer)[key], which reads
    a zarr plane on the GUI thread; the request now holds a lazy part, read by the worker."""
    from types import SimpleNamespace

    import zarr

    from napari_microdeblur._widgets._finetune_preview import TrainingPreviewMixin
    from napari_microdeblur.core import registry

    stack = np.random.default_rng(0).random((3, 32, 32)).astype(np.float32)
    z = zarr.open_array(str(tmp_path / "a.zarr"), mode="w", shape=stack.shape,
                        chunks=(1, 32, 32), dtype="f4")
    z[:] = stack
    viewer = make_napari_viewer()
    layer = viewer.add_image(z, name="stack", contrast_limits=(0, 1))
    viewer.dims.set_current_step(0, 1)
    model = registry.build_model("gran", registry.get_arch("gran").tiny_config, seed=0)
    dock_ = SimpleNamespace(
        viewer=viewer, _source_layer=lambda: layer, _last_step=3,
        request=SimpleNamespace(axes="ZYX", model=model, psf=None, base_label="tiny",
                                base_card=None, device="cpu"))
    reads, get = [], type(z).__getitem__

    def spy(self, key):
        reads.append(key)
        return get(self, key)

    monkeypatch.setattr(type(z), "__getitem__", spy)
    req = TrainingPreviewMixin._preview_request(dock_)
    assert reads == []  # was: the plane, read here on the GUI thread
    np.testing.assert_array_equal(np.asarray(req.image), stack[1:2])
