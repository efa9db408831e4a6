"""Compare & QC on a ground truth with a C axis (2026-12-09): the dock's per-channel
intensity scale is ``core.channel_metrics.channel_scale``, the rule ``microdeblur evaluate``
scores each channel by, so the dock's PSNR of a channel is the CLI's; and the line shown once
a whole-stack plot goes stale names the layers and the slices (T, C) it was of, and where the
sliders are now ('index 2 of the other sliders' named no axis and no layer). Driven in a real
viewer under Xvfb; tests wait on conditions, never on fixed delays."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
)

from napari_microdeblur.cli import main
from napari_microdeblur.core.channel_metrics import CONSTANT_RULE

NAMES = ["DAPI", "GFP"]


def channel_pair(shape, tops, seed=3):
    """(blurry, truth) uint16 of ``shape`` (C Y X or T C Z Y X), each channel on its own
    range: channel c up to ``tops[c]``, or all zero where ``tops[c]`` is None (a uint16
    channel with no range of its own: scored on the whole truth's); noise 5 % of each
    channel's range (of 300 for a zero channel)."""
    rng = np.random.default_rng(seed)
    truth = rng.random(shape)
    blurry = truth.copy()
    c_axis = 0 if len(shape) == 3 else 1
    for c, top in enumerate(tops):
        where = (slice(None),) * c_axis + (c,)
        truth[where] = 0 if top is None else truth[where] / truth[where].max() * top
        blurry[where] = truth[where] + rng.standard_normal(truth[where].shape) * 0.05 * (
            top or 300)
    return np.clip(blurry, 0, 65535).astype(np.uint16), truth.round().astype(np.uint16)


def write_pair(tmp_path, blurry, truth, axes):
    paths = []
    for data, name in ((blurry, "tl"), (truth, "truth")):
        path = tmp_path / f"{name}.ome.tif"
        tifffile.imwrite(path, data, ome=True,
                         metadata={"axes": axes, "Channel": {"Name": NAMES}})
        paths.append(path)
    return paths


def open_in_dock(viewer, paths):
    """The two files opened by napari's own reader (no axes, no channel names: the files
    hold them) and chosen as blurry and ground truth in Compare & QC."""
    layers = [viewer.open(str(path), plugin="napari")[0] for path in paths]
    w = dock(viewer, "Compare & QC")
    w.set_layers(blurry=layers[0], truth=layers[1])
    return w, layers


@pytest.mark.parametrize("tops", [(300, 6000), (None, 6000)],
                         ids=["dim and bright", "zero and bright"])
def test_dock_channel_psnr_is_evaluates(make_napari_viewer, qtbot, tmp_path, capsys, tops):
    """The dock's PSNR of each channel equals ``microdeblur evaluate``'s per-channel figure on
    the same files: the dim channel on its own range, an all-zero one on the whole truth's."""
    blurry, truth = channel_pair((2, 96, 96), tops)
    paths = write_pair(tmp_path, blurry, truth, "CYX")
    assert main(["evaluate", str(paths[0]), "--reference", str(paths[1]), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)["channels"]
    assert [ch["name"] for ch in cli] == NAMES
    viewer = make_napari_viewer()
    w, _ = open_in_dock(viewer, paths)
    for c in (1, 0):
        viewer.dims.set_current_step(0, c)
        w.schedule_update()
        qtbot.waitUntil(lambda c=c: w.slice_label.text().startswith(f"current slice: {c};")
                        and w.last_result is not None
                        and f"channel C {c} ({NAMES[c]})" in w.scale_label.text(),
                        timeout=TIMEOUT)
        qtbot.waitUntil(lambda c=c: np.isclose(w.last_result["psnr_blurry"], cli[c]["psnr"],
                                               rtol=0, atol=1e-6), timeout=TIMEOUT)
        assert cli[c]["scale_rule"] in w.scale_label.text()
    if tops[0] is None:  # evaluate's rule for a channel with no range of its own
        assert cli[0]["scale_rule"] == CONSTANT_RULE
    else:  # the dim channel on its own range: on the bright one's, ~26 dB more
        assert abs(cli[0]["psnr"] - cli[1]["psnr"]) < 3


def test_stale_stack_line_names_the_layers_and_slices(make_napari_viewer, qtbot, tmp_path):
    """Whole stack along Z at T 1, C 1 (GFP); T moves to 0: the line says the plot was of the
    Z slices at T 1, C 1 (GFP) of blurry 'tl.ome' against ground truth 'truth.ome', and the
    sliders are now at T 0, C 1."""
    blurry, truth = channel_pair((2, 2, 3, 64, 64), (900, 3000))
    viewer = make_napari_viewer()
    w, layers = open_in_dock(viewer, write_pair(tmp_path, blurry, truth, "TCZYX"))
    viewer.dims.set_current_step(0, 1)
    viewer.dims.set_current_step(1, 1)
    w.compute_stack()
    qtbot.waitUntil(lambda: w.stack_results is not None, timeout=TIMEOUT)
    layers[0].name = "renamed since"  # the line names the layers the plot was drawn for
    viewer.dims.set_current_step(0, 0)
    qtbot.waitUntil(lambda: w.stack_results is None, timeout=TIMEOUT)
    line = w.summary_label.text()
    assert line.startswith("the whole-stack plot was of the Z slices at T 1, C 1 (GFP) "), line
    assert "of blurry 'tl.ome' against ground truth 'truth.ome'" in line
    assert "the sliders are now at T 0, C 1: press Whole stack again" in line
