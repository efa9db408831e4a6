"""The docks on a laptop screen (1366 x 768), walked with the keyboard and long layer names:

1. Compare & QC: Tab was trapped in the PSNR/SSIM table (70 presses cycled its cells); it now
   leaves the table, and the arrow keys still move in it.
2. Layer boxes cut long names at the right ('..._pos003_ch1_blurred' and '..._ch2_blurred'
   looked the same; Focus QC's Good box read 'nuclei sharp (grounc'): the closed box shows the
   name elided in the middle, the tooltip names it, and the dock does not widen.
3. Deblur: ticking Use a PSF showed a 96-px preview on a row of its own, which pushed Run to
   751-775 px in the dock's 701 px of view; the preview now sits beside the tick.
4. Fine-tune: 'Start from' was as wide as its longest entry (the dock 512 px, 547 px with the
   Unpaired rows, and it stayed so); it is now no wider than the other docks.
5. Deblur keyboard: Tab went from Use a PSF back up to Load weights...; Return on a focused
   Run did nothing; after Space started a run, focus landed on Save result..., not Cancel.
"""

from __future__ import annotations

import pytest
from qtpy.QtCore import QPoint, Qt
from qtpy.QtTest import QTest
from qtpy.QtWidgets import QAbstractButton, QTableWidget

PLUGIN = "napari-microdeblur"
#: the visible height of the Deblur dock's content on a 1366 x 768 screen (napari 0.9, the dock
#: alone on the right: measured 701 px)
LAPTOP_VIEW = 701
#: the widest a dock may ask to be (the Deblur dock asks 449 px)
DOCK_WIDTH = 460
LONG = "2024-03-12_HeLa-Kyoto_MitoTracker-DeepRed_63x_NA1.40_oil_zstack_raw_pos003_{}_blurred"


def _focused(widget):
    """The widget with the keyboard focus in ``widget``'s window (the window need not be the
    active one: Xvfb runs no window manager)."""
    return widget.window().focusWidget()


def _tab(widget):
    QTest.keyClick(_focused(widget), Qt.Key_Tab)
    return _focused(widget)


# ----------------------------------------------------------------------------- 1. the table

def test_tab_leaves_the_metrics_table_and_arrows_still_move_in_it(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "nuclei_pair")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Compare & QC")
    table = w.findChild(QTableWidget)
    qtbot.waitUntil(table.isVisible, timeout=5_000)  # a hidden table passes Tab on
    table.setFocus(Qt.TabFocusReason)
    qtbot.waitUntil(lambda: _focused(table) is table, timeout=5_000)
    table.setCurrentCell(0, 0)
    QTest.keyClick(table, Qt.Key_Down)
    assert table.currentRow() == 1  # the arrows still move between the cells
    after = _tab(table)
    assert after is not table and not table.isAncestorOf(after)


# ----------------------------------------------------------------------------- 2. layer boxes

def test_a_long_layer_name_shows_its_end_and_is_named_in_the_tooltip(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1366, 768)
    viewer.open_sample(PLUGIN, "nuclei_pair")
    sample = viewer.layers[1]  # its metadata states the image type: no note widens the dock
    ch1, ch2 = (viewer.add_image(sample.data, name=LONG.format(c),
                                 metadata=dict(sample.metadata)) for c in ("ch1", "ch2"))
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    box = w.layer_combo
    qtbot.waitUntil(lambda: box.isVisible() and box.width() > 100, timeout=5_000)
    assert box.fontMetrics().horizontalAdvance(ch1.name) > box.width()  # it cannot show whole
    shown = {}
    for layer in (ch1, ch2):
        box.set_value(layer)
        qtbot.wait(20)
        shown[layer.name] = box.grab().toImage()
        assert box.shown_text().endswith(layer.name[-12:])  # '_ch1_blurred', '_ch2_blurred'
        assert layer.name in box.toolTip()  # the tooltip names the layer chosen...
        assert "Image layer to deblur" in box.toolTip()  # ...and keeps what the box is for
    # what the closed box shows tells the two apart (cut at the right, they looked the same)
    assert shown[ch1.name] != shown[ch2.name]
    text = box.shown_text()
    assert text.startswith("2024-03-12_HeLa")
    assert "\N{HORIZONTAL ELLIPSIS}" in text
    assert box.fontMetrics().horizontalAdvance(text) < box.width()
    assert w.minimumSizeHint().width() <= DOCK_WIDTH  # the long name widens nothing
    # the list still names the layers whole
    assert [box.itemText(i) for i in range(box.count())][-2:] == [ch1.name, ch2.name]


def test_focus_qc_good_box_shows_the_end_of_the_sharp_layers_name(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1366, 768)
    viewer.open_sample(PLUGIN, "nuclei_pair")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Focus QC")
    good = w.good_combo
    good.set_value(viewer.layers["nuclei sharp (ground truth)"])
    good.setFixedWidth(good.minimumSizeHint().width())  # as narrow as the dock lets it be
    qtbot.wait(20)
    before = good.grab().toImage()
    viewer.layers["nuclei sharp (ground truth)"].name = "nuclei sharp (ground truth 2)"
    qtbot.wait(20)
    assert good.grab().toImage() != before  # a name's end shows: both read 'nuclei sharp (grounc'
    assert good.shown_text().endswith("truth 2)")
    assert good.shown_text().startswith("nuclei")


# ----------------------------------------------------------------------------- 3. Run in view

def test_run_stays_in_view_with_the_psf_ticked_on_a_1366_x_768_screen(make_napari_viewer,
                                                                         qtbot):
    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(1366, 768)
    viewer.open_sample(PLUGIN, "nuclei_pair")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    window.resize(1366, 768)
    body, view = w.scroll_area.widget(), w.scroll_area.viewport()
    w.use_psf_check.setChecked(True)
    w.psf_edit.setText("gaussian:1.6")
    qtbot.waitUntil(lambda: not w.psf_preview.busy and bool(w.psf_preview.description),
                    timeout=30_000)
    qtbot.wait(300)  # the layout settles

    def bottom(widget):  # in the scrolled content, wherever it is scrolled to
        return widget.mapTo(body, QPoint(0, widget.height())).y()

    assert w.psf_preview.isVisible() and w.psf_preview.image_label.pixmap() is not None
    assert "FWHM" in w.psf_preview.caption.text()
    seen = min(view.height(), LAPTOP_VIEW)
    assert bottom(w.run_button) <= seen, (bottom(w.run_button), view.height())  # was 775
    assert bottom(w.psf_preview) < bottom(w.run_button)  # the preview above it, in view too
    assert w.minimumSizeHint().width() <= DOCK_WIDTH


# ----------------------------------------------------------------------------- 4. Fine-tune

def test_fine_tune_dock_is_no_wider_than_the_others_in_any_regime(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "nuclei_pair")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    panel = w.regimes
    start = panel.start_combo
    longest = max(range(start.count()), key=lambda i: len(start.itemText(i)))
    widths = {"default": w.minimumSizeHint().width()}
    start.setCurrentIndex(longest)
    for regime in ("supervised", "gran_gan", "sgpn", "psf_cyclegan", "supervised"):
        panel.set_regime(regime)
        qtbot.wait(10)
        widths[regime] = w.minimumSizeHint().width()
    assert max(widths.values()) <= DOCK_WIDTH, widths  # 512, then 547 px
    assert widths["supervised"] == widths["default"]  # no wider once the Unpaired rows went
    # the entry is elided in the box, whole in the list and the tooltip
    assert start.itemText(longest) in start.toolTip()
    assert start.shown_text() != start.itemText(longest)
    assert start.shown_text().startswith(start.itemText(longest)[:8])


# ----------------------------------------------------------------------------- 5. keyboard

def _tab_chain(w, qtbot, start):
    """(widget, its vertical centre in the dock's content) for each Tab from ``start`` until
    the focus leaves the dock's content."""
    body = w.scroll_area.widget()
    start.setFocus(Qt.TabFocusReason)
    qtbot.waitUntil(lambda: _focused(w) is start, timeout=5_000)
    chain = []
    for _ in range(60):
        focused = _tab(w)
        if focused is None or not body.isAncestorOf(focused):
            return chain
        chain.append((focused, focused.mapTo(body, QPoint(0, focused.height() // 2)).y()))
    pytest.fail("Tab never left the Deblur dock")


def _name(widget) -> str:
    if isinstance(widget, QAbstractButton):
        return widget.text()
    return type(widget).__name__


def test_deblur_tab_order_follows_the_dock_top_to_bottom(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1366, 768)
    viewer.open_sample(PLUGIN, "nuclei_pair")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    for ticked in (False, True):  # unticked, the PSF's controls are greyed and skipped
        w.use_psf_check.setChecked(ticked)
        qtbot.wait(50)
        chain = _tab_chain(w, qtbot, w.layer_combo)
        ys = [y for _, y in chain]
        names = [_name(c) for c, _ in chain]
        # never back up (a row's widgets left to right share their centre within a few px)
        assert all(b >= a - 4 for a, b in zip(ys, ys[1:], strict=False)), list(zip(names, ys))
        assert chain[names.index("Load weights...") - 1][0] is w.method_combo  # Method
        assert "Run" in names
    assert names.index("PSF from beads...") == names.index("...") + 1
    assert names.index("Estimate PSF from image") == names.index("PSF from beads...") + 1


def test_return_on_the_focused_run_starts_a_run_and_focus_goes_to_cancel(make_napari_viewer,
                                                                          qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "nuclei_pair")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(viewer.layers["nuclei blurred (protocol A)"])
    w.set_method("wiener")  # quick
    w.psf_edit.setText("gaussian:1.6")
    w.psf_edit.setFocus(Qt.TabFocusReason)
    qtbot.waitUntil(lambda: _focused(w) is w.psf_edit, timeout=5_000)
    QTest.keyClick(w.psf_edit, Qt.Key_Return)  # Return in a field starts nothing
    qtbot.wait(50)
    assert w.last_run is None and w.run_button.isEnabled()
    w.run_button.setFocus(Qt.TabFocusReason)
    qtbot.waitUntil(lambda: _focused(w) is w.run_button, timeout=5_000)
    QTest.keyClick(w.run_button, Qt.Key_Return)
    run = w.last_run
    assert run is not None  # Return pressed Run, as Space does
    assert _focused(w) is w.cancel_button  # not Save result...: Return again stops it
    qtbot.waitUntil(lambda: run.done, timeout=60_000)
    assert run.layer is not None and run.layer in viewer.layers



def test_a_mouse_click_on_run_leaves_the_focus_where_it_was(make_napari_viewer, qtbot):
    """Review of 7ec9b1b: a click focused Run too, so the focus went to Cancel and napari's
    Space (pan) or a Return after clicking Run cancelled the run."""
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "nuclei_pair")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(viewer.layers["nuclei blurred (protocol A)"])
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.6")
    w.psf_edit.setFocus(Qt.TabFocusReason)
    qtbot.waitUntil(lambda: _focused(w) is w.psf_edit, timeout=5_000)
    QTest.mouseClick(w.run_button, Qt.LeftButton)
    run = w.last_run
    assert run is not None
    assert _focused(w) is not w.cancel_button and _focused(w) is not w.run_button
    qtbot.waitUntil(lambda: run.done, timeout=60_000)
    assert not run.cancelled and run.layer in viewer.layers


def test_a_large_psf_keeps_its_bright_core_in_the_small_preview():
    """Review of 7ec9b1b: shrunk to 40 px by picking pixels, a 129 px PSF of sigma 1.2 showed
    no pixel brighter than 152 of 255."""
    import numpy as np

    from napari_microdeblur._widgets._psf_preview import SIDE, pooled

    yy, xx = np.mgrid[-64:65, -64:65]
    image = (255 * np.exp(-(yy**2 + xx**2) / (2 * 1.2**2))).astype(np.uint8)
    small = pooled(image, SIDE)
    assert max(small.shape) <= SIDE and small.max() == 255
    assert pooled(image[:15, :15], SIDE).shape == (15, 15)  # a small PSF as it is
