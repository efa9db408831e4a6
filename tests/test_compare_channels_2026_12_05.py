"""Compare & QC on a ground truth with a C axis (walkthrough 'tlapse2', 2026-12-05): each
channel is scaled on its own range, as ``microdeblur evaluate`` scores it
(``core.channel_metrics``); the dock had scored DAPI on GFP's maximum, 4.5 dB off
``evaluate``'s figure for the same slice. The whole-stack summary and plots name the T and C
they hold fixed ('mean over 6 slice(s)' did not say which). Driven in a real viewer under
Xvfb; tests wait on conditions, never on fixed delays."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from test_widgets import (  # noqa: F401 - _clean_session: the same autouse fixture
    TIMEOUT,
    _clean_session,
    dock,
)

from napari_microdeblur.core.channel_metrics import channel_scores

NAMES = ["DAPI", "GFP"]


def pair(shape=(2, 2, 3, 64, 64), tops=(900, 3000)):
    """(blurry, truth) uint16 with each channel on its own range (DAPI to 900, GFP to 3000)
    and each slice noisier by its own amount."""
    rng = np.random.default_rng(5)
    truth = rng.random(shape)
    for c, top in enumerate(tops):
        truth[:, c] = truth[:, c] / truth[:, c].max() * top
    amount = np.arange(1, shape[0] * shape[2] + 1, dtype=float).reshape(shape[0], 1, shape[2],
                                                                        1, 1)
    blurry = truth + rng.standard_normal(shape) * amount * 10
    return (np.clip(blurry, 0, 65535).astype(np.uint16), truth.round().astype(np.uint16))


@pytest.fixture
def opened(make_napari_viewer, tmp_path):
    """A viewer with blurry and truth opened from OME-TIFFs (TCZYX, channels DAPI and GFP)
    by napari's own reader, which names no axes nor channels: the files do."""
    blurry, truth = pair()
    viewer = make_napari_viewer()
    layers = []
    for data, name in ((blurry, "tl"), (truth, "truth")):
        path = tmp_path / f"{name}.ome.tif"
        tifffile.imwrite(path, data, ome=True,
                         metadata={"axes": "TCZYX", "Channel": {"Name": NAMES}})
        layers.append(viewer.open(str(path), plugin="napari")[0])
    w = dock(viewer, "Compare & QC")
    w.set_layers(blurry=layers[0], truth=layers[1])
    return viewer, w, blurry, truth


def evaluate_scores(blurry, truth):
    return channel_scores(blurry.astype(np.float64), truth, "TCZYX", border=16, names=NAMES)


def shown(w, at: str, want: dict) -> bool:
    """Whether the table shows slice ``at`` with blurry's figures ``want`` (a prefetch or
    an older slice's table may come first)."""
    last = w.last_result or {}
    return (w.slice_label.text().startswith(f"current slice: {at};")
            and all(np.isclose(last.get(f"{k}_blurry", np.nan), v, rtol=0, atol=1e-6)
                    for k, v in want.items()))


def test_each_channel_slice_scores_as_evaluate(opened, qtbot):
    viewer, w, blurry, truth = opened
    scores = evaluate_scores(blurry, truth)
    for t, c, z in ((0, 0, 2), (1, 1, 1), (1, 0, 0)):
        for axis, value in enumerate((t, c, z)):
            viewer.dims.set_current_step(axis, value)
        w.schedule_update()
        want = {k: scores[c][f"{k}_per_slice"][t * 3 + z] for k in ("psnr", "ssim")}

        qtbot.waitUntil(lambda at=f"T {t}, C {c}, Z {z}", want=want: shown(w, at, want),
                        timeout=20_000)
        text = w.scale_label.text()
        assert f"channel C {c} ({NAMES[c]})" in text
        assert f"this channel's maximum ({scores[c]['reference_scale']:g})" in text


def test_whole_stack_names_the_t_and_c_it_holds(opened, qtbot):
    viewer, w, blurry, truth = opened
    viewer.dims.set_current_step(0, 1)
    viewer.dims.set_current_step(1, 1)
    w.compute_stack()
    qtbot.waitUntil(lambda: w.stack_results is not None, timeout=TIMEOUT)
    scores = evaluate_scores(blurry, truth)
    np.testing.assert_allclose([r["psnr_blurry"] for r in w.stack_results],
                               scores[1]["psnr_per_slice"][3:6], atol=1e-6)
    assert w.summary_label.text().startswith("mean over 3 slice(s) of Z at T 1, C 1 (GFP): ")
    assert w.psnr_plot.title == "PSNR (dB) per Z slice at T 1, C 1 (GFP)"
    assert w.ssim_plot.title == "SSIM per Z slice at T 1, C 1 (GFP)"
    assert w.psnr_plot.xlabel == "Z"
    viewer.dims.set_current_step(0, 0)  # T moves: the plot of T 1 goes, its titles too
    qtbot.waitUntil(lambda: w.stack_results is None, timeout=TIMEOUT)
    assert w.psnr_plot.title == "PSNR (dB) per slice"


def test_stack_along_channels_scores_each_on_its_range(make_napari_viewer, qtbot):
    """A C Y X layer (no Z) runs Whole stack along C: each slice on its own channel's range;
    channels named by the layer's metadata, the axes by its axis labels."""
    blurry, truth = (a[0, :, 0] for a in pair())
    viewer = make_napari_viewer()
    meta = {"channel_names": NAMES}
    b = viewer.add_image(blurry, name="b", axis_labels=("c", "y", "x"), metadata=meta)
    g = viewer.add_image(truth, name="g", axis_labels=("c", "y", "x"), metadata=meta)
    w = dock(viewer, "Compare & QC")
    w.set_layers(blurry=b, truth=g)
    w.compute_stack()
    qtbot.waitUntil(lambda: w.stack_results is not None, timeout=TIMEOUT)
    scores = channel_scores(blurry.astype(np.float64), truth, "CYX", border=16, names=NAMES)
    np.testing.assert_allclose([r["psnr_blurry"] for r in w.stack_results],
                               [s["psnr"] for s in scores], atol=1e-6)
    assert w.summary_label.text().startswith("mean over 2 slice(s) of c: ")
