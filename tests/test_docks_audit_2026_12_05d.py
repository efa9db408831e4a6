"""Audit of the Fine-tune dock, its PSF panel and the Deblur dock (2026-12-05, fourth pass):
the Deblur dock's PSF preview following the 'layer:NAME' PSF it shows, a training regime that
cannot train the base network refused before the run, and "Adapt to this image" on a lazy
z-stack read off the GUI thread. Driven in a real viewer under Xvfb; tests wait on
conditions, never on fixed delays."""

from __future__ import annotations

import dask
import numpy as np
import pytest
from test_docks_audit_2026_12_04e import watched
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
    gran_file,
    notes,
    setup_finetune,
    tiny_session_model,
    wait_idle,
)

from napari_microdeblur.core.psf import gaussian_psf, psf_preview

# ----------------------------------------------------------------------------- Deblur dock


def shown_after(qtbot, w, change):
    """The preview's caption once it has shown what ``change()`` made it show."""
    with qtbot.waitSignal(w.psf_preview.shown, timeout=TIMEOUT):
        change()
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    return w.psf_preview.caption.text()


def test_the_psf_preview_follows_the_psf_layer_it_names(make_napari_viewer, qtbot,
                                                       notes):  # noqa: F811
    """With 'layer:psf' in the PSF box, the preview kept showing the first PSF after that
    layer got new pixels, was removed, or renamed: a PSF the run would not use."""
    viewer = make_napari_viewer()
    image = viewer.add_image(np.random.default_rng(0).random((48, 48), np.float32), name="img")
    psf = viewer.add_image(np.asarray(gaussian_psf(1.0)), name="psf")
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(image)
    w.set_method("richardson_lucy")
    first = shown_after(qtbot, w, lambda: w.psf_edit.setText("layer:psf"))
    assert first == psf_preview(np.asarray(gaussian_psf(1.0)))[1]
    wider = np.asarray(gaussian_psf(3.0))

    def replace():
        psf.data = wider

    # was: the caption (and image) of the first PSF, each time
    assert shown_after(qtbot, w, replace) == psf_preview(wider)[1] != first
    gone = shown_after(qtbot, w, lambda: viewer.layers.remove(psf))
    assert "no grayscale image layer 'psf'" in gone and w.psf_preview.error == gone
    w.run_button.click()  # what the preview refuses, Run refuses, without starting
    assert w.run_handle is None and "no grayscale image layer 'psf'" in notes.errors()[-1]
    back = viewer.add_image(np.asarray(gaussian_psf(2.0)), name="other")
    renamed = shown_after(qtbot, w, lambda: setattr(back, "name", "psf"))
    assert renamed == psf_preview(np.asarray(gaussian_psf(2.0)))[1]
    assert w.psf_preview.error is None
    assert "no grayscale" in shown_after(qtbot, w, lambda: setattr(back, "name", "x"))
    w.psf_edit.setText("gaussian:1.5")  # another source: layers no longer matter
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    caption = w.psf_preview.caption.text()
    viewer.layers.remove(back)
    assert not w.psf_preview.busy and w.psf_preview.caption.text() == caption


# ----------------------------------------------------------------------------- Fine-tune


@pytest.mark.usefixtures("tiny_session_model")
def test_a_regime_that_cannot_train_the_base_is_refused_before_the_run(
        make_napari_viewer, qtbot, focus_stack, notes):  # noqa: F811
    """psf_cyclegan with a gran base started the run, built and aligned the pairs, then failed
    in the worker with "needs a model with a PSF layer (model.blur), such as
    build_model('psf_cyclegan', ...)": no dock word for what to change."""
    viewer = make_napari_viewer()
    layer = viewer.add_image(focus_stack[:4, :64, :64], name="stack")
    w = setup_finetune(viewer, layer, steps=1)
    w.focus_spin.setValue(2)
    w.regimes.set_regime("psf_cyclegan")
    assert w.start() is None and w.worker is None  # was: a worker, failing later
    line = notes.errors()[-1]
    assert "'tiny_gran'" in line and "'Start from' a new psf_cyclegan network" in line
    assert "build_model" not in line and "\n" not in line
    assert w.status_label.text() == line and w.start_button.isEnabled()
    w.regimes.set_regime("gran_gan")  # a regime that trains any network: it starts
    assert w.start() is not None
    wait_idle(qtbot, w)
    assert w.session_label == "tiny_gran fine-tuned on stack"


@pytest.mark.usefixtures("tiny_session_model")
def test_adapting_to_a_lazy_stack_reads_it_in_the_worker(make_napari_viewer, qtbot,
                                                         focus_stack):
    """"Adapt to this image" on a dask z-stack placed by scale and translate: no plane is
    read on the GUI thread (layer checks, the request, the comparison), and the kept weights
    become a method."""
    reads = []
    viewer = make_napari_viewer()
    layer = viewer.add_image(watched(focus_stack[:3], (1, 96, 96), reads), name="stack",
                             scale=(2.0, 0.5, 0.5), translate=(10.0, 0.0, 0.0))
    w = setup_finetune(viewer, layer, steps=2)
    w.mode_combo.setCurrentIndex(2)
    w.self_page.layer_combo.set_value(layer)
    w.psf_panel.psf_edit.setText("gaussian:1.5")
    w.minutes_spin.setValue(0.02)
    w.patch_spin.setValue(16)
    # synchronous: a chunk is computed on the thread that asks for it
    with dask.config.set(scheduler="synchronous"):
        reads.clear()
        w.start_button.click()
        wait_idle(qtbot, w)
    assert w.session_label == "tiny_gran fine-tuned on stack"
    assert {z for z, gui in reads if not gui} == {0, 1, 2}
    assert not [z for z, gui in reads if gui]
    assert tuple(w.comparison["input"].scale) == (2.0, 0.5, 0.5)
