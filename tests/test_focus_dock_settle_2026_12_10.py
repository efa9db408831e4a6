"""The Focus QC dock's 'Deblur soft slices' settles an estimated PSF ('estimate', or 'auto' for
EM) and 'auto' settings on each soft plane, as `microdeblur deblur --focus-below` does
(``core.selective`` given the MethodSpec). It had settled them once on the whole image, from
its middle plane: a sharp middle plane's blur ran on both soft ones (2026-12-10).

Driven in a real viewer under Xvfb; runs are classical or small and tests wait on conditions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from test_widgets import _clean_session, dock, wait_idle, wait_run  # noqa: F401

from napari_microdeblur.core import selective, selective_words
from napari_microdeblur.core.image_settings import spec_for_image
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.progress import drive

SOFT = {0: 2.5, 2: 1.2}  # plane: blur sigma; plane 1, the middle one, is sharp


@pytest.fixture(scope="module")
def stack(fluo_u8):
    """3 planes of 128 px nuclei: planes 0 and 2 blurred by other sigmas, 1 sharp."""
    a = fluo_u8.astype(np.float64)
    planes = [a, a[::-1], a[:, ::-1]]
    for z, sigma in SOFT.items():
        planes[z] = gaussian_filter(planes[z], sigma)
    return np.round(np.stack(planes)).astype(np.uint8)


def focus_dock(viewer, qtbot, data, method: str, psf: str = "", modality: str | None = None):
    """The Focus QC dock on ``data`` (ZYX) per slice, scored, with planes 0 and 2 soft where
    the stack is ``stack``, every plane soft otherwise."""
    layer = viewer.add_image(data, name="stack")
    w = dock(viewer, "Focus QC")
    w.layer_combo.set_value(layer)
    assert w.unit == "slices"
    assert w.score() is not None
    wait_idle(qtbot, w)
    scores = w.scores
    soft = max(scores[0], scores[-1])
    w.set_threshold(float(np.sqrt(scores[1] * soft)) if scores[1] > 1.2 * soft else 1e9)
    w.set_method(method)
    if psf:
        w.psf_edit.setText(psf)
    if modality:
        w.set_modality(modality)
    return w


def run_dock(qtbot, w):
    """(request, selection, finished run) of a 'Deblur soft slices' run."""
    req, selection = w.build_request()
    run = w.run()
    assert run is not None, w.status_label.text()
    wait_run(qtbot, run)
    wait_idle(qtbot, w)
    assert run.layer is not None, w.status_label.text()
    return req, selection, run


def core_run(data, req, selection):
    """What `microdeblur deblur --focus-below` runs: the core given the same MethodSpec."""
    return selective.deblur_selected(data, req.method, threshold=selection.threshold,
                                     axes="ZYX", scores=selection.scores, tile=None,
                                     tiling=req.tiling)


def test_estimate_settles_a_psf_per_soft_plane_as_the_core_does(make_napari_viewer, qtbot,
                                                                stack):
    viewer = make_napari_viewer()
    w = focus_dock(viewer, qtbot, stack, "wiener", psf="estimate")
    req, selection, run = run_dock(qtbot, w)
    assert req.network is None and req.method.psf == "estimate"
    core = core_run(stack, req, selection)
    assert core.selected == ((0,), (2,))
    # was: one PSF estimated on the whole stack (its sharp middle plane) for both soft planes
    np.testing.assert_array_equal(run.layer.data, core.image)
    psfs = [p.settings["psf"] for p in core.settled]
    assert psfs[0] != psfs[1]
    assert psfs == [spec_for_image(req.method, stack[z], "YX", in_3d=False).psf for z in (0, 2)]
    np.testing.assert_array_equal(run.layer.data[1], stack[1])  # the sharp plane as it was
    meta = run.layer.metadata["microdeblur"]
    # the record: each plane's PSF, as the command line's record gives it
    assert meta["focus"]["settled"] == selective_words.settled_entries(core, req.method)
    assert [(e["from"], e["psf"], e["found"][0]) for e in meta["focus"]["settled"]] == [
        ("Z 0", psfs[0], "psf"), ("Z 2", psfs[1], "psf")]
    assert meta["psf"] == "estimate" and "psf_estimated" not in meta
    assert "psf" not in meta["parameters"]
    assert run.layer.name.startswith("stack deblurred [wiener, PSF estimated] (focus < ")
    status = w.status_label.text()
    assert selective_words.settled_words(core, req.method) in status
    assert f"settings found on each soft slice (Z 0: PSF {psfs[0]}" in status
    assert f"; Z 2: PSF {psfs[1]}" in status
    assert "settled on the soft part" not in status  # said once, not again under 'warned'


def test_auto_for_em_runs_the_psf_aware_network_with_each_planes_psf(make_napari_viewer,
                                                                     qtbot, stack):
    viewer = make_napari_viewer()
    w = focus_dock(viewer, qtbot, stack, "auto", modality="em")
    req, selection, run = run_dock(qtbot, w)
    core = core_run(stack, req, selection)
    np.testing.assert_array_equal(run.layer.data, core.image)
    names = {p.method.name for p in core.settled}
    assert names == {req.label}  # the PSF-aware network, on both planes
    meta = run.layer.metadata["microdeblur"]
    assert meta["method"] == req.label and "fallback" not in meta
    assert [e["found"] for e in meta["focus"]["settled"]] == [["psf"], ["psf"]]
    assert f"[{req.label}] (focus < " in run.layer.name
    assert "settings found on each soft slice (Z 0: PSF " in w.status_label.text()


def test_auto_that_falls_back_to_the_blind_network_is_named_so(make_napari_viewer, qtbot):
    """Planes too small for an estimate: 'auto' for EM runs its blind network on each, and
    the name, the record and the status say so and why."""
    rng = np.random.default_rng(0)
    small = gaussian_filter(rng.normal(size=(2, 24, 24)), (0, 1, 1))
    small = np.clip(120 + 30 * small / small.std(), 1, 254).astype(np.uint8)
    viewer = make_napari_viewer()
    w = focus_dock(viewer, qtbot, small, "auto", modality="em")
    req, selection, run = run_dock(qtbot, w)
    core = core_run(small, req, selection)
    blind = {p.method.name for p in core.settled}
    assert len(blind) == 1 and blind != {req.label}
    (blind,) = blind
    np.testing.assert_array_equal(run.layer.data, core.image)
    meta = run.layer.metadata["microdeblur"]
    assert run.layer.name.startswith(f"stack deblurred [{blind}] (focus < ")
    assert meta["method"] == blind
    assert meta["fallback"].startswith("no PSF could be estimated from this image (")
    assert meta["fallback"].endswith(f"ran the blind network {blind} instead")
    assert meta["arch"] == blind.split(".")[0]  # the card of what ran, not the PSF-aware one
    status = w.status_label.text()
    assert f"; {meta['fallback']}" in status
    assert "settings found" not in status  # nothing the image settled ran


@pytest.fixture
def session_network(tmp_path):
    """A tiny 1-channel GRAN loaded into the session as 'tiny gray'."""
    import torch

    from napari_microdeblur._widgets._methods import SESSION_MODELS, SessionModel
    from napari_microdeblur.core import weights
    from napari_microdeblur.core.registry import build_model, get_arch

    torch.manual_seed(0)
    config = {**get_arch("gran").tiny_config, "in_channels": 1, "out_channels": 1}
    path = tmp_path / "tiny.safetensors"
    weights.save_weights(build_model("gran", config), path, {
        "training_data": "nothing (random tiny test weights)", "degradation": "none",
        "metrics": {}, "license": "BSD-3-Clause"})
    model, card = weights.load_model(path)
    return SESSION_MODELS.add(SessionModel("tiny gray", model, card, "loaded"))


def test_a_session_network_is_settled_once_as_before(make_napari_viewer, qtbot, stack,
                                                     session_network):
    viewer = make_napari_viewer()
    w = focus_dock(viewer, qtbot, stack, session_network)
    req, selection, run = run_dock(qtbot, w)
    assert req.network is not None
    assert run.outcome.result.settled == ()  # a Method: the core settles nothing per plane
    assert "settled" not in run.layer.metadata["microdeblur"]["focus"]
    assert "settings found" not in w.status_label.text()


def part(plane, name):
    return SimpleNamespace(plane=plane, method=SimpleNamespace(name=name))


def test_the_label_names_each_method_with_its_planes():
    from napari_microdeblur._widgets._focus_job import ran_label

    def result(*parts):
        return SimpleNamespace(settled=parts, axes="ZYX")

    assert ran_label(result(), "auto") == "auto"
    assert ran_label(result(part((0,), "a"), part((2,), "a")), "auto") == "a"
    mixed = result(part((0,), "a"), part((1,), "b"), part((2,), "a"))
    assert ran_label(mixed, "auto") == "a (Z 0, Z 2), b (Z 1)"
    many = result(*(part((z,), "a") for z in range(5)), part((5,), "b"))
    assert ran_label(many, "auto") == "a (Z 0, Z 1, Z 2 and 2 more), b (Z 5)"


def test_an_auto_tile_is_sized_for_the_widest_estimate(stack):
    from napari_microdeblur._widgets._focus_job import Selection, iter_focus_job, spec_auto_tile
    from napari_microdeblur._widgets._jobs import DeblurRequest

    req = DeblurRequest(source_name="stack", image=stack, axes="ZYX",
                        method=MethodSpec("wiener", psf="estimate"), label="wiener",
                        auto_tile=True)
    side = spec_auto_tile(req)
    assert side >= 64 and isinstance(side, int)
    scores = np.array([0.0, 1.0, 0.0])
    outcome = drive(iter_focus_job(req, Selection(0.5, scores, None, None)))
    assert outcome.result.selected == ((0,), (2,)) and len(outcome.result.settled) == 2
    assert outcome.label == "wiener"

