"""The Fine-tune dock's Sharp box ranks the layers chosen under its own Unpaired rows last:
the choice was kept in a registry by viewer, so two docks of one viewer shared the last one's
(closing either cleared both), and the registry's entry kept its viewer and dock alive until
the dock closed. Headless under Xvfb."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    _clean_session,
    dock,
)


def setup_unpaired(w, blurry, chosen) -> None:
    """psf_cyclegan with ``chosen`` as Unpaired sharp and ``blurry`` as the pair's Blurry."""
    w.regimes.set_regime("psf_cyclegan")
    w.blurry_combo.set_value(blurry)
    w.regimes.source_combos["unpaired_sharp"].set_value(chosen)


def test_two_docks_rank_their_own_unpaired_choice_last(make_napari_viewer, qtbot, fluo_u8):
    from napari_microdeblur._widgets._finetune import FinetuneWidget

    viewer = make_napari_viewer()
    image = fluo_u8.astype(np.float32)
    blurry = viewer.add_image(image, name="blurry0")
    # by name the Sharp box's first choice; 'field 2' is named neither way (ranked next)
    named = viewer.add_image(image[::-1].copy(), name="unpaired sharp")
    field = viewer.add_image(image[:, ::-1].copy(), name="field 2")
    first = dock(viewer, "Fine-tune")
    second = FinetuneWidget(viewer)
    viewer.window.add_dock_widget(second, name="Fine-tune (second)")
    setup_unpaired(first, blurry, named)
    setup_unpaired(second, blurry, field)
    assert first.sharp_combo.value is field  # its own choice 'unpaired sharp' ranks last
    assert second.sharp_combo.value is named  # its own choice 'field 2' ranks last
    viewer.window.remove_dock_widget(second)
    assert second.closed
    first.sharp_combo.reconsider()
    viewer.add_image(image[:60, :60].copy(), name="late")  # every box refreshes
    assert first.sharp_combo.value is field  # closing the other dock left this one's ranks
    first.regimes.source_combos["unpaired_sharp"].setCurrentIndex(0)  # (none): it may again
    assert first.sharp_combo.value is named


def freed(qtbot, ref) -> bool:
    """Whether the object behind ``ref`` is gone once Qt's deferred deletes and Python's
    garbage collection have run (a few rounds)."""
    from qtpy.QtCore import QCoreApplication, QEvent

    for _ in range(10):
        QCoreApplication.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()
        if ref() is None:
            return True
        qtbot.wait(10)
    return False


@pytest.mark.parametrize("close", [True, False], ids=["closed", "dropped"])
def test_a_dock_and_its_viewer_are_freed(qtbot, fluo_u8, close):
    """Closed, or dropped with its viewer unclosed (the registry's entry kept both)."""
    from napari.components import ViewerModel

    from napari_microdeblur._widgets._finetune import FinetuneWidget

    viewer = ViewerModel()
    image = fluo_u8.astype(np.float32)
    blurry = viewer.add_image(image, name="blurry0")
    chosen = viewer.add_image(image[::-1].copy(), name="unpaired sharp")
    field = viewer.add_image(image[:, ::-1].copy(), name="field 2")
    w = FinetuneWidget(viewer)
    setup_unpaired(w, blurry, chosen)
    assert w.sharp_combo.value is field
    form = w.sharp_combo.parentWidget().layout()  # the dock's own box, in the Sharp row
    assert form.labelForField(w.sharp_combo).text() == "Sharp"
    if close:
        w.close()
        assert w.closed
    refs = [weakref.ref(w), weakref.ref(viewer)]
    del w, viewer, blurry, chosen, field, form
    assert all(freed(qtbot, ref) for ref in refs)
