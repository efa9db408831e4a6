"""The Deblur dock's PSF preview after a review of 2e92967 (PSF work moved into its worker):

1. a scope or layer change while the preview computes is asked again, in the worker, once it is
   done: the answer for the old scope was shown (stale caption), and its fit check for the new
   scope ran on the GUI thread, computing the model at the stack's depth there (1.2 s pause);
2. a ``used_psf`` that raises leaves the preview not busy, its error shown (it read busy until
   the PSF text changed), and a card that raises leaves no PSF marked just typed;
3. the image-type line's 3D rule comes from a settable ``auto_rule`` (it reached into the dock
   through ``runs_in_3d.__self__``: nothing for a wrapped callable);
4. the Zoo export's warning names the step that failed (a failing smallest-side probe of the
   trace read 'torch.jit.trace failed');
5. a PSF-aware network named on a stack with a 3D PSF file runs each plane as that plane alone
   (the in-focus plane, fitted in Y and X only).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import tifffile
from test_dock_psf3d_2026_12_23 import (
    DEEP,
    TIMEOUT,
    Pauses,
    open_dock,
    show_psf,
    stack,
    tiny_bundled,  # noqa: F401 - a fixture
)

from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE

# a 45-plane model: 'current slice' takes it as typed, 'whole stack' at nz=29 (30 planes)
DEEP45 = DEEP.replace("nz=41", "nz=45")
SLOW_PLANE_S = 0.03  # added to each psfmodels plane: a model at the stack's depth takes ~1 s


@pytest.fixture
def slow_psfmodels(monkeypatch):
    """psfmodels' planes each 30 ms slower (sleeping: the GIL is free), none cached: a model
    computed on the GUI thread pauses it as a heavy one did, in a small test."""
    import psfmodels

    from napari_microdeblur.core import psf

    make = psfmodels.make_psf

    def slow(z, *args, **kwargs):
        time.sleep(SLOW_PLANE_S * len(z))
        return make(z, *args, **kwargs)

    monkeypatch.setattr(psfmodels, "make_psf", slow)
    psf._optics_psf.cache_clear()
    yield
    psf._optics_psf.cache_clear()  # no slow-made model left for later tests


def settled(qtbot, w):
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    return w.psf_preview.caption.text(), w.method.auto_label.text()


# ------------------------------------------------------------------ 1. asked again, off the GUI


def test_a_scope_change_while_the_psf_computes_shows_the_new_scopes_psf_without_freezing(
        make_napari_viewer, qtbot, tiny_bundled, slow_psfmodels):  # noqa: F811
    viewer, w = open_dock(make_napari_viewer, stack(30))
    w.scope_combo.setCurrentText("current slice")
    pauses = Pauses()
    w.psf_edit.setText(DEEP45)
    qtbot.waitUntil(lambda: w.psf_preview.caption.text().startswith("computing"),
                    timeout=TIMEOUT)
    w.scope_combo.setCurrentText("whole stack")
    caption, line = settled(qtbot, w)
    pauses.timer.stop()
    # it showed '3D PSF 45 x 73 x 73 px ... (2% of the light)' and paused 1.2 s
    assert w.psf_preview.error is None, caption
    assert caption.startswith("3D PSF 29 x "), caption
    assert "computed with nz=29 for the 30-plane stack" in caption, caption
    assert line.startswith("\u2192 richardson_lucy in 3D\n("), line
    assert pauses.longest < 0.5, pauses.longest
    w.update_psf_preview()  # asked afresh on the scope of now: the same
    assert settled(qtbot, w) == (caption, line)


def test_a_layer_removed_while_the_psf_computes_leaves_no_caption_of_its_stack(
        make_napari_viewer, qtbot, tiny_bundled, slow_psfmodels):  # noqa: F811
    viewer, w = open_dock(make_napari_viewer, stack(12))
    w.psf_edit.setText(DEEP)
    qtbot.waitUntil(lambda: w.psf_preview.caption.text().startswith("computing"),
                    timeout=TIMEOUT)
    viewer.layers.remove("cells")
    caption, _ = settled(qtbot, w)
    # it kept 'computed with nz=11 for the 12-plane stack' for a layer that was gone
    assert "12-plane stack" not in caption, caption
    assert caption.startswith("3D PSF 41 x 73 x 73 px"), caption


# ------------------------------------------------------------------ 2. exception safety


def _broken_used_psf(source):
    raise RuntimeError("used_psf stand-in failure")


def test_a_used_psf_that_raises_leaves_the_preview_not_busy_with_its_error(
        make_napari_viewer, qtbot, tiny_bundled):  # noqa: F811
    viewer, w = open_dock(make_napari_viewer, stack(4))
    w.psf_preview.used_psf = _broken_used_psf
    w.psf_edit.setText("gaussian:1.6")
    assert not w.psf_preview.busy  # it read busy ('computing') until the text changed
    assert w.psf_preview.error == "RuntimeError: used_psf stand-in failure"
    assert w.psf_preview.caption.text() == w.psf_preview.error


def test_a_used_psf_that_raises_on_recheck_leaves_the_preview_not_busy_with_its_error(
        make_napari_viewer, qtbot, tiny_bundled):  # noqa: F811
    viewer, w = open_dock(make_napari_viewer, stack(4))
    show_psf(qtbot, w, "gaussian:1.6")
    assert w.psf_preview.error is None, w.psf_preview.error
    w.psf_preview.used_psf = _broken_used_psf
    w.scope_combo.setCurrentText("current slice")  # recheck()
    assert not w.psf_preview.busy
    assert w.psf_preview.error == "RuntimeError: used_psf stand-in failure"


def test_a_card_that_raises_leaves_no_psf_marked_just_typed(
        make_napari_viewer, monkeypatch, tiny_bundled):  # noqa: F811
    from napari_microdeblur._widgets import _panels

    viewer, w = open_dock(make_napari_viewer, stack(4))

    def broken(*args, **kwargs):
        raise RuntimeError("card stand-in failure")

    monkeypatch.setattr(_panels, "method_card", broken)
    with pytest.raises(RuntimeError, match="card stand-in"):
        w.method._show_card("typed")
    assert w.method._typed is False  # else no 3D rule was said until the PSF text changed


# ------------------------------------------------------------------ 3. the rule, settable


def test_the_image_type_lines_rule_comes_from_a_settable_auto_rule(
        make_napari_viewer, qtbot, tiny_bundled):  # noqa: F811
    viewer, w = open_dock(make_napari_viewer, stack(20))
    show_psf(qtbot, w, DEEP.replace("nz=41", "nz=15"))  # widefield: 7 % in focus
    said = w.method.auto_label.text()
    assert said.startswith("\u2192 richardson_lucy in 3D\n(in-focus plane "), said
    w.method.runs_in_3d = lambda: w.auto_runs_in_3d()  # a wrapped callable: no __self__
    w.method.show_auto_choice()
    assert w.method.auto_label.text() == said  # the rule was left out
    w.method.auto_rule = lambda: "a stand-in rule"
    w.method.show_auto_choice()
    assert w.method.auto_label.text() == "\u2192 richardson_lucy in 3D\n(a stand-in rule)"


# ------------------------------------------------------------------ 4. the export's warning


class _TraceThatCannotRun:
    """A trace made, which fails when run (the smallest-side probe runs it)."""

    def __call__(self, *args):
        raise TypeError("trace stand-in: cannot run")


def test_the_export_warning_names_the_smallest_side_probe_where_it_failed(monkeypatch):
    import torch

    from napari_microdeblur.core import export
    from napari_microdeblur.core.notes import DeblurWarning
    from napari_microdeblur.core.registry import build_model, get_arch

    torch.manual_seed(3)
    model = build_model("gran", get_arch("gran").tiny_config).eval()
    monkeypatch.setattr(export, "_trace", lambda model, xn: _TraceThatCannotRun())
    xn = np.random.default_rng(0).random((1, 1, 32, 32), dtype=np.float32)
    with pytest.warns(DeblurWarning) as said:
        torchscript, side = export._torchscript_and_min_size(model, xn)
    assert torchscript is None and side > 0
    lines = [str(w.message) for w in said if "TorchScript" in str(w.message)]
    assert len(lines) == 1, lines
    assert "torch.jit.trace failed" not in lines[0], lines[0]  # it had traced
    assert ("running the trace to find its smallest input side failed: TypeError: trace "
            "stand-in: cannot run") in lines[0], lines[0]


# ------------------------------------------------------------------ 5. a named network


def test_a_psf_aware_network_on_a_stack_with_a_3d_psf_file_runs_each_plane_alone(
        tmp_path, tiny_bundled):  # noqa: F811
    from napari_microdeblur.core.inference import deblur
    from napari_microdeblur.core.optics import widefield_psf

    assert DEFAULT_PSF_AWARE == "wiener_unet.psf_v4"  # named as a user names it
    kernel = widefield_psf(0.8, 0.52, 0.1, nz=15, dz=0.3).astype(np.float32)  # 15 x 41 x 41
    files = {"3d": tmp_path / "psf3d.tif", "focus": tmp_path / "in_focus.tif"}
    tifffile.imwrite(files["3d"], kernel)  # 15 planes: deeper than the 6-plane stack
    tifffile.imwrite(files["focus"], kernel[int(np.argmax(kernel.sum(axis=(1, 2))))])
    image = stack(6)[:, :64, :64]

    def run(data, axes, psf):
        return deblur(data, method=DEFAULT_PSF_AWARE, psf=str(psf), axes=axes, device="cpu",
                      precision="float32")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the in-focus plane's note
        whole = run(image, "ZYX", files["3d"])
        in_focus = run(image, "ZYX", files["focus"])
        planes = [run(plane, "YX", files["3d"]) for plane in image]
    assert whole.shape == image.shape
    # the network takes the file's in-focus plane, whole, on every plane (fitted in Y, X only)
    np.testing.assert_allclose(whole, in_focus, rtol=0, atol=1e-3)
    # each plane as that plane alone: the stack's intensity normalisation differs by ~0.01
    # (identical planes: 5e-5); the plane beside the in-focus one would be 0.7 off
    for z, plane in enumerate(planes):
        np.testing.assert_allclose(whole[z], plane, rtol=0, atol=0.05, err_msg=f"plane {z}")
