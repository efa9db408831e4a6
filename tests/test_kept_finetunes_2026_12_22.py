"""From a walkthrough of the Fine-tune dock's kept weights (2026-12-22), headless under Xvfb
with a tiny GRAN and the kept folder in ``tmp_path`` (``MICRODEBLUR_FINETUNED_DIR``):

1. models fine-tuned in the dock were kept in the kept folder, but nothing read it: in the
   next session neither the Deblur dock's methods nor the Fine-tune dock's bases offered them
   (Load weights... had to browse a hidden cache folder, and named the method after the
   file). They are offered under the name their session gave them, newest first, read from
   their headers (the network loads when first used); an unreadable file is left out with
   one warning line; Load weights... opens in the kept folder (then the last one used);
2. the same weights kept twice became two files and two methods ('... (2)'): kept once;
3. Save... after the kept copy was deleted by hand failed with '[Errno 2] No such file or
   directory': the network in memory is saved (the same bytes).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from _finetune_docks import any_gain_counts
from test_widget_finetune import (
    finetune_dock,
    tiny_session_model,  # noqa: F401 - the fixture
)
from test_widgets import (  # noqa: F401 - _clean_session: the autouse fixture
    CARD,
    TIMEOUT,
    _clean_session,
    dock,
    notes,
    tiny_gran,
    wait_idle,
    wait_run,
)

from napari_microdeblur._widgets import _finetune_files as files
from napari_microdeblur.core.checkpoint import save_weights

STAMP = "20261207-064231"


@pytest.fixture
def kept_dir(tmp_path, monkeypatch):
    folder = tmp_path / "kept"
    monkeypatch.setenv("MICRODEBLUR_FINETUNED_DIR", str(folder))
    return folder


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_kept(folder: Path, stem: str, base: str, layer: str, seed: int = 0) -> Path:
    """Weights as the dock keeps them: '<stamp>_<name>.safetensors', with the card a
    fine-tune writes (its description starts with the base, its training data quotes the
    layer)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.safetensors"
    save_weights(tiny_gran(seed=seed), path, {
        **CARD, "description": f"{base} fine-tuned for at most 4 steps",
        "training_data": f"{base} (random) fine-tuned on layer {layer!r}: stack, in focus"})
    return path


def items(combo) -> dict:
    return {combo.itemData(i): combo.itemText(i) for i in range(combo.count())}


# ----------------------------------------- 1. kept fine-tunes offered in the next session


def test_kept_names_read_back_as_the_session_named_them(tmp_path):
    from napari_microdeblur._widgets import _kept_models as kept_models

    made = write_kept(tmp_path, f"{STAMP}_my_gran_fine-tuned_on_cells_3_", "my gran",
                      "cells #3 ")
    card = kept_models.read_header_card(made)[0]
    assert kept_models.kept_name(made, card) == "my gran fine-tuned on cells #3 "
    # a base fine-tuned before: its own 'fine-tuned on' is kept in the base
    made = write_kept(tmp_path, f"{STAMP}_tiny_gran_fine-tuned_on_stack_fine-tuned_on_b",
                      "tiny_gran fine-tuned on stack", "b")
    card = kept_models.read_header_card(made)[0]
    assert kept_models.kept_name(made, card) == "tiny_gran fine-tuned on stack fine-tuned on b"
    # a new network, and the '_2' of a name taken in the same second
    made = write_kept(tmp_path, f"{STAMP}_new_gran_tiny_trained_on_stack_2",
                      "new gran (tiny)", "stack")
    card = kept_models.read_header_card(made)[0].model_copy(
        update={"description": "new gran (tiny) trained for at most 4 steps"})
    assert kept_models.kept_name(made, card) == "new gran (tiny) trained on stack_2"


def test_a_kept_fine_tune_is_offered_in_both_docks_and_loads_when_used(
        make_napari_viewer, qtbot, kept_dir, notes, monkeypatch):  # noqa: F811
    from napari_microdeblur._widgets._methods import SESSION_MODELS

    older = write_kept(kept_dir, "20261206-101010_tiny_gran_fine-tuned_on_my_stack",
                       "tiny_gran", "my stack", seed=1)
    newer = write_kept(kept_dir, f"{STAMP}_tiny_gran_fine-tuned_on_my_stack", "tiny_gran",
                       "my stack")
    (kept_dir / "truncated.safetensors").write_bytes(newer.read_bytes()[:200])
    viewer = make_napari_viewer()
    deblur, tune = dock(viewer, "Deblur"), dock(viewer, "Fine-tune")
    name = "tiny_gran fine-tuned on my stack"
    for combo in (deblur.method_combo, tune.base_combo):  # was: neither offered them
        offered = items(combo)
        assert offered[name] == f"{name} (kept 2026-12-07 06:42)"  # the newest first
        assert offered[f"{name} (2)"] == f"{name} (2) (kept 2026-12-06 10:10)"
        assert list(offered).index(name) == list(offered).index(f"{name} (2)") - 1
    assert SESSION_MODELS.labels() == []  # offered, not loaded: headers only
    warned = [m for m in notes.warnings() if "truncated.safetensors" in m]
    assert len(warned) == 1 and "left out of the method lists" in warned[0]
    assert str(kept_dir) in warned[0] and "\n" not in warned[0]
    from napari_microdeblur._widgets._kept_models import KeptModel

    loads, real = [], KeptModel._load
    monkeypatch.setattr(KeptModel, "_load", lambda self: loads.append(self.label) or real(self))
    deblur.set_method(name)
    tune.set_base(f"{name} (2)")
    assert "gran" in deblur.card_label.text() and loads == []  # the card is the header's
    layer = viewer.add_image(np.random.default_rng(0).random((48, 48), np.float32), name="img")
    deblur.layer_combo.set_value(layer)
    deblur.device_combo.setCurrentText("cpu")
    run = deblur.run()
    wait_run(qtbot, run)
    assert loads == [name] and run.layer is not None
    assert run.layer.name == f"img deblurred [{name}]"
    assert run.layer.metadata["microdeblur"]["weights_sha256"] == sha256(newer)
    model, card, base = tune._base_model()  # a base for the Fine-tune dock too
    assert base == f"{name} (2)" and card.source == str(older)
    assert loads == [name, f"{name} (2)"] and card.sha256 == sha256(older)
    wait_idle(qtbot, deblur)


@pytest.mark.usefixtures("tiny_session_model")
def test_a_run_is_offered_under_its_name_in_the_next_session(
        make_napari_viewer, qtbot, focus_stack, kept_dir):
    """The session's own kept file is not offered twice; a new session (its networks gone)
    offers it under the name the run had."""
    from napari_microdeblur._widgets._methods import SESSION_MODELS

    viewer = make_napari_viewer()
    w = finetune_dock(viewer, 1, viewer.add_image(focus_stack, name="my stack"), steps=3)
    w.focus_spin.setValue(7)
    any_gain_counts(w)
    w.start_button.click()
    wait_idle(qtbot, w)
    label = w.session_label
    assert label == "tiny_gran fine-tuned on my stack"
    deblur = dock(viewer, "Deblur")
    assert SESSION_MODELS.kept_labels() == []  # held by the session's method
    assert items(deblur.method_combo)[label] == f"{label} (fine-tuned)"
    for saved in SESSION_MODELS.labels():  # the next session: napari started again
        SESSION_MODELS._items.pop(saved)
    SESSION_MODELS.changed.emit()
    assert SESSION_MODELS.kept_labels() == [label]
    assert items(deblur.method_combo)[label].startswith(f"{label} (kept ")
    assert items(w.base_combo)[label].startswith(f"{label} (kept ")


def test_load_weights_opens_in_the_kept_folder_then_the_last_one(
        make_napari_viewer, kept_dir, tmp_path, monkeypatch):
    from qtpy.QtWidgets import QFileDialog

    asked = []
    try:  # no folder remembered from another test
        from napari_microdeblur._widgets import _kept_models

        monkeypatch.setattr(_kept_models, "_LAST_FOLDER", [])
    except ImportError:  # before 2026-12-22
        pass
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(
        lambda parent, title, start, *a: asked.append(start) or ("", "")))
    w = dock(make_napari_viewer(), "Deblur")
    w._choose_weights()
    write_kept(kept_dir, f"{STAMP}_a_fine-tuned_on_b", "a", "b")
    w._choose_weights()
    assert asked == ["", str(kept_dir)]  # no kept folder yet: Qt's choice
    other = tmp_path / "mine"
    other.mkdir()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(
        lambda parent, title, start, *a: asked.append(start) or (str(other / "x.pt"), "")))
    monkeypatch.setattr(w, "load_weights", lambda *a, **k: None)
    monkeypatch.setattr("napari_microdeblur._widgets._deblur.architecture_question",
                        lambda path: None)
    w._choose_weights()
    w._choose_weights()
    assert asked[-1] == str(other)


# ------------------------------------------------------------- 2. the same weights kept once


def test_the_same_weights_are_kept_once(tmp_path, kept_dir):
    from napari_microdeblur._widgets._methods import SESSION_MODELS, SessionModel

    source = write_kept(tmp_path / "run", "best", "tiny_gran", "stack")
    first = files.keep_weights(source, "tiny_gran fine-tuned on stack")
    outcome = SimpleNamespace(file=source, card=SimpleNamespace(source=str(source)))
    line = files.keep_run_weights(outcome, "tiny_gran fine-tuned on stack")
    assert sorted(kept_dir.iterdir()) == [first]  # was: two files, identical
    assert outcome.file == first and outcome.card.source == str(first)
    assert line == (f"The same weights were already kept in {first} (not copied again; "
                    "Save... copies them elsewhere).")
    # one method too: the second run's network is the first's (was: '... on stack (2)')
    labels = [SESSION_MODELS.add(SessionModel("tiny_gran fine-tuned on stack", object(),
                                              SimpleNamespace(source=str(first)),
                                              "fine-tuned", {"file": str(first)}))
              for _ in range(2)]
    assert labels == ["tiny_gran fine-tuned on stack"] * 2
    other = write_kept(tmp_path / "run2", "best", "tiny_gran", "stack", seed=3)
    assert files.keep_weights(other, "tiny_gran fine-tuned on stack") != first  # new weights
    assert len(list(kept_dir.iterdir())) == 2


# ----------------------------------------------- 3. Save... after the kept copy was deleted


@pytest.mark.usefixtures("tiny_session_model")
def test_save_after_the_kept_copy_was_deleted_saves_the_weights_in_memory(
        make_napari_viewer, qtbot, focus_stack, kept_dir, tmp_path, notes):  # noqa: F811
    viewer = make_napari_viewer()
    w = finetune_dock(viewer, 1, viewer.add_image(focus_stack, name="stack"), steps=3)
    w.focus_spin.setValue(7)
    any_gain_counts(w)
    w.start_button.click()
    wait_idle(qtbot, w)
    kept = Path(w.outcome.file)
    assert kept.parent == kept_dir and not w.outcome.kept_start
    kept.unlink()  # the README invites deleting old ones
    saved = w.save(tmp_path / "mine")
    assert saved == tmp_path / "mine.safetensors"  # was: [Errno 2] No such file or directory
    assert sha256(saved) == w.outcome.card.sha256  # the sha256 layers recorded
    assert w.status_label.text() == (f"saved {saved} from memory: the kept copy {kept} "
                                     "was deleted")
    assert not notes.errors()
    w.outcome.model = None  # nothing in memory either: one line saying what to do
    assert w.save(tmp_path / "again") is None
    assert notes.errors()[-1] == (f"the kept copy {kept} was deleted and the weights are no "
                                  "longer in memory: fine-tune again to save them")


def test_a_new_fine_tune_named_as_a_kept_one_takes_another_name(tmp_path, kept_dir):
    """Review of defae66: yesterday's kept 'X' was renamed 'X (2)' when today's run was named
    'X', so a dock that had chosen 'X' ran today's network unsaid. The kept one keeps 'X'."""
    from napari_microdeblur._widgets._methods import SESSION_MODELS, SessionModel

    source = write_kept(tmp_path / "run", "best", "tiny_gran", "stack")
    kept = files.keep_weights(source, "tiny_gran fine-tuned on stack")
    name = "tiny_gran fine-tuned on stack"
    SESSION_MODELS.offer_kept([SessionModel(name, None, None, "kept",
                                            {"file": str(kept), "name": name})])
    other = write_kept(tmp_path / "run2", "best", "tiny_gran", "stack", seed=3)
    label = SESSION_MODELS.add(SessionModel(name, object(), SimpleNamespace(source=str(other)),
                                            "fine-tuned", {"file": str(other)}))
    assert label == f"{name} (2)"
    assert SESSION_MODELS.kept_labels() == [name]
