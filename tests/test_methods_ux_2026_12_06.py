"""What users see of the method list (2026-12-06): ``microdeblur methods`` lists 'auto', the
default, with what it runs per image type and with --psf (worded by core.bundled); the docks'
method lists mark bundled weights whose file is missing or unreadable, and choosing one says
the fix in one line instead of failing at Start."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_microdeblur.cli import main
from napari_microdeblur.core import bundled
from napari_microdeblur.core.method import MethodSpec
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE

PLUGIN = "napari-microdeblur"
MISSING, BROKEN = "gran.em_v1", "gran.hist_v1"


@pytest.fixture
def damaged_weights(tmp_path, monkeypatch):
    """The bundled weights folder with MISSING's file gone and BROKEN's a git-lfs pointer."""
    for entry in bundled.BUNDLED_WEIGHTS.values():
        source = bundled.WEIGHTS_DIR / entry.file
        if source.is_file():
            (tmp_path / entry.file).symlink_to(source)
    (tmp_path / bundled.BUNDLED_WEIGHTS[MISSING].file).unlink(missing_ok=True)
    broken = tmp_path / bundled.BUNDLED_WEIGHTS[BROKEN].file
    broken.unlink(missing_ok=True)
    broken.write_text("version https://git-lfs.github.com/spec/v1\nsize 123\n")
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", tmp_path)
    return tmp_path


def _methods_json(capsys) -> list[dict]:
    assert main(["methods", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# ----------------------------------------------------------------------------- CLI


def test_methods_lists_auto_first_with_what_it_runs(capsys):
    """`microdeblur methods` listed every method but 'auto', the default of deblur and watch."""
    entries = _methods_json(capsys)
    auto = entries[0]
    assert auto["name"] == "auto" and auto["kind"] == "auto"
    assert [e["name"] for e in entries].count("auto") == 1
    text = auto["description"]
    for modality, rgb in (("em", False), ("fluorescence", False), ("brightfield", True)):
        assert f"{modality}: {bundled.auto_label(MethodSpec('auto', modality=modality), rgb)}" \
            in text
    assert f"With --psf: {DEFAULT_PSF_AWARE}" in text and "richardson_lucy in 3D" in text
    assert main(["methods"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.split()[:2] == ["auto", "auto"] and DEFAULT_PSF_AWARE in first


def test_auto_description_follows_the_defaults_table(capsys, monkeypatch):
    """The words come from core.bundled's rules: a changed default shows, no stale text."""
    monkeypatch.setitem(bundled.DEFAULTS_BY_MODALITY, "fluorescence", ("gran.fluo_v1",))
    text = _methods_json(capsys)[0]["description"]
    assert text.split("fluorescence: ")[1].split(";")[0] == "gran.fluo_v1"


def test_auto_is_marked_when_a_network_it_runs_is_unreadable(capsys, damaged_weights):
    (damaged_weights / bundled.BUNDLED_WEIGHTS[DEFAULT_PSF_AWARE].file).unlink()
    entries = {e["name"]: e for e in _methods_json(capsys)}
    assert entries["auto"]["installed"] is False
    assert entries[MISSING]["installed"] is False and entries[BROKEN]["installed"] is False


# ----------------------------------------------------------------------------- docks


def test_method_list_marks_missing_and_unreadable_weights(qtbot, damaged_weights):
    """The list showed '(bundled)' for every name, the missing and unreadable ones too."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QComboBox

    from napari_microdeblur._widgets._methods import fill_method_combo

    box = QComboBox()
    qtbot.addWidget(box)
    fill_method_combo(box, leading=(("auto", "auto"),))
    texts = {box.itemData(i): box.itemText(i) for i in range(box.count())}
    marked = {name for name, text in texts.items() if text.endswith("(not installed)")}
    assert marked == {MISSING, BROKEN}
    for name in marked:
        tip = box.itemData(box.findData(name), Qt.ToolTipRole)
        assert "reinstall napari-microdeblur" in tip and "\n" not in tip


@pytest.mark.parametrize(("name", "state"), [(MISSING, "is missing"), (BROKEN, "is unreadable")])
def test_choosing_uninstalled_weights_says_the_fix_in_one_line(make_napari_viewer, qtbot,
                                                               damaged_weights, name, state):
    """Choosing them showed no mark, then Start said '...: no such file; check the name and
    the folder' (missing) or a safetensors error (unreadable), neither naming the fix."""
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer()
    layer = viewer.add_image(np.random.default_rng(0).random((64, 64)).astype(np.float32))
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    w.set_method(name)
    shown = w.method.card_view.summary_label.text()
    assert "reinstall napari-microdeblur" in shown and state in shown
    start = len(notification_manager.records)
    assert w.run() is None
    messages = [str(n.message) for n in notification_manager.records[start:]]
    assert len(messages) == 1 and "\n" not in messages[0]
    assert "reinstall napari-microdeblur" in messages[0] and name in messages[0]
    assert [la.name for la in viewer.layers] == [layer.name]  # nothing added or changed
