"""The samples state their image type, and the docks follow it: the EM pair (grayscale) ran the
fluorescence network in the Deblur dock ('auto' guesses fluorescence for grayscale) and the
Fine-tune dock started from the fluorescence default."""

import pytest

from napari_microdeblur import _sample_data
from napari_microdeblur.core.bundled import default_for_modality

PLUGIN = "napari-microdeblur"


@pytest.mark.parametrize("maker, modality", [
    (_sample_data.make_nuclei_pair, "fluorescence"), (_sample_data.make_em_pair, "em"),
    (_sample_data.make_fluo_stack_pair, "fluorescence"),
    (_sample_data.make_histology_pair, "brightfield")])
def test_every_sample_layer_states_its_image_type(maker, modality):
    assert [meta["metadata"]["modality"] for _, meta, _ in maker()] == [modality] * 2


def test_the_docks_follow_the_em_samples_image_type(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "em_pair")
    _, deblur = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    _, finetune = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    assert "blurred" in deblur.layer_combo.value.name
    assert deblur.modality_combo.currentData() == "em"
    assert finetune.base_combo.currentData() == default_for_modality("em", False)


def test_an_image_type_the_user_picked_is_kept_when_the_layer_changes(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "em_pair")
    _, deblur = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    deblur.set_modality("brightfield")
    viewer.open_sample(PLUGIN, "nuclei_pair")
    deblur.layer_combo.set_value(viewer.layers["nuclei blurred (protocol A)"])
    assert deblur.modality_combo.currentData() == "brightfield"


def test_a_layer_without_a_stated_type_is_auto(make_napari_viewer):
    import numpy as np

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "em_pair")
    _, deblur = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    assert deblur.modality_combo.currentData() == "em"
    plain = viewer.add_image(np.zeros((64, 64), np.float32), name="mine")
    deblur.layer_combo.set_value(plain)
    assert deblur.modality_combo.currentData() == "auto"
