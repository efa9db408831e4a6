"""A z-stack walkthrough's fixes: the Deblur dock names what each channel of a PSF per channel
ran ('auto' with a 3D PSF on a z-stack runs Richardson-Lucy in 3D, not the PSF-aware network
'auto' names for the whole request), in its status line, layer name and record, which a saved
file keeps with each channel's run as the CLI's does; the held-out check says when its cap,
not the image's noise, stopped it; `microdeblur info` numbers channels from 1, as deblur's
lines and the docks do."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scipy.signal import fftconvolve
from test_modality import V1, tiny_weights

from napari_microdeblur.cli import main
from napari_microdeblur.cli_info import describe, text_block
from napari_microdeblur.core import bundled
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms
OPTICS = "na=1.4,size=9,pixel=0.1"
# widefield-like: 'auto' runs each in 3D (bundled.auto_runs_in_3d)
WIDEFIELD = [f"widefield:{OPTICS},wavelength={w},nz=7,dz=0.2" for w in (0.46, 0.61)]
PLANAR = f"widefield:{OPTICS},wavelength=0.61,nz=3,dz=1.5"  # 0.84 in focus: the network runs


@pytest.fixture
def dock(make_napari_viewer, monkeypatch, tmp_path):
    """A Deblur dock on a CZYX layer (2 channels of 9 x 32 x 32 at 0.2 x 0.1 x 0.1 um), the
    bundled names as tiny random networks."""
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", tmp_path)
    table = {name: tiny_weights(name, tmp_path) for name in (*V1, DEFAULT_PSF_AWARE)}
    monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS", table)
    viewer = make_napari_viewer()
    data = np.random.default_rng(0).poisson(200, (2, 9, 32, 32)).astype(np.float32)
    layer = viewer.add_image(data, name="stack", scale=(1, 0.2, 0.1, 0.1))
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("CZYX")
    w.device_combo.setCurrentText("cpu")
    return viewer, w


def run_auto(qtbot, w, psf: str) -> str:
    """Run 'auto' with ``psf``; the status line the run started with."""
    w.set_method("auto")
    w.use_psf_check.setChecked(True)
    w.psf_edit.setText(psf)
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    run = w.run()
    assert run is not None, w.status_label.text()
    started = w.status_label.text()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    assert w.last_run.error is None
    return started


def saved_info(layer, path) -> str:
    from napari_microdeblur._writer import save_calibrated

    with pytest.warns(UserWarning, match="no length unit"):  # napari's scale has no unit
        save_calibrated(layer, str(path))
    return text_block(describe(str(path)))


def test_the_dock_names_the_3d_richardson_lucy_each_channel_ran(dock, qtbot, tmp_path):
    viewer, w = dock
    started = run_auto(qtbot, w, ";".join(WIDEFIELD))
    assert "with richardson_lucy..." in started and DEFAULT_PSF_AWARE not in started
    out = viewer.layers[-1]
    assert out.name.startswith("stack deblurred [richardson_lucy, PSF widefield c1 0.46um")
    record = out.metadata["microdeblur"]
    assert record["method"] == "richardson_lucy"
    # no network ran: no weights are recorded
    assert record["weights_sha256"] is None and record["arch"] is None
    runs = record["channels"]  # each channel's run, as the CLI's record keeps them
    assert [r["method"] for r in runs] == ["richardson_lucy"] * 2
    assert all(r["weights_sha256"] is None and r["parameters"]["iterations"] >= 1 for r in runs)
    assert "added 'stack deblurred [richardson_lucy" in w.status_label.text()
    text = saved_info(out, tmp_path / "saved.ome.tif")
    assert DEFAULT_PSF_AWARE not in text
    deblurred = next(line for line in text.splitlines() if "deblurred:" in line)
    assert deblurred.startswith("  deblurred: richardson_lucy, PSF widefield:")
    assert "iterations" not in deblurred  # each channel's line gives its own
    count = runs[0]["parameters"]["iterations"]
    assert f"  channel 1: richardson_lucy, iterations {count}" in text
    assert "  channel 2: richardson_lucy, iterations" in text


def test_the_dock_names_each_channel_where_they_ran_different_methods(dock, qtbot, tmp_path):
    viewer, w = dock
    started = run_auto(qtbot, w, f"{WIDEFIELD[0]};{PLANAR}")
    ran = f"c1 richardson_lucy, c2 {DEFAULT_PSF_AWARE}"
    assert f"with {ran}..." in started
    out = viewer.layers[-1]
    assert out.name.startswith(f"stack deblurred [{ran}, PSF widefield")
    record = out.metadata["microdeblur"]
    # no one method (the CLI's record has none either), and no one network's weights
    assert record["method"] is None and record["weights_sha256"] is None
    first, second = record["channels"]
    assert (first["method"], first["weights_sha256"]) == ("richardson_lucy", None)
    sha = bundled.BUNDLED_WEIGHTS[DEFAULT_PSF_AWARE].sha256
    assert (second["method"], second["weights_sha256"]) == (DEFAULT_PSF_AWARE, sha)
    text = saved_info(out, tmp_path / "saved.ome.tif")
    assert "  deblurred: one method per channel, PSF widefield:" in text
    assert "  channel 1: richardson_lucy, iterations" in text
    assert f"  channel 2: {DEFAULT_PSF_AWARE}, weights " in text


def _cone(planes=9, size=15) -> np.ndarray:
    """A widefield-like 3D PSF: a sharp in-focus plane, wider planes above and below."""
    psf = np.stack([gaussian_psf(0.8 + 0.8 * abs(z - planes // 2), size=size)
                    for z in range(planes)])
    return (psf / psf.sum()).astype(np.float32)


def _blurred(sharp, psf, peak, seed=1) -> np.ndarray:
    pad = [(s // 2, s // 2) for s in psf.shape]
    out = np.clip(fftconvolve(np.pad(sharp, pad, mode="reflect"), psf, mode="valid"), 0, None)
    rng = np.random.default_rng(seed)
    return (rng.poisson(out * peak) / peak if peak else out).astype(np.float32)


def test_the_held_out_check_says_when_the_cap_stopped_it():
    """Beads under a widefield-like PSF still improve at 30 iterations (more gain more
    against the sharp stack); a noisy texture stops earlier, by its noise: not the cap's."""
    # new here: the old check gave the count only
    from napari_microdeblur.core.classical import (
        held_out_check,
        held_out_iterations,
        still_improving_text,
    )
    from napari_microdeblur.core.inference import deblur
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.metrics import psnr

    psf, rng = _cone(), np.random.default_rng(4)
    beads = np.zeros((16, 64, 64), np.float32)
    beads[rng.integers(4, 12, 30), rng.integers(6, 58, 30), rng.integers(6, 58, 30)] = 1.0
    stack = _blurred(beads, psf, 2000.0)
    found = held_out_check(stack, psf, max_iterations=30)
    assert found == (30, True)
    assert held_out_iterations(stack, psf, max_iterations=30) == 30  # the count, as before
    scores = [psnr(deblur(stack, method=MethodSpec("richardson_lucy", psf=psf, iterations=n),
                          axes="ZYX", device="cpu"), beads, data_range=1.0) for n in (30, 90)]
    assert scores[1] > scores[0] + 1.0  # 'still improving' held against the sharp stack

    field = fftconvolve(rng.random((16, 64, 64)), np.ones((3, 3, 3)) / 27, mode="same")
    noisy = _blurred(((field - field.min()) / np.ptp(field)).astype(np.float32), psf, 10.0)
    early = held_out_check(noisy, psf, max_iterations=30)
    assert early.iterations < 30 and not early.still_improving
    # capped below where the noise stops it: the cap stopped it
    assert held_out_check(noisy, psf, max_iterations=early.iterations - 1) == (
        early.iterations - 1, True)
    note = still_improving_text(30)
    assert "cap of 30" in note and "still improving" in note and "above 30" in note


def test_info_numbers_channels_from_one(tmp_path, capsys):
    image = np.random.default_rng(0).poisson(100, (2, 48, 48)).astype(np.uint16)
    source, out = tmp_path / "cyx.tif", tmp_path / "out.tif"
    tifffile.imwrite(source, image, metadata={"axes": "CYX"})
    assert main(["deblur", str(source), "-o", str(out), "--axes", "CYX", "--method",
                 "richardson_lucy", "--iterations", "3", "--psf", "gaussian:1.2;gaussian:2",
                 "--device", "cpu"]) == 0
    said = capsys.readouterr().err
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "  channel 1: richardson_lucy, iterations 3" in text
    assert "  channel 2: richardson_lucy, iterations 3" in text
    assert "channel 0" not in text and "channel 3" not in text
    assert "channel 0" not in said  # deblur's own lines number from 1 too


def _cone_psf(planes=9, size=15) -> np.ndarray:
    psf = np.stack([gaussian_psf(0.8 + 0.8 * abs(z - planes // 2), size=size)
                    for z in range(planes)])
    return (psf / psf.sum()).astype(np.float32)


def test_the_iterations_note_says_the_cap_stopped_a_3d_run_still_improving():
    psf, rng = _cone_psf(), np.random.default_rng(4)
    beads = np.zeros((16, 64, 64), np.float32)
    beads[rng.integers(4, 12, 30), rng.integers(6, 58, 30), rng.integers(6, 58, 30)] = 1.0
    pad = [(s // 2, s // 2) for s in psf.shape]
    stack = np.clip(fftconvolve(np.pad(beads, pad, mode="reflect"), psf, mode="valid"), 0, None)
    stack = (rng.poisson(stack * 2000.0) / 2000.0).astype(np.float32)
    said = "stopped at the cap of 30 while the held-out check was still improving"
    from napari_microdeblur.core.inference import deblur

    with pytest.warns(UserWarning, match=f"richardson_lucy: 30 iterations .*at most 30; {said}"):
        deblur(stack, method="richardson_lucy", psf=psf, axes="ZYX", device="cpu")
    with pytest.warns(UserWarning, match=f"Richardson-Lucy in 3D \\(30 iterations; {said}: give "
                      "iterations a number above 30 for more, e.g. iterations=100 "
                      "\\(--iterations 100 on the command line\\)\\)"):
        deblur(stack, method="auto", psf=psf, axes="ZYX", device="cpu")
    noisy = (rng.poisson(np.clip(stack, 0, None) * 5.0) / 5.0).astype(np.float32)
    with pytest.warns(UserWarning) as caught:  # stopped by the noise: not said
        deblur(noisy, method="richardson_lucy", psf=psf, axes="ZYX", device="cpu")
    assert not any("still improving" in str(w.message) for w in caught)
