"""Samples open on their blurred layer (2026-12-09 workshop walkthrough): napari made the sharp
reference, added last, the active layer, so Layers > Filter > "Deblur with default model"
deblurred the ground truth and Compare & QC scored a -1.32 dB "gain" without a word. The
action on a sample's sharp reference now warns (and still runs); the mitochondria focus series,
sharp at one plane only, says so. Driven in a real viewer; tests wait on conditions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import napari_microdeblur
from napari_microdeblur import _sample_data
from napari_microdeblur._widgets import _actions

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms
MANIFEST = yaml.safe_load((Path(napari_microdeblur.__file__).parent / "napari.yaml").read_text())
SAMPLES = {s["key"]: s["display_name"] for s in MANIFEST["contributions"]["sample_data"]}
NUCLEI_BLURRED = "nuclei blurred (protocol A)"
NUCLEI_SHARP = "nuclei sharp (ground truth)"


@pytest.fixture
def warnings_seen():
    """The napari warning notifications shown during the test."""
    from napari.utils.notifications import notification_manager

    start = len(notification_manager.records)
    return lambda: [str(n.message) for n in notification_manager.records[start:]
                    if str(n.severity).lower() == "warning"]


def finish(qtbot, run):
    qtbot.waitUntil(lambda: run.done and not _actions.RUNNING, timeout=TIMEOUT)


@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_each_sample_opens_with_its_blurred_layer_active_and_the_truth_visible(
        make_napari_viewer, key):
    viewer = make_napari_viewer()
    added = viewer.open_sample(PLUGIN, key)
    assert len(added) == 2
    active = viewer.layers.selection.active
    assert "blurred" in active.name, (key, active.name)  # was: the ground truth
    assert [la.name for la in viewer.layers.selection] == [active.name]
    assert active.metadata["sample_role"] == "blurred"
    truth = next(la for la in viewer.layers if la is not active)
    assert "ground truth" in truth.name and truth.metadata["sample_role"] == "ground truth"
    assert truth.visible and active.visible  # the truth stays there to compare with
    assert viewer.layers[-1] is active  # on top: what the student sees first
    assert active.metadata["sample_layers"] == truth.metadata["sample_layers"] == {
        "blurred": active.name, "ground truth": truth.name}
    # the true PSF of the synthetic blur, as a spec the Deblur dock's PSF box takes
    assert active.metadata["true_psf"] in {"gaussian:1.6", "astig:2.5,0.8,30", "disk:3"}
    assert "true_psf" not in truth.metadata


def test_the_filter_action_on_the_sharp_reference_warns_and_still_runs(
        make_napari_viewer, qtbot, warnings_seen):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei_pair")
    truth = viewer.layers[NUCLEI_SHARP]
    before = np.asarray(truth.data).copy()
    run = _actions.deblur_with_default_model(truth, viewer)
    assert run is not None  # the user may mean it
    said = [m for m in warnings_seen() if "sharp reference" in m]
    assert len(said) == 1, warnings_seen()  # was: no warning at all
    assert "\n" not in said[0]
    assert repr(NUCLEI_SHARP) in said[0] and repr(NUCLEI_BLURRED) in said[0]
    finish(qtbot, run)
    assert run.layer is not None and run.layer.name.startswith(NUCLEI_SHARP + " deblurred")
    np.testing.assert_array_equal(truth.data, before)


def test_the_warning_reads_the_metadata_not_the_name(make_napari_viewer, qtbot,
                                                     warnings_seen):
    """A renamed reference still warns and names the blurred layer under its new name."""
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "em_pair")
    blurred = viewer.layers["EM blurred (protocol C)"]
    truth = viewer.layers["EM sharp (ground truth)"]
    truth.name, blurred.name = "slice 17", "my input"
    run = _actions.deblur_with_default_model(truth, viewer)
    said = [m for m in warnings_seen() if "sharp reference" in m]
    assert len(said) == 1 and "'slice 17'" in said[0] and "'my input'" in said[0]
    finish(qtbot, run)


def test_the_filter_action_on_the_blurred_layer_or_a_plain_layer_does_not_warn(
        make_napari_viewer, qtbot, warnings_seen):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "nuclei_pair")
    run = _actions.deblur_with_default_model(viewer.layers.selection.active, viewer)
    assert run is not None and run.req.source_name == NUCLEI_BLURRED
    finish(qtbot, run)
    # a user's own layer named like a reference carries no sample metadata: no sample warning
    own = viewer.add_image(np.random.default_rng(0).random((48, 48)).astype(np.float32),
                           name="my sharp image")
    other = _actions.deblur_with_default_model(own, viewer)
    finish(qtbot, other)
    assert not [m for m in warnings_seen() if "sharp reference" in m], warnings_seen()


def test_the_mitochondria_sample_says_it_is_a_focus_series_in_focus_at_plane_7(
        make_napari_viewer):
    assert "sharp" not in SAMPLES["fluo_stack_pair"]  # was: "blurred and sharp"
    assert "focus series" in SAMPLES["fluo_stack_pair"] and "z=7" in SAMPLES["fluo_stack_pair"]
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "fluo_stack_pair")
    truth = next(la for la in viewer.layers if la.metadata["sample_role"] == "ground truth")
    assert "focus series" in truth.name and "z=7" in truth.name
    for layer in viewer.layers:
        assert layer.metadata["focus_series"] is True
        assert layer.metadata["in_focus_plane"] == 7
        assert layer.metadata["plane_defocus_um"][7] == 0.0
    # napari opens the stack at its middle plane: a sample function has no viewer to move the
    # slider, so the in-focus plane is in the names and the metadata instead
    assert viewer.dims.current_step[0] == 6


def test_sample_pairs_share_no_mutable_metadata():
    for maker in (_sample_data.make_nuclei_pair, _sample_data.make_fluo_stack_pair):
        (_, first, _), (_, second, _) = maker()
        assert first["metadata"] is not second["metadata"]
        assert first["metadata"]["sample_layers"] is not second["metadata"]["sample_layers"]
        if "plane_defocus_um" in first["metadata"]:
            assert (first["metadata"]["plane_defocus_um"]
                    is not second["metadata"]["plane_defocus_um"])
