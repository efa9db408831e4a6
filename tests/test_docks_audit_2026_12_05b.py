"""Audit of the Deblur, PSF and Fine-tune docks as a biologist uses them (2026-12-05, second
pass): a custom tile below the method's reach is refused before the run when the PSF comes
from the image, where no estimate could make it run. Driven in a real viewer under Xvfb;
tests wait on conditions, never on delays."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from test_docks_audit_2026_12_04d import deblur_dock, names, notes, wait_preview  # noqa: F401
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
    wait_run,
)


def blurred(shape=(256, 256), sigma=1.5, seed=0):
    rng = np.random.default_rng(seed)
    return (ndimage.gaussian_filter(rng.random(shape), sigma) * 200).astype(np.float32)


# ----------------------------------------------------------------------------- custom tile
# with a PSF the run estimates from the image

def refused_before_the_run(w, viewer, notes, words):  # noqa: F811
    run = w.run()
    if run is not None:  # the old code: the run estimated the PSF, then refused
        run.cancel()
    assert run is None and w.last_run is None and not w.busy
    assert w.status_label.text() == words
    assert [m for s, m in notes() if s == "error"] == [words]
    assert names(viewer) == ["cells"]


WIDENS = ", or more: the PSF estimated from the image widens it"
#: the advice for the PSF-aware network's 125 px reach: 128 runs, but steps 4 px
BELOW_128 = ("with an overlap of 124 px, tiles below 192 take over 3x the default tiling's "
             "work: use a tile of at least 192")


def test_auto_on_em_refuses_a_tile_below_its_reach_before_estimating(
        make_napari_viewer, qtbot, notes):  # noqa: F811
    """'auto' on EM estimates the PSF in the run: a tile of 16 px is below the reach of the
    PSF-aware network whatever the estimate (and of the blind network 'auto' falls back to),
    yet it was refused only once the run had estimated the PSF."""
    viewer = make_napari_viewer()
    _, w = deblur_dock(viewer, blurred())
    w.set_modality("em")
    w.set_method("auto")
    w.tile_mode.setCurrentText("custom")
    w.tile_spin.setValue(16)
    wait_preview(qtbot, w)
    refused_before_the_run(w, viewer, notes, (
        "tile=16 is smaller than the receptive field of 'wiener_unet.psf_v4' (125 px); "
        + BELOW_128 + WIDENS))


def test_an_estimated_psf_with_the_psf_aware_network_refuses_before_estimating(
        make_napari_viewer, qtbot, notes):  # noqa: F811
    viewer = make_napari_viewer()
    _, w = deblur_dock(viewer, blurred())
    w.set_modality("fluorescence")
    w.set_method("wiener_unet.psf_v4")
    w.psf_edit.setText("estimate")
    w.tile_mode.setCurrentText("custom")
    w.tile_spin.setValue(64)
    wait_preview(qtbot, w)
    refused_before_the_run(w, viewer, notes, (
        "tile=64 is smaller than the receptive field of 'wiener_unet.psf_v4' (125 px); "
        + BELOW_128 + WIDENS))


def test_a_tile_only_the_estimate_can_judge_still_runs(make_napari_viewer, qtbot):
    """Wiener's reach is the estimated PSF's: a 32 px tile is not refused before the run."""
    viewer = make_napari_viewer()
    _, w = deblur_dock(viewer, blurred((96, 96)))
    w.set_method("wiener")
    w.psf_edit.setText("estimate")
    w.tile_mode.setCurrentText("custom")
    w.tile_spin.setValue(32)
    wait_preview(qtbot, w)
    run = w.run()
    assert run is not None
    wait_run(qtbot, run)
    assert run.layer is not None and run.layer.metadata["microdeblur"]["tile"] == (32, 32)
