"""Audit of the plugin as napari sees it: manifest commands, docks, menus, and the samples."""

import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import napari_microdeblur
from napari_microdeblur import _sample_data

PLUGIN = "napari-microdeblur"
PACKAGE = Path(napari_microdeblur.__file__).parent
MANIFEST = yaml.safe_load((PACKAGE / "napari.yaml").read_text())
SAMPLE_KEYS = [s["key"] for s in MANIFEST["contributions"]["sample_data"]]
MAKERS = [_sample_data.make_nuclei_pair, _sample_data.make_em_pair,
          _sample_data.make_fluo_stack_pair, _sample_data.make_histology_pair]


def _resolve(python_name: str):
    module, attr = python_name.split(":")
    return getattr(importlib.import_module(module), attr)


def test_every_command_resolves_to_a_callable_napari_can_call():
    """Widgets take the viewer as ``napari_viewer``; samples take no argument; the writer
    takes (path, data, meta); the reader takes a path; the menu action takes the active layer
    and the viewer."""
    contributions = MANIFEST["contributions"]
    widgets = {w["command"] for w in contributions["widgets"]}
    samples = {s["command"] for s in contributions["sample_data"]}
    writers = {w["command"] for w in contributions.get("writers", [])}
    readers = {r["command"] for r in contributions.get("readers", [])}
    for command in contributions["commands"]:
        target = _resolve(command["python_name"])
        assert callable(target), command["id"]
        params = list(inspect.signature(target).parameters)
        if command["id"] in widgets:
            assert params[0] == "napari_viewer", command["id"]
        elif command["id"] in samples:
            assert params == [], command["id"]
        elif command["id"] in writers:  # npe2's single-layer writer
            assert params == ["path", "data", "meta"], command["id"]
        elif command["id"] in readers:  # npe2's reader: path in, a layer-data function out
            assert params == ["path"], command["id"]
        else:
            assert params == ["layer", "viewer"], command["id"]


def test_every_dock_opens_from_the_plugins_menu(make_napari_viewer):
    viewer = make_napari_viewer()
    for contribution in MANIFEST["contributions"]["widgets"]:
        dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN,
                                                            contribution["display_name"])
        assert type(widget).__name__ == _resolve(next(
            c["python_name"] for c in MANIFEST["contributions"]["commands"]
            if c["id"] == contribution["command"])).__name__
        assert contribution["display_name"] in dock.name


@pytest.mark.parametrize("maker", MAKERS, ids=lambda f: f.__name__)
def test_sample_layers_name_their_axes(maker):
    """The viewer's sliders and axis labels read z / y / x, not napari's -3 / -2 / -1."""
    for data, kwargs, kind in maker():
        assert kind == "image"
        spatial = data.ndim - (1 if kwargs.get("rgb") else 0)
        assert kwargs["axis_labels"] == ("z", "y", "x")[-spatial:]


@pytest.mark.parametrize("maker", MAKERS, ids=lambda f: f.__name__)
def test_sample_layers_carry_their_licence_and_source(maker):
    pair = maker()
    for _, kwargs, _ in pair:
        meta = kwargs["metadata"]
        assert meta["licence"] and meta["source"], kwargs["name"]
        assert "samples/README.md" in meta["attribution"]
    # two separate dicts: editing one layer's metadata does not change its pair's
    assert pair[0][1]["metadata"] is not pair[1][1]["metadata"]


def test_focus_stack_metadata_gives_each_planes_defocus():
    """DFNN frames are 0.05 um apart and frame 51 is in focus: plane 7 is at 0 um."""
    for _, kwargs, _ in _sample_data.make_fluo_stack_pair():
        defocus = kwargs["metadata"]["plane_defocus_um"]
        assert len(defocus) == 14
        assert defocus[7] == 0.0 and defocus[0] == pytest.approx(-0.9)
        assert defocus == sorted(defocus)


def test_bundled_mit_sample_ships_its_permission_notice():
    """MIT requires its copyright and permission notice in every copy of the data."""
    readme = (PACKAGE / "samples" / "README.md").read_text()
    assert "Copyright (c) 2023 ZJUOPTKuangLab" in readme
    notice = ("The above copyright notice and this permission notice shall be included in all"
              " copies or substantial portions of the Software.")
    assert notice in " ".join(readme.split())
    assert "https://creativecommons.org/licenses/by/4.0/" in readme


def test_opening_samples_writes_nothing(tmp_path):
    """Opening every sample (in a fresh process, cwd a new folder) writes no file there nor
    into the package's samples folder."""
    samples = PACKAGE / "samples"
    before = {p.name: p.stat().st_mtime_ns for p in samples.iterdir()}
    code = ("from napari_microdeblur import _sample_data as s\n"
            "for f in (s.make_nuclei_pair, s.make_em_pair, s.make_fluo_stack_pair,"
            " s.make_histology_pair): f()\n")
    env = dict(os.environ, PYTHONPATH=str(PACKAGE.parent))
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True,
                   timeout=120)
    assert list(tmp_path.iterdir()) == []
    assert {p.name: p.stat().st_mtime_ns for p in samples.iterdir()} == before


def test_samples_open_in_the_viewer_as_a_biologist_expects(make_napari_viewer):
    """Grey, shared contrast within each pair, RGB histology at its stated pixel size in um,
    a z-labelled fluorescence stack."""
    viewer = make_napari_viewer()
    for key in SAMPLE_KEYS:
        viewer.layers.clear()
        viewer.open_sample(PLUGIN, key)
        blurred, sharp = viewer.layers
        assert tuple(blurred.contrast_limits) == tuple(sharp.contrast_limits), key
        assert blurred.rgb == sharp.rgb == (key == "histology_pair")
        if not blurred.rgb:
            assert blurred.colormap.name == sharp.colormap.name == "gray"
        if key == "histology_pair":
            assert tuple(sharp.scale) == (0.495, 0.495)
            assert str(sharp.units[0]) == "pixel"  # napari's default, as the other samples
        if key == "fluo_stack_pair":
            assert viewer.dims.axis_labels == ("z", "y", "x")
