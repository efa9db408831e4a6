"""Compare & QC on planes under SSIM's 11 x 11 window (2026-12-28), in a real viewer under Xvfb.

``microdeblur evaluate`` scores an image under 11 px on a side with PSNR alone (SSIM n/a) and
narrows its default border to one that fits (commit 725471b); the dock still showed no figures
for an 8 x 1024 strip, ticked or not: "the slice is 8 x 1024 pixels, smaller than SSIM's
11 x 11 window; ...", and Whole stack raised the same as an error notification. Now the dock
shows the PSNR evaluate gives (the 'exclude 16-px border' tick narrowed to evaluate's 3 px),
SSIM n/a with the reason; a side that looks like channels keeps the Y/X hint, and planes of
11 px or more are scored, or refused, as before.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from napari_microdeblur.core.metrics import evaluate
from napari_microdeblur.core.metrics_axes import fitting_border
from napari_microdeblur.core.plane_metrics import MIN_SIDE, iter_plane_metrics_borders
from napari_microdeblur.core.progress import drive

TIMEOUT = 60_000  # ms


def strip_pair(shape, seed=0):
    """(truth, blurred, deblurred) uint16 images of ``shape``: the truth blurred, and a
    'deblurred' one between the two."""
    rng = np.random.default_rng(seed)
    truth = gaussian_filter(rng.random(shape) * 3000.0, 1.0) + 100.0
    blurred = gaussian_filter(truth, 2.0) + rng.normal(0, 20, shape)
    deblurred = 0.6 * truth + 0.4 * blurred
    return tuple(np.clip(a, 0, 65535).astype(np.uint16) for a in (truth, blurred, deblurred))


def compare_dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Compare & QC")
    return widget


def strip_dock(make_napari_viewer, shape=(8, 1024)):
    """(dock, its blurred, deblurred and truth images) for a strip of ``shape`` in a viewer."""
    truth, blurred, deblurred = strip_pair(shape)
    viewer = make_napari_viewer()
    layers = [viewer.add_image(image, name=f"strip {name}") for image, name in
              ((blurred, "blurred"), (deblurred, "deblurred"), (truth, "truth"))]
    w = compare_dock(viewer)
    w.set_layers(*layers)
    return w, blurred, deblurred, truth


def shown(qtbot, w, *, tick: bool) -> dict:
    """The complete result the dock shows with the border tick at ``tick``."""
    w.last_result = None
    w.border_check.setChecked(tick)
    w.schedule_update()
    qtbot.waitUntil(lambda: w.last_result is not None, timeout=TIMEOUT)
    return w.last_result


def cells(w) -> list:
    return [[w.table.item(r, c).text() for c in range(2)] for r in range(3)]


# ----------------------------------------------------------------------------- core


def test_a_plane_under_ssims_window_is_scored_with_psnr_alone_as_evaluate_scores_it():
    truth, blurred, deblurred = strip_pair((8, 1024))
    got = drive(iter_plane_metrics_borders(
        {"truth": truth, "blurry": blurred, "deblurred": deblurred},
        (0.0, float(truth.max())), borders=(3, 0)))
    for border in (3, 0):
        cli = evaluate(deblurred, truth, border=border)  # what microdeblur evaluate prints
        assert got[border]["psnr_deblurred"] == pytest.approx(cli["psnr"], abs=1e-6)
        assert got[border]["psnr_blurry"] < got[border]["psnr_deblurred"]
        assert got[border]["ssim_deblurred"] is None and got[border]["ssim_blurry"] is None
        assert cli["ssim"] is None
        assert "8 x 1024" in got[border]["ssim_na"] and "n/a" in got[border]["ssim_na"]


def test_the_tick_narrows_as_evaluate_narrows_its_default_border_on_thin_planes_only():
    from napari_microdeblur.core.plane_metrics import small_plane_border

    for ny, nx in ((8, 1024), (1, 2000), (3, 2000), (6, 6)):
        assert small_plane_border(ny, nx, 16) == fitting_border(ny, nx, 16, MIN_SIDE)
    assert small_plane_border(8, 1024, 16) == 3 and small_plane_border(1, 2000, 16) == 0
    # 11 px or more: the border as asked (one too wide is refused, as before)
    assert small_plane_border(64, 64, 16) == 16 and small_plane_border(20, 1024, 16) == 16


# ----------------------------------------------------------------------------- the dock


def test_the_dock_shows_an_8_px_strip_s_psnr_and_ssim_n_a_ticked_or_not(
        make_napari_viewer, qtbot):
    from napari.utils.notifications import notification_manager

    w, blurred, deblurred, truth = strip_dock(make_napari_viewer)
    for tick, border in ((True, 3), (False, 0)):
        result = shown(qtbot, w, tick=tick)
        cli = evaluate(deblurred, truth, border=border)
        assert result["psnr_deblurred"] == pytest.approx(cli["psnr"], abs=1e-6)
        assert result["psnr_blurry"] == pytest.approx(
            evaluate(blurred, truth, border=border)["psnr"], abs=1e-6)
        table = cells(w)
        assert table[1] == [f"{cli['psnr']:.2f}", "n/a"]
        assert [row[1] for row in table] == ["n/a"] * 3 and table[2][0].startswith("+")
        assert "11 x 11" in w.table.item(1, 1).toolTip()
        assert "SSIM n/a" in w.message_label.text() and "8 x 1024" in w.message_label.text()
    assert "border" not in w.slice_label.text()  # unticked: none excluded
    shown(qtbot, w, tick=True)
    label = w.slice_label.text()
    assert "3-px border excluded" in label and "16-px border does not fit" in label
    start = len(notification_manager.records)
    w.stack_results = None
    assert w.compute_stack() is not None
    qtbot.waitUntil(lambda: w.stack_results is not None, timeout=TIMEOUT)
    assert "SSIM n/a" in w.summary_label.text()
    assert not [n for n in notification_manager.records[start:] if "Whole stack" in
                str(n.message)]


def test_whole_stack_of_thin_planes_scores_each_as_evaluate_does(make_napari_viewer, qtbot):
    truth, blurred, deblurred = strip_pair((5, 8, 256), seed=1)
    viewer = make_napari_viewer()
    d = viewer.add_image(deblurred, name="strips deblurred")
    g = viewer.add_image(truth, name="strips truth")
    w = compare_dock(viewer)
    w.set_layers(None, d, g)
    w.border_check.setChecked(True)
    assert w.compute_stack() is not None
    qtbot.waitUntil(lambda: w.stack_results is not None, timeout=TIMEOUT)
    cli = evaluate(deblurred, truth, border=3, axes="ZYX")
    assert [r["psnr_deblurred"] for r in w.stack_results] == pytest.approx(
        cli["psnr_per_slice"], abs=1e-6)
    assert all(r["ssim_deblurred"] is None for r in w.stack_results)
    assert "SSIM n/a" in w.summary_label.text() and "deblurred: PSNR" in w.summary_label.text()


def test_a_thin_side_that_looks_like_channels_keeps_the_y_x_hint(make_napari_viewer, qtbot):
    """A (64, 3, 64) array: napari shows 3 x 64 'planes' of what is most likely channels."""
    rng = np.random.default_rng(2)
    truth = rng.random((64, 3, 64)).astype(np.float32)
    viewer = make_napari_viewer()
    d = viewer.add_image(truth * 0.9 + 0.05, name="deblurred", rgb=False)
    g = viewer.add_image(truth, name="truth", rgb=False)
    w = compare_dock(viewer)
    w.set_layers(None, d, g)
    w.schedule_update()
    hint = "check that Y and X are the image's last two axes"
    qtbot.waitUntil(lambda: hint in w.message_label.text(), timeout=TIMEOUT)
    assert w.last_result is None and cells(w)[1] == ["", ""]
    assert w.compute_stack() is None and hint in w.message_label.text()


def test_planes_of_11_px_or_more_are_scored_and_refused_as_before(make_napari_viewer, qtbot):
    truth, _, deblurred = strip_pair((20, 256), seed=3)
    viewer = make_napari_viewer()
    d = viewer.add_image(deblurred, name="deblurred")
    g = viewer.add_image(truth, name="truth")
    w = compare_dock(viewer)
    w.set_layers(None, d, g)
    w.border_check.setChecked(True)
    w.schedule_update()
    qtbot.waitUntil(lambda: "too small to exclude a 16-pixel border" in
                    w.message_label.text(), timeout=TIMEOUT)
    result = shown(qtbot, w, tick=False)
    cli = evaluate(deblurred, truth, border=0)
    assert result["ssim_deblurred"] == pytest.approx(cli["ssim"], abs=1e-6)
    assert "ssim_na" not in result and "n/a" not in str(cells(w))
    assert w.message_label.text() == ""


def test_the_dock_modules_import_no_torch():
    code = ("import sys; import napari_microdeblur._widgets._compare, "
            "napari_microdeblur._widgets._compare_small; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_a_region_across_a_thin_strip_is_scored_with_psnr_alone(make_napari_viewer, qtbot):
    """A rectangle on an 8 px strip was refused: 'enlarge the rectangle', which the strip
    does not allow. A region spanning the thin side is scored with PSNR alone; one that could
    be taller is still refused with that advice."""
    from napari_microdeblur.core.metrics import psnr

    w, _, deblurred, truth = strip_dock(make_napari_viewer)
    region = w.add_region()
    region.data = [np.array([[0, 100], [0, 400], [8, 400], [8, 100]], dtype=float)]
    w.border_check.setChecked(False)
    w.last_result = None
    w.schedule_update()
    qtbot.waitUntil(lambda: w.last_result is not None, timeout=TIMEOUT)
    crop = (slice(0, 8), slice(100, 400))
    scale = float(truth.max())
    expected = psnr(deblurred[crop] / scale, truth[crop] / scale, data_range=1.0)
    assert w.last_result["psnr_deblurred"] == pytest.approx(expected, abs=0.05)
    assert cells(w)[1][1] == "n/a"
    region.data = [np.array([[0, 100], [0, 105], [8, 105], [8, 100]], dtype=float)]
    qtbot.waitUntil(lambda: "enlarge the rectangle" in w.message_label.text(), timeout=TIMEOUT)
