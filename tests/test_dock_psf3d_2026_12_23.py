"""3D PSFs in the Deblur dock (walkthrough of 2026-12-23):

1. an optics PSF is computed one plane per psfmodels call (each call holds the GIL: 63 planes
   in one froze the dock 10 s while its worker computed them), and Run's PSF check, which
   computed the model at the stack's depth on the GUI thread, runs in the preview's worker;
2. 'auto' on one plane of a stack with a 3D PSF takes its in-focus plane, fitted in Y and X
   only, as on the same plane as a 2D image (it cut one plane at the centroid, its wings at
   1e-3 of the 3D peak: 2% of the max off);
3. an optics model deeper than the stack is previewed as 'auto' runs it, at the stack's depth;
4. the image-type line says by which rule 'auto' goes 3D or not, with its numbers.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from test_modality import V1, tiny_weights

from napari_microdeblur.core import bundled
from napari_microdeblur.core.method import MethodSpec, PsfArray
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms
# one Z step and pixel of the stacks below, as the optics models state them
SCALE = (0.3, 0.1, 0.1)
# ~1-2 s to compute, more planes than a 12-plane stack: 'auto' computes it again with nz=11
HEAVY = "widefield:na=1.4,wavelength=0.52,nz=19,ni=1.515,ns=1.33,depth=9.7,pixel=0.1,dz=0.3"
DEEP = "widefield:na=0.8,wavelength=0.52,nz=41,pixel=0.1,dz=0.3"  # 0.2 s, 41 x 73 x 73 px
CONFOCAL = ("confocal:na=1.35,wavelength=0.56,excitation_wavelength=0.488,pinhole=1,nz=19,"
            "pixel=0.1,dz=0.3")  # 41 % of its light in focus


@pytest.fixture
def tiny_bundled(monkeypatch, tmp_path):
    """The v1 names and the PSF-aware name as tiny random networks."""
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", tmp_path)
    table = {name: tiny_weights(name, tmp_path) for name in (*V1, DEFAULT_PSF_AWARE)}
    monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS", table)
    return table


def stack(planes: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (100 + 50 * rng.random((planes, 96, 96))).astype(np.float32)


def open_dock(make_napari_viewer, image):
    viewer = make_napari_viewer()
    layer = viewer.add_image(image, name="cells", scale=SCALE)
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    w.scope_combo.setCurrentText("whole stack")
    w.use_psf_check.setChecked(True)
    return viewer, w


def show_psf(qtbot, w, text: str) -> None:
    w.psf_edit.setText(text)
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)


class Pauses:
    """The longest pause of the GUI event loop, seen by a 5 ms QTimer (as the walkthrough's
    gui_common.py measured it)."""

    def __init__(self) -> None:
        from qtpy.QtCore import QTimer

        self.last, self.longest = time.perf_counter(), 0.0
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest, self.last = max(self.longest, now - self.last), now


# ------------------------------------------------------------------ 1. no freeze


def test_an_optics_psf_is_computed_one_plane_per_call_and_bit_identical(monkeypatch):
    import psfmodels

    from napari_microdeblur.core import optics

    p = optics._optics(1.4, {"wavelength": 0.52}, 0.1, 1.515, 1.33, 5.0, 0.0)
    z = list(5.0 + (np.arange(7) - 3) * 0.3)
    whole = psfmodels.make_psf(z, 33, dxy=0.1, pz=5.0, NA=1.4, wvl=0.52, ns=1.33, ni=1.515,
                               ni0=1.515, normalize=False, model="vectorial",
                               oversample_factor=3)
    calls = []
    make = psfmodels.make_psf
    monkeypatch.setattr(psfmodels, "make_psf",
                        lambda zv, *a, **k: calls.append(len(zv)) or make(zv, *a, **k))
    planes = optics._emission(p, z, 33, 0.52)
    assert calls == [1] * 7  # the GIL is released between planes
    np.testing.assert_array_equal(planes, whole)


def test_model_at_stack_depth_reads_the_model_text_without_computing_it(monkeypatch):
    from napari_microdeblur.core import optics
    from napari_microdeblur.core.psf_fit import model_at_stack_depth

    def refuse(*args, **kwargs):
        raise AssertionError("computed the PSF model (on the dock's GUI thread)")

    monkeypatch.setattr(optics, "widefield_psf", refuse)
    spec = MethodSpec("auto", psf=DEEP.replace("nz=41", "nz=43"))
    assert model_at_stack_depth(spec, "ZYX", (12, 48, 48)) == DEEP.replace("nz=41", "nz=11")
    assert model_at_stack_depth(spec, "ZYX", (50, 48, 48)) is None  # not deeper


def test_the_dock_stays_responsive_while_a_heavy_optics_psf_is_previewed(
        make_napari_viewer, qtbot, tiny_bundled):
    from napari_microdeblur.core import psf

    psf._optics_psf.cache_clear()  # computed here, not found in the cache
    viewer, w = open_dock(make_napari_viewer, stack(12))
    show_psf(qtbot, w, "widefield:na=0.8,wavelength=0.52,nz=5,pixel=0.1,dz=0.3")  # quick
    assert w.psf_preview.error is None, w.psf_preview.error
    pauses = Pauses()
    started = time.perf_counter()
    show_psf(qtbot, w, HEAVY)  # typed after a PSF shown: the dock asked 'auto' in 3D at once
    took = time.perf_counter() - started
    pauses.timer.stop()
    # the GUI froze 1-2 s (one psfmodels call, then the stack-depth model on its thread)
    assert pauses.longest < 0.5, (pauses.longest, took)
    assert w.psf_preview.error is None, w.psf_preview.error
    assert "nz=11" in w.psf_preview.caption.text()  # the model at the stack's depth, too


# ------------------------------------------------------------------ 2. one plane


def test_a_3d_psf_on_one_plane_of_a_stack_is_fitted_in_y_and_x_only():
    from napari_microdeblur.core.optics import widefield_psf
    from napari_microdeblur.core.psf_fit import fit_psf_to_image_of

    kernel = widefield_psf(0.8, 0.52, 0.1, nz=15, dz=0.3)  # 15 x 41 x 41, wings to the edge
    spec = MethodSpec("auto", psf=PsfArray.from_array(kernel))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # it warned: cut to (1, 33, 33), 6.7 % kept
        assert fit_psf_to_image_of(spec, "ZYX", (1, 128, 128)) is spec
        assert fit_psf_to_image_of(spec, "YX", (128, 128)) is spec


def test_auto_on_one_plane_of_a_stack_equals_that_plane_as_a_2d_image(tiny_bundled):
    from napari_microdeblur.core.inference import deblur
    from napari_microdeblur.core.optics import widefield_psf

    kernel = widefield_psf(0.8, 0.52, 0.1, nz=15, dz=0.3)
    plane = stack(1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the in-focus plane's note
        one = deblur(plane[None], method="auto", psf=kernel, axes="ZYX", device="cpu",
                     precision="float32")
        flat = deblur(plane, method="auto", psf=kernel, axes="YX", device="cpu",
                      precision="float32")
    np.testing.assert_array_equal(one[0], flat)  # 2 % of the max off when cut


# ------------------------------------------------------------------ 3. preview at depth


def test_a_model_deeper_than_the_stack_is_previewed_at_the_stacks_depth(
        make_napari_viewer, qtbot, tiny_bundled):
    viewer, w = open_dock(make_napari_viewer, stack(12))
    show_psf(qtbot, w, DEEP)
    caption = w.psf_preview.caption.text()
    assert w.psf_preview.error is None, caption
    # it said "3D PSF 41 x 73 x 73 px ... (2% of the light)", a model the run does not use
    assert caption.startswith("3D PSF 11 x "), caption
    assert "computed with nz=11 for the 12-plane stack, not nz=41 as typed (41 x 73 x 73 px)" \
        in caption
    w.scope_combo.setCurrentText("current slice")  # one plane: the network, the model as typed
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    assert w.psf_preview.caption.text().startswith("3D PSF 41 x 73 x 73 px")


# ------------------------------------------------------------------ 4. the rule, said


def test_auto_3d_rule_says_the_share_in_focus_against_the_limit_for_the_planes():
    from napari_microdeblur.core.psf_fit import auto_3d_rule

    limit = f"{bundled.SHORT_STACK_SHARE_FOR_3D:.0%}"
    short = auto_3d_rule(MethodSpec("auto", psf=DEEP), "ZYX", (12, 48, 48))
    assert short.startswith("in-focus plane ") and f"under the {limit} limit" in short
    assert short.endswith(f"stacks of 3 to {bundled.MOST_PLANES_FOR_ANY_3D} planes "
                          "(this one: 12)") and "computed with nz=11" in short
    deep = auto_3d_rule(MethodSpec("auto", psf=CONFOCAL), "ZYX", (20, 48, 48))
    assert deep == ("plane by plane: in-focus plane 41% of the 3D PSF's light, not under the "
                    f"{bundled.IN_FOCUS_SHARE_FOR_3D:.0%} limit for 3D on stacks of over "
                    f"{bundled.MOST_PLANES_FOR_ANY_3D} planes (this one: 20)")
    assert auto_3d_rule(MethodSpec("auto", psf=CONFOCAL), "ZYX", (1, 48, 48)) == ""
    assert auto_3d_rule(MethodSpec("auto", psf="gaussian:1.6"), "ZYX", (20, 48, 48)) == ""


def test_the_image_type_line_says_which_rule_took_auto_to_3d_or_not(
        make_napari_viewer, qtbot, tiny_bundled):
    viewer, w = open_dock(make_napari_viewer, stack(20))
    show_psf(qtbot, w, CONFOCAL)
    assert w.method.auto_label.text() == (
        f"\u2192 {DEFAULT_PSF_AWARE}\n(plane by plane: in-focus plane 41% of the 3D PSF's "
        f"light, not under the {bundled.IN_FOCUS_SHARE_FOR_3D:.0%} limit for 3D on stacks of "
        f"over {bundled.MOST_PLANES_FOR_ANY_3D} planes (this one: 20))")
    show_psf(qtbot, w, DEEP.replace("nz=41", "nz=15"))  # widefield: 7 % in focus
    text = w.method.auto_label.text()
    assert text.startswith("\u2192 richardson_lucy in 3D\n(in-focus plane "), text
    assert f"under the {bundled.IN_FOCUS_SHARE_FOR_3D:.0%} limit" in text and "20)" in text
    w.scope_combo.setCurrentText("current slice")  # one plane: no rule to say
    assert w.method.auto_label.text() == f"\u2192 {DEFAULT_PSF_AWARE}"
