"""A Deblur dock result's record is enough to make it again (2026-12-05 walkthrough): it said
``precision: "auto"`` only (the run was bfloat16; float32 differs by up to 12.6), a PSF from
beads only as 'layer:PSF from beads' and 'array' (no values, no sha256, no beads), and the input
only by its layer name though it was opened from a file. Driven in a real viewer under Xvfb
with tiny random bundled networks and a classical method."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
import torch
from test_beads import bead_image
from test_modality import V1, tiny_weights
from test_widgets import _clean_session, dock, wait_idle  # noqa: F401 - autouse fixture

from napari_microdeblur._widgets._layer_data import deblur_metadata
from napari_microdeblur.core import bundled
from napari_microdeblur.core.method import MethodSpec, auto_precision
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE
from napari_microdeblur.core.tiling_spec import TilingSpec

TIMEOUT = 60_000  # ms


@pytest.fixture(autouse=True)
def tiny_bundled(monkeypatch, tmp_path):
    """The v1 names and the PSF-aware name as tiny random networks."""
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", tmp_path)
    table = {name: tiny_weights(name, tmp_path) for name in (*V1, DEFAULT_PSF_AWARE)}
    monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS", table)
    return table


def run_dock(qtbot, w):
    run = w.run()
    assert run is not None, w.status_label.text()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.layer is not None, w.status_label.text()
    return run.layer.metadata["microdeblur"]


def opened(viewer, tmp_path, name, data):
    path = tmp_path / "data" / name
    path.parent.mkdir(exist_ok=True)
    tifffile.imwrite(path, data)
    return viewer.open(str(path))[0]


def beads_psf_dock(make_napari_viewer, qtbot, tmp_path, fluo_u8):
    """The walkthrough's steps: image and beads opened from files, PSF from beads, PSF on."""
    viewer = make_napari_viewer()
    image = opened(viewer, tmp_path, "fluo_px.tif", fluo_u8[:64, :64])
    beads = opened(viewer, tmp_path, "beads.tif", bead_image((96, 96), (1.5, 1.5))[0])
    w = dock(viewer, "Deblur")
    w.layer_combo.set_value(image)
    w.device_combo.setCurrentText("cpu")
    w.use_psf_check.setChecked(True)
    w.psf_from_beads(beads)
    wait_idle(qtbot, w)
    assert w.psf_edit.text() == "layer:PSF from beads", w.status_label.text()
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    return viewer, w


def test_a_psf_from_beads_run_records_the_psf_its_beads_and_the_input_file(
        make_napari_viewer, qtbot, tmp_path, fluo_u8):
    viewer, w = beads_psf_dock(make_napari_viewer, qtbot, tmp_path, fluo_u8)
    w.set_method("richardson_lucy")
    meta = run_dock(qtbot, w)
    psf = np.ascontiguousarray(viewer.layers["PSF from beads"].data, dtype=np.float32)
    given = meta["psf_array"]
    # was: 'layer:PSF from beads' and parameters.psf 'array' only
    assert given["shape"] == list(psf.shape)
    assert given["sha256"] == hashlib.sha256(psf.tobytes()).hexdigest()
    from napari_microdeblur._widgets._layer_record import PSF_VALUES_MAX

    assert psf.size <= PSF_VALUES_MAX
    values = np.asarray(given["values"], dtype=np.float32)
    assert hashlib.sha256(values.tobytes()).hexdigest() == given["sha256"]  # exactly back
    origin = meta["psf_origin"]
    assert origin["layer"] == "PSF from beads"
    assert origin["record"]["psf_from_beads"] == "beads"
    assert origin["record"]["bead_file"] == "beads.tif"
    assert "bead" in origin["record"]["report"]
    # was: the layer's name only
    assert meta["source_file"] == "fluo_px.tif" and meta["source_layer"] == "fluo_px"
    assert meta["precision"] is None  # Richardson-Lucy is no network
    assert str(tmp_path) not in json.dumps(meta)  # names, not the user's folders


def test_a_network_run_records_the_precision_it_ran_in(make_napari_viewer, qtbot, tmp_path,
                                                       fluo_u8):
    # the walkthrough's run: 'auto' with a PSF from beads runs the PSF-aware network
    _, w = beads_psf_dock(make_napari_viewer, qtbot, tmp_path, fluo_u8)
    w.set_method("auto")
    meta = run_dock(qtbot, w)
    assert meta["parameters"]["precision"] == "auto"  # as asked, like the CLI's record
    # was: no top-level precision, so a rerun could not know bfloat16 from float32
    assert meta["precision"] == auto_precision(torch.device("cpu"))
    assert meta["precision"] in ("bfloat16", "float32")
    assert "psf_array" in meta and meta["psf_origin"]["record"]["bead_file"] == "beads.tif"
    w.precision_combo.setCurrentText("float32")
    assert run_dock(qtbot, w)["precision"] == "float32"


def test_a_large_psf_array_is_recorded_by_shape_and_sha256_without_its_values():
    psf = np.ones((31, 65, 65), np.float32) / (31 * 65 * 65)  # a measured 3D PSF layer
    req = SimpleNamespace(
        source_name="cells", method=MethodSpec("richardson_lucy", psf=psf, iterations=5),
        network=None, scope="whole stack", offset=(0, 0), tiling=TilingSpec(),
        placement={"rgb": False, "ndim": 2, "scale": (1.0, 1.0), "source": lambda: None,
                   "source_path": "/home/alice/data/cells.ome.tif"},
        axes="YX", psf_text="layer:gone")
    result = SimpleNamespace(parameters={"psf": psf, "iterations": 5}, axes="YX",
                             tile=(64, 64), overlap=(8, 8), device="cpu",
                             normalization=SimpleNamespace(kind="scale", offset=0.0, scale=9.0))
    outcome = SimpleNamespace(result=result, card=None, seconds=1.0, label="richardson_lucy")
    meta = deblur_metadata(req, outcome)
    assert meta["psf_array"] == {"shape": [31, 65, 65], "dtype": "float32",
                                 "sha256": hashlib.sha256(psf.tobytes()).hexdigest()}
    assert meta["psf_origin"] == {"layer": "gone"}  # no such layer in a viewer: its name
    assert meta["source_file"] == "cells.ome.tif"
    assert len(json.dumps(meta)) < 4000
    # a float32 precision asked for is recorded as it is; 'auto' on the CPU resolved
    result.parameters = {"precision": "float32"}
    assert deblur_metadata(req, outcome)["precision"] == "float32"
    result.parameters = {"precision": "auto"}
    assert deblur_metadata(req, outcome)["precision"] == auto_precision(torch.device("cpu"))
