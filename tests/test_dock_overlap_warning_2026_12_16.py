"""The Deblur dock passes on, once, the core's warning for a custom overlap below the method's
(core.tile_options.low_overlap_note): its check before a run calls the same tile rules."""

from __future__ import annotations

import numpy as np
from test_docks_audit_2026_12_04d import deblur_dock, notes, wait_preview  # noqa: F401
from test_widgets import _clean_session, wait_run  # noqa: F401 - the autouse fixture

SEAMS = "shows seams along the tile lines"


def test_a_low_custom_overlap_is_warned_once(make_napari_viewer, qtbot, notes):  # noqa: F811
    viewer = make_napari_viewer()
    _, w = deblur_dock(viewer, (np.random.default_rng(0).random((96, 96)) * 200)
                       .astype(np.float32))
    w.set_method("richardson_lucy")
    w.psf_edit.setText("gaussian:2")
    w.tile_mode.setCurrentText("custom")
    w.tile_spin.setValue(64)
    w.overlap_spin.setValue(8)
    wait_preview(qtbot, w)
    import warnings

    with warnings.catch_warnings(record=True) as raised:  # the check before the run: silent
        warnings.simplefilter("always")
        run = w.run()
    assert not [m for m in raised if SEAMS in str(m.message)]
    assert run is not None
    wait_run(qtbot, run)
    # the worker's note reaches napari through the event loop, at times after the run's end
    qtbot.waitUntil(lambda: any(SEAMS in m for _, m in notes()), timeout=10000)
    qtbot.wait(200)  # a second one, had it been said twice, arrives with it
    said = [m for _, m in notes() if SEAMS in m]
    assert len(said) == 1, said
