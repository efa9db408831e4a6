"""Compare & QC speed (2026-12-09 walkthrough): a 4096 x 4096 trio took 15.8 s for its table,
memory rose 2.5 -> 5.3 GB, and unticking the border recomputed everything (9.3 s)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from napari_microdeblur.core import metrics

PLUGIN = "napari-microdeblur"


def wait_table(qtbot, w, timeout=60_000):
    with qtbot.waitSignal(w.table_updated, timeout=timeout) as blocker:
        pass
    return blocker.args[0]


def test_border_toggle_reuses_the_ssim_map(make_napari_viewer, qtbot, monkeypatch):
    rng = np.random.default_rng(3)
    truth = rng.random((160, 150)).astype(np.float32)
    viewer = make_napari_viewer()
    blurry = viewer.add_image(np.roll(truth, 1, 1), name="blurry")
    deblurred = viewer.add_image(np.clip(truth + 0.05, 0, 1), name="deblurred")
    gt = viewer.add_image(truth, name="ground truth")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Compare & QC")
    w.set_layers(blurry=blurry, deblurred=deblurred, truth=gt)
    # every SSIM computation builds its Gaussian window once: count those
    calls = []
    kernel = metrics._gauss_kernel
    monkeypatch.setattr(metrics, "_gauss_kernel", lambda dev: calls.append(1) or kernel(dev))
    w.schedule_update()
    first = wait_table(qtbot, w)
    computed = len(calls)
    assert computed >= 1
    w.border_check.setChecked(False)
    whole = wait_table(qtbot, w)
    assert len(calls) == computed, "unticking the border computed the SSIM map again"
    w.border_check.setChecked(True)
    again = wait_table(qtbot, w)
    assert len(calls) == computed and again == first
    for name, layer in (("deblurred", deblurred), ("blurry", blurry)):
        ref = metrics.evaluate(layer.data, truth, border=16)
        assert first[f"ssim_{name}"] == pytest.approx(ref["ssim"], rel=1e-9)
        assert whole[f"ssim_{name}"] == pytest.approx(ref["ssim_whole"], rel=1e-9)
        assert whole[f"psnr_{name}"] == pytest.approx(ref["psnr_whole"], rel=1e-12)


def _float64_ssim(x, y, border):
    """docs/evaluation.md's SSIM in float64 with scipy: the reference the float32 path meets."""
    from scipy.ndimage import gaussian_filter

    x, y = (a[border:a.shape[0] - border, border:a.shape[1] - border].astype(np.float64)
            for a in (x, y))

    def g(a):
        return gaussian_filter(a, 1.5, truncate=3.5, mode="reflect")

    ux, uy = g(x), g(y)
    vx, vy, vxy = g(x * x) - ux * ux, g(y * y) - uy * uy, g(x * y) - ux * uy
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s[5:-5, 5:-5].mean()


@pytest.mark.parametrize("shape", [(300, 257), (700, 1030)])
def test_banded_ssim_matches_float64_whole_and_border(shape):
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    truth = (0.5 + 0.4 * np.sin(yy / 17.0) * np.cos(xx / 23.0)).astype(np.float32)
    pred = np.clip(truth + 0.05 * rng.standard_normal(shape), 0, 1).astype(np.float32)
    got = metrics.evaluate(pred, truth, border=16)
    lo, hi = float(truth.min()), float(truth.max())
    p01, t01 = (pred - lo) / (hi - lo), (truth - lo) / (hi - lo)
    assert got["ssim"] == pytest.approx(_float64_ssim(p01, t01, 16), rel=1e-6)
    assert got["ssim_whole"] == pytest.approx(_float64_ssim(p01, t01, 0), rel=1e-6)


def test_evaluate_4096_holds_no_full_size_float64_copies():
    # old: float64 copies and float32 moment maps of the whole image (the dock went
    # 2.5 -> 5.3 GB on a 4096^2 trio); banded: the inputs plus a few MB
    code = """
import json, resource, numpy as np
from napari_microdeblur.core import metrics
rng = np.random.default_rng(0)
t = rng.random((4096, 4096), dtype=np.float32)
x = np.roll(t, 1, 1)
metrics.evaluate(x[:64, :64], t[:64, :64])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
metrics.evaluate(x, t)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps((after - before) / 1024))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300)
    grew_mb = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"grew {grew_mb:.0f} MB")
    assert grew_mb < 60, f"peak memory grew {grew_mb:.0f} MB evaluating a 4096^2 pair"
