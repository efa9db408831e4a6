"""Compare & QC (2026-12-11): the intensity-scale line shown is always that of the figures
shown, for a slice served from the cache too (a prefetched or revisited channel, a slice of a
whole-stack run), where it had kept the line of the channel last computed; and a compared
layer changed in place and refreshed (``layer.data[:] = ...; layer.refresh()``) is scored
again, where the table had kept the old figures, while a slider move back to a slice still
takes the cache and hiding / showing a layer or side by side recompute nothing. Driven in a
real viewer under Xvfb; tests wait on conditions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
    wait_idle,
)

TOPS = (900, 4000)  # each channel's maximum: the scale line names it
BORDER = 16


def smooth(shape, seed):
    rng = np.random.default_rng(seed)
    b = gaussian_filter(rng.random(shape), 2)
    return (b - b.min()) / (b.max() - b.min())


def channel_pair():
    """uint16 (truth, deblurred) C Y X, channel c of the truth up to TOPS[c]."""
    truth = np.stack([np.round(50 + (top - 50) * smooth((64, 64), c))
                      for c, top in enumerate(TOPS)]).astype(np.uint16)
    noise = np.random.default_rng(7).normal(0, 40, truth.shape)
    return truth, np.clip(truth + noise, 0, None).round().astype(np.uint16)


def channel_psnr(truth, deblurred, c):
    """evaluate's figure of channel c: on the channel's own range (its maximum), no border."""
    crop = (c, slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    return peak_signal_noise_ratio(truth[crop] / TOPS[c], deblurred[crop] / TOPS[c],
                                   data_range=1)


def open_channels(viewer):
    truth, deblurred = channel_pair()
    g = viewer.add_image(truth, name="gt", axis_labels=("c", "y", "x"))
    d = viewer.add_image(deblurred, name="deb", axis_labels=("c", "y", "x"))
    w = dock(viewer, "Compare & QC")
    w.set_layers(deblurred=d, truth=g)
    return w, truth, deblurred


def show_channel(qtbot, viewer, w, c, psnr):
    """Move C to ``c`` and wait for the table to show that channel's figures."""
    w.last_result = None
    viewer.dims.set_current_step(0, c)
    qtbot.waitUntil(lambda: w.last_result is not None
                    and abs(w.last_result["psnr_deblurred"] - psnr) < 1e-3, timeout=TIMEOUT)


def line_is_of(w, c) -> bool:
    text = w.scale_label.text()
    return f"channel C {c}" in text and f"maximum ({TOPS[c]})" in text


@pytest.mark.parametrize("prefetch", [True, False], ids=["prefetch", "no prefetch"])
def test_the_scale_line_is_that_of_the_channel_shown(make_napari_viewer, qtbot, prefetch):
    """C 0, 1, 0, 1: each time the figures of the channel and the line naming its maximum (the
    second visits come from the cache; with prefetch the first of C 1 too)."""
    viewer = make_napari_viewer()
    w, truth, deblurred = open_channels(viewer)
    w.prefetch = prefetch
    psnr = [channel_psnr(truth, deblurred, c) for c in (0, 1)]
    assert abs(psnr[0] - psnr[1]) > 3  # the table tells the channels apart
    for c in (0, 1, 0, 1):
        show_channel(qtbot, viewer, w, c, psnr[c])
        assert line_is_of(w, c), (c, w.scale_label.text())


def test_a_slice_of_a_whole_stack_run_shows_its_line(make_napari_viewer, qtbot):
    """Whole stack along C on C 0, then the slider to C 1: its figures, from the run's cache,
    with the line of C 1."""
    viewer = make_napari_viewer()
    w, truth, deblurred = open_channels(viewer)
    w.prefetch = False
    show_channel(qtbot, viewer, w, 0, channel_psnr(truth, deblurred, 0))
    w.compute_stack()
    qtbot.waitUntil(lambda: w.stack_results is not None, timeout=TIMEOUT)
    wait_idle(qtbot, w)
    calls = count_metrics(w)
    show_channel(qtbot, viewer, w, 1, channel_psnr(truth, deblurred, 1))
    wait_idle(qtbot, w)
    assert calls == [0]  # served from the run's cache, not computed again
    assert line_is_of(w, 1), w.scale_label.text()


class CountingMetrics:
    """The dock's ``plane_metrics`` module, counting the slices it scores."""

    def __init__(self, module, calls):
        self._module, self._calls = module, calls

    def __getattr__(self, name):
        return getattr(self._module, name)

    def iter_plane_metrics_borders(self, *args, **kwargs):
        self._calls[0] += 1
        return self._module.iter_plane_metrics_borders(*args, **kwargs)


def count_metrics(w) -> list:
    calls = [0]
    w._plane_metrics = CountingMetrics(w._plane_metrics, calls)
    return calls


def stack_pair():
    """float32 (truth, deblurred) Z Y X."""
    truth = np.stack([smooth((64, 64), z) for z in range(3)]).astype(np.float32)
    noise = np.random.default_rng(5).normal(0, 0.05, truth.shape)
    return truth, (truth + noise).astype(np.float32)


def settle(qtbot, w):
    """Let queued events run (a refresh schedules the table a turn later), then the workers."""
    qtbot.wait(50)
    qtbot.waitUntil(lambda: not w._timer.isActive(), timeout=TIMEOUT)
    wait_idle(qtbot, w)


def test_refresh_scores_again_and_slider_moves_keep_the_cache(make_napari_viewer, qtbot):
    """Z 0, 1, back to 0: two slices scored. Hiding and showing the deblurred layer and side
    by side score nothing. ``d.data[:] = truth; d.refresh()``: Z 0 scored again (inf, 1.0),
    and Z 1, cached before the change, too."""
    truth, deblurred = stack_pair()
    viewer = make_napari_viewer()
    g = viewer.add_image(truth, name="gt")
    d = viewer.add_image(deblurred, name="deb")
    w = dock(viewer, "Compare & QC")
    w.prefetch = False
    calls = count_metrics(w)
    w.set_layers(deblurred=d, truth=g)
    for z, scored in ((0, 1), (1, 2), (0, 2)):
        w.last_result = None
        viewer.dims.set_current_step(0, z)
        qtbot.waitUntil(lambda: w.last_result is not None, timeout=TIMEOUT)
        settle(qtbot, w)
        assert calls == [scored], z
    before = dict(w.last_result)
    assert np.isfinite(before["psnr_deblurred"])
    d.visible = False
    d.visible = True
    w.set_side_by_side(True)
    w.set_side_by_side(False)
    settle(qtbot, w)
    assert calls == [2] and w.last_result == before
    d.data[:] = truth  # in place: the same array
    d.refresh()
    qtbot.waitUntil(lambda: np.isinf(w.last_result["psnr_deblurred"])
                    and w.last_result["ssim_deblurred"] == 1.0, timeout=TIMEOUT)
    settle(qtbot, w)
    assert calls == [3]
    w.last_result = None
    viewer.dims.set_current_step(0, 1)
    qtbot.waitUntil(lambda: w.last_result is not None, timeout=TIMEOUT)
    assert np.isinf(w.last_result["psnr_deblurred"])
    settle(qtbot, w)
    assert calls == [4]


def test_a_ground_truth_refreshed_in_place_gets_its_new_scale(make_napari_viewer, qtbot):
    """A uint16 truth (maximum 4000) halved in place and refreshed: the line says its new
    maximum (2000), and the figures are those on it."""
    truth, deblurred = channel_pair()
    truth, deblurred = truth[1], deblurred[1]
    viewer = make_napari_viewer()
    g = viewer.add_image(truth, name="gt")
    d = viewer.add_image(deblurred, name="deb")
    w = dock(viewer, "Compare & QC")
    w.set_layers(deblurred=d, truth=g)
    qtbot.waitUntil(lambda: w.last_result is not None and "(4000)" in w.scale_label.text(),
                    timeout=TIMEOUT)
    g.data[:] = truth // 2
    g.refresh()
    crop = (slice(BORDER, -BORDER),) * 2
    want = peak_signal_noise_ratio(g.data[crop] / 2000, deblurred[crop] / 2000, data_range=1)
    qtbot.waitUntil(lambda: "(2000)" in w.scale_label.text()
                    and abs(w.last_result["psnr_deblurred"] - want) < 1e-3, timeout=TIMEOUT)
