"""Stopping mid-work, from a walkthrough (2026-12-09).

Closing the viewer while Compare & QC computed a slice's SSIM aborted the process ('wrapped
C/C++ object of type GeneratorWorkerSignals has been deleted', then Qt's abort): the
interpreter's exit deleted the worker's signals object under the running thread. And a
`microdeblur deblur` ended by SIGTERM (`timeout`, SLURM) left its hidden partial output (432 MB
for a 6k image): only Ctrl-C ran the cleanup. Both are driven in a subprocess, which an abort or
a signal ends, with a monkeypatched slow step so that the moment is not left to chance.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

import napari_microdeblur

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms


def _env() -> dict:
    """The environment of a child that imports this same copy of the package."""
    src = str(Path(napari_microdeblur.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1")


# slice metrics whose SSIM part takes SLOW_S seconds without a yield, as a large plane's does
SLOW_METRICS = """
import sys, threading, time
from napari_microdeblur.core import plane_metrics
computing = threading.Event()
original = plane_metrics.iter_plane_metrics_borders
def slow(*args, **kwargs):
    results = yield from original(*args, **kwargs)
    computing.set()
    time.sleep(SLOW_S)
    return results
plane_metrics.iter_plane_metrics_borders = slow
"""

CLOSE_VIEWER = SLOW_METRICS.replace("SLOW_S", "3.0") + """
import numpy as np, napari
from qtpy.QtWidgets import QApplication
from napari_microdeblur._widgets._compare import CompareWidget
rng = np.random.default_rng(0)
truth = rng.random((96, 96)).astype(np.float32)
viewer = napari.Viewer(show=False)
layers = [viewer.add_image(a, name=n) for a, n in
          ((np.roll(truth, 1, 1), "blurry"), (np.clip(truth + 0.05, 0, 1), "deblurred"),
           (truth, "ground truth"))]
dock = CompareWidget(viewer)
viewer.window.add_dock_widget(dock)
dock.set_layers(*layers)
dock.schedule_update()
deadline = time.monotonic() + 60
while not computing.is_set() and time.monotonic() < deadline:
    QApplication.processEvents()
    time.sleep(0.01)
print("computing at close:", computing.is_set() and dock.busy, flush=True)
viewer.close()
print("closed", flush=True)
"""


def test_closing_the_viewer_mid_compute_ends_the_process_cleanly():
    proc = subprocess.run([sys.executable, "-c", CLOSE_VIEWER], env=_env(), capture_output=True,
                          text=True, timeout=180)
    out, err = proc.stdout, proc.stderr
    assert "computing at close: True" in out, out + err  # the worker was mid-SSIM
    assert "closed" in out, out + err
    assert proc.returncode == 0, f"exit code {proc.returncode}:\n{err[-2000:]}"
    assert "has been deleted" not in err and "Aborted" not in err, err[-2000:]


def test_closing_the_dock_mid_compute_keeps_its_worker_signals_then_frees_them(
        make_napari_viewer, qtbot, monkeypatch):
    """The dock alone closed (the process goes on): the running worker's signals object is
    held by Qt while the worker runs, and handed back to Python once it has finished."""
    import gc
    import threading
    import weakref

    from qtpy.QtCore import QCoreApplication, QEvent

    from napari_microdeblur.core import plane_metrics

    sip = pytest.importorskip("qtpy.sip", reason="PyQt's ownership of Qt objects")

    computing, release = threading.Event(), threading.Event()
    original = plane_metrics.iter_plane_metrics_borders

    def slow(*args, **kwargs):
        results = yield from original(*args, **kwargs)
        computing.set()
        release.wait(30)
        return results

    monkeypatch.setattr(plane_metrics, "iter_plane_metrics_borders", slow)
    rng = np.random.default_rng(1)
    truth = rng.random((80, 80)).astype(np.float32)
    viewer = make_napari_viewer()
    blurry = viewer.add_image(np.roll(truth, 1, 1), name="blurry")
    gt = viewer.add_image(truth, name="ground truth")
    dock_widget, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Compare & QC")
    w.set_layers(blurry=blurry, truth=gt)
    w.schedule_update()
    try:
        qtbot.waitUntil(computing.is_set, timeout=TIMEOUT)
        worker = next(wk for wk in w._workers if wk.is_running)
        signals = worker.signals
        viewer.window.remove_dock_widget(dock_widget)
        assert w.closed and worker.abort_requested
        assert not sip.ispyowned(signals), "a running worker's signals were left to Python"
    finally:
        release.set()  # the worker ends, whatever failed
    qtbot.waitUntil(lambda: not worker.is_running and sip.ispyowned(signals), timeout=TIMEOUT)
    ref = weakref.ref(w)
    del w, dock_widget
    for _ in range(50):  # Qt's deferred deletes, then Python's collection
        QCoreApplication.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()
        if ref() is None:
            break
        qtbot.wait(20)
    assert ref() is None, "the closed dock was kept alive"


# In process: a child process sent SIGTERM mid-write exited 0, its write finished, once in
# each of two clean-clone CI runs (and its SIGINT twin once), never in reruns; not explained
# (see the closing note of 2026-12-05), so the mechanism is tested here without the race.
@pytest.mark.skipif(os.name != "posix", reason="SIGTERM is sent so on POSIX only")
def test_sigterm_mid_run_cleans_up_as_ctrl_c_and_exits_143(tmp_path, monkeypatch, capsys):
    from napari_microdeblur import cli
    from napari_microdeblur.core import io_write

    src, out = tmp_path / "in.tif", tmp_path / "out.tif"
    tifffile.imwrite(src, np.random.default_rng(2).random((64, 64)).astype(np.float32))
    original = io_write.TiffWriteArray.__setitem__

    def terminated_mid_write(self, key, value):  # the partial output is open here
        assert any(p.name.endswith(".partial") for p in tmp_path.iterdir())
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises within the sleep
        original(self, key, value)

    monkeypatch.setattr(io_write.TiffWriteArray, "__setitem__", terminated_mid_write)

    def not_the_cli(signum, frame):  # SIGTERM not taken by the run: a failure, not a kill
        raise RuntimeError("the run installed no SIGTERM handler")

    before = signal.signal(signal.SIGTERM, not_the_cli)
    try:
        code = cli.main(["deblur", str(src), "-o", str(out), "--method", "richardson_lucy",
                         "--psf", "gaussian:1.5", "--iterations", "2", "--device", "cpu",
                         "-q"])
        assert signal.getsignal(signal.SIGTERM) is not_the_cli  # the run's handler undone
    finally:
        signal.signal(signal.SIGTERM, before)
    assert code == 143
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "microdeblur: stopped by SIGTERM; no partial output was left")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]
