"""The records of the Fine-tune dock's Preview and comparison layers (2026-12-08): the
comparison's base and fine-tuned layers recorded no weights at all (saved, nothing said which
network made them); the preview, which runs with the base's card, must not record the base's
sha256 or file (a guard: its record is ``{'preview_of': label}``). Driven in a real viewer
under Xvfb with a tiny GRAN; tests wait on conditions, never on fixed delays."""

from __future__ import annotations

from test_widget_finetune import finetune_dock, tiny_session_model  # noqa: F401
from test_widgets import TIMEOUT, _clean_session, wait_idle  # noqa: F401

from napari_microdeblur.core import io
from napari_microdeblur.core.checkpoint import sha256_file


def test_a_saved_preview_names_no_base_weights(
        make_napari_viewer, qtbot, tiny_session_model, focus_stack, tmp_path):  # noqa: F811
    """Guard (passes on the old code too): the preview runs with the base's card, but its
    layer's record (``_layer_data.preview_layer``) must not name the base's sha256 or file,
    since the pixels come from weights mid-training; saved, it says what they are."""
    from napari_microdeblur._widgets._methods import SESSION_MODELS
    from napari_microdeblur._writer import write_image_layer

    base = SESSION_MODELS.get(tiny_session_model).card
    assert base.sha256 and base.source
    viewer = make_napari_viewer()
    stack = viewer.add_image(focus_stack[:, :64, :], name="stack")
    viewer.dims.set_current_step(0, 4)
    w = finetune_dock(viewer, 1, stack, steps=100_000)
    w.start_button.click()
    qtbot.waitUntil(lambda: w._last_step >= 1, timeout=TIMEOUT)
    w.preview_button.click()
    qtbot.waitUntil(lambda: w.preview_layer is not None, timeout=TIMEOUT)
    w.stop_button.click()
    wait_idle(qtbot, w)
    path = tmp_path / "preview.tif"
    data, meta, _ = w.preview_layer.as_layer_data_tuple()
    write_image_layer(str(path), data, meta)
    saved = io.read_image(path).metadata["microdeblur"]
    assert saved["preview_of"].startswith("tiny_gran fine-tuning, step ")
    assert saved.get("weights_sha256") is None and saved.get("weights_source") is None
    assert base.sha256 not in str(saved) and "tiny_gran.safetensors" not in str(saved)


def test_the_comparison_layers_name_the_weights_that_made_them(
        make_napari_viewer, qtbot, tiny_session_model, focus_stack, tmp_path):  # noqa: F811
    from napari_microdeblur._widgets._methods import SESSION_MODELS

    base = SESSION_MODELS.get(tiny_session_model).card
    viewer = make_napari_viewer()
    stack = viewer.add_image(focus_stack[:, :64, :], name="stack")
    w = finetune_dock(viewer, 1, stack, steps=2)
    w.start_button.click()
    wait_idle(qtbot, w)
    assert set(w.comparison) >= {"input", "base", "tuned"}
    records = {role: layer.metadata["microdeblur"] for role, layer in w.comparison.items()}
    assert records["base"]["weights_sha256"] == base.sha256
    assert records["base"]["weights_source"] == "tiny_gran.safetensors"  # no folder
    assert records["base"]["method"] == "tiny_gran"
    tuned = records["tuned"]
    # the kept checkpoint: Save... copies that very file, so its sha256 is the saved file's
    assert tuned["weights_sha256"] == sha256_file(w.outcome.file) == w.outcome.card.sha256
    saved = w.save(tmp_path / "mine")
    assert sha256_file(saved) == tuned["weights_sha256"]
    assert tuned["method"] == w.session_label and tuned["arch"] == "gran"
    assert tuned["weights_sha256"] != base.sha256
    for role in ("input", "target"):  # no network made them: no weights named
        assert "weights_sha256" not in records.get(role, {})
    assert all(r["role"] == role and "finetune_comparison" in r for role, r in records.items())
