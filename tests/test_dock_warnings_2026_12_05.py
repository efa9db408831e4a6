"""Warnings a dock's run raises reach the user, from a walkthrough: a Deblur dock run on a
JPEG-compressed H&E crop raised the PSF estimate's warning (with its note on JPEG's 8x8
blocks) in its worker, and napari 0.9.2 relays no worker's warnings (its notifying mixin's
``__init__`` never runs), so the dock showed none: no notification, nothing in its status
line. Also: saving a float32 RGB layer as .tif says what the command line says (most viewers
cannot open it). GUI tests run in a real viewer under Xvfb."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms
# the tile shrinks RL gaussian:1.6's overlap: one line says the seams and the work
TILE_WORDS = "a tile of 32 px leaves room for an overlap of"


@pytest.fixture
def notes():
    """The warning notifications napari records during the test."""
    from napari.utils.notifications import notification_manager

    start = len(notification_manager.records)
    return lambda: [str(n.message) for n in notification_manager.records[start:]
                    if str(n.severity).lower() == "warning"]


def deblur_dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    return widget


def small_tile_run(w):
    """Richardson-Lucy with a 32-px tile on a 128-px image: the core warns that the tile
    leaves seams and makes several times the work of the method's default tile."""
    w.set_method("richardson_lucy")
    w.psf_edit.setText("gaussian:1.6")  # the box starts empty
    w.iterations_spin.setValue(3)
    w.tile_mode.setCurrentText("custom")
    w.tile_spin.setValue(32)
    return w.run()


def test_deblur_dock_run_warning_is_notified_and_in_its_status_line(make_napari_viewer, qtbot,
                                                                    fluo_u8, notes):
    viewer = make_napari_viewer()
    viewer.add_image(fluo_u8, name="nuclei")
    w = deblur_dock(viewer)
    run = small_tile_run(w)
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.layer is not None
    assert any(TILE_WORDS in m for m in notes()), notes()
    status = w.status_label.text()
    assert status.startswith("added ") and "; warned: " + TILE_WORDS in status, status
    assert status.count(TILE_WORDS) == 1  # once, though every tile runs the same plan
    assert [line for line in run.warnings if TILE_WORDS in line] == \
        [next(m for m in notes() if TILE_WORDS in m).splitlines()[0]]
    again = w.run()  # the same run again says it again (a warning is not shown once only)
    qtbot.waitUntil(lambda: again.done, timeout=TIMEOUT)
    assert "; warned: " + TILE_WORDS in w.status_label.text()


def test_a_deblur_run_of_any_dock_passes_its_warnings_on(make_napari_viewer, qtbot, fluo_u8,
                                                         notes):
    """Focus QC and Fine-tune's preview run their jobs through the same DeblurRun: a job that
    warns (twice the same, once another) gives two notifications and two lines."""
    from napari_microdeblur._widgets._jobs import DeblurRun

    def job(req):
        warnings.warn("first thing to know\nits detail", UserWarning, stacklevel=1)
        warnings.warn("first thing to know\nits detail", UserWarning, stacklevel=1)
        warnings.warn("second thing", UserWarning, stacklevel=1)
        yield from ()
        return None

    viewer = make_napari_viewer()
    viewer.add_image(fluo_u8, name="nuclei")
    req = deblur_dock(viewer).build_request()
    run = DeblurRun(viewer, req, job=job, layer=None).start()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.warnings == ["first thing to know", "second thing"]
    assert notes() == ["first thing to know\nits detail", "second thing"]


def test_a_docks_other_workers_pass_their_warnings_on(make_napari_viewer, qtbot, notes):
    """start_worker (the Fine-tune dock's training, Focus QC's scoring, ...)."""
    from napari_microdeblur._widgets._workers import start_worker

    def warn_once():
        warnings.warn("a note from the worker", UserWarning, stacklevel=1)
        return 1

    viewer = make_napari_viewer()
    w = deblur_dock(viewer)
    got = []
    start_worker(w, warn_once, returned=got.append)
    qtbot.waitUntil(lambda: bool(got) and not w.busy, timeout=TIMEOUT)
    qtbot.wait(20)
    assert notes() == ["a note from the worker"]


def fake_run(warned, fallback=""):
    """What ``warnings_note`` reads of a finished DeblurRun (no PSF-aware network ran)."""
    outcome = SimpleNamespace(fallback=fallback, result=SimpleNamespace(parameters={}),
                              label="richardson_lucy")
    req = SimpleNamespace(method=SimpleNamespace(psf=None))
    return SimpleNamespace(warnings=warned, outcome=outcome, req=req)


def test_status_note_leaves_out_what_the_done_line_says_already():
    from napari_microdeblur._widgets._run_status import warnings_note

    why = "no PSF estimate from the image: auto ran the blind network"
    assert warnings_note(fake_run([why, "other"], fallback=why)) == "; warned: other"
    assert warnings_note(fake_run(["a", "b"])) == "; warned: a | b"
    assert warnings_note(fake_run([])) == ""


def test_saving_float32_rgb_as_tif_says_viewers_cannot_open_it(tmp_path, notes):
    from napari_microdeblur._writer import write_image_layer

    rgb = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    meta = {"name": "slide deblurred", "rgb": True, "scale": (1.0, 1.0),
            "translate": (0.0, 0.0), "metadata": {}}
    with pytest.warns(UserWarning, match="many viewers cannot open.*Output dtype 'as input'"):
        write_image_layer(str(tmp_path / "out.tif"), rgb, meta)
    assert any("float32 TIFF, which many viewers cannot open" in m for m in notes())
    # 8-bit RGB (Output dtype 'as input') opens everywhere: nothing said
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_image_layer(str(tmp_path / "u8.tif"), (rgb * 255).astype(np.uint8), meta)


def test_the_focus_dock_says_its_runs_warnings_in_its_status_line(make_napari_viewer, qtbot,
                                                                  fluo_u8):
    """Focus QC's deblur of the soft tiles: Wiener with balance 'auto' says the balance it
    found on the image (a warning line in the worker); the status line ends with it."""
    viewer = make_napari_viewer()
    viewer.add_image(fluo_u8, name="nuclei")
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Focus QC")
    w.tile_spin.setValue(32)
    worker = w.score()
    assert worker is not None
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)
    w.set_threshold(1e9)  # every tile with structure
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:4")
    run = w.run()
    assert run is not None, w.status_label.text()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.layer is not None, w.status_label.text()
    status = w.status_label.text()
    assert "; warned: wiener: balance" in status, status
