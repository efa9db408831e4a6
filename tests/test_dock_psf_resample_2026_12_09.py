"""The Deblur dock takes a PSF file stating other voxels than the layer's as the CLI does: resampled
to the layer's (``core.psf_scale.psf_resampling``, which ``microdeblur deblur`` runs through
``psf_for_image``). It only warned and ran the file's PSF as it was, so the same file and image
gave another, worse result in the dock. The preview shows the PSF the run takes, the warning
is the CLI's line and the result's record says what was resampled, from what to what."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from test_modality import V1, tiny_weights

from napari_microdeblur._widgets import _deblur
from napari_microdeblur.core import bundled
from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms
IMAGE_UM = {"Z": 0.3, "Y": 0.1, "X": 0.1}
PSF_UM = {"Z": 0.1, "Y": 0.05, "X": 0.05}
ITERATIONS = 4


def _gaussian(shape, sigma) -> np.ndarray:
    grids = np.meshgrid(*[np.arange(n) - n // 2 for n in shape], indexing="ij")
    g = np.exp(-0.5 * sum((x / s) ** 2 for x, s in zip(grids, sigma)))
    return (g / g.sum()).astype(np.float32)


def _write(path, data, um) -> str:
    """An ImageJ hyperstack with its Z step and pixel size, as Fiji and psf-from-beads write."""
    tifffile.imwrite(path, data.astype(np.float32), imagej=True,
                     resolution=(1 / um["X"], 1 / um["Y"]),
                     metadata={"spacing": um["Z"], "unit": "um", "axes": "ZYX"})
    return str(path)


@pytest.fixture(autouse=True)
def tiny_bundled(monkeypatch, tmp_path):
    """The bundled names as tiny random networks (the dock opens on 'auto')."""
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", tmp_path)
    table = {name: tiny_weights(name, tmp_path) for name in (*V1, DEFAULT_PSF_AWARE)}
    monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS", table)


@pytest.fixture
def files(tmp_path):
    """A stack blurred by a Gaussian of 0.9 um (Z) and 0.2 um (YX) at 0.3 / 0.1 um voxels, and
    the same PSF in a file at 0.1 / 0.05 um (61 x 61 x 61)."""
    from scipy import ndimage

    rng = np.random.default_rng(3)
    truth = np.zeros((24, 48, 48), np.float32)  # deeper than the resampled PSF: not cut
    truth[tuple(rng.integers(2, (22, 46, 46), size=(60, 3)).T)] = 1.0
    truth = ndimage.gaussian_filter(truth, 0.7)
    truth /= truth.max()
    blurred = ndimage.convolve(truth, _gaussian((9, 13, 13), (3.0, 2.0, 2.0)), mode="reflect")
    blurred = np.clip(blurred + 0.01 + rng.normal(0, 0.002, blurred.shape), 0, None)
    stack = _write(tmp_path / "stack.tif", blurred, IMAGE_UM)
    psf = _write(tmp_path / "fine_psf.tif", _gaussian((61, 61, 61), (9.0, 4.0, 4.0)), PSF_UM)
    return stack, psf, blurred.astype(np.float32), truth


@pytest.fixture
def dock(make_napari_viewer, monkeypatch, files):
    """A Deblur dock on the stack as a layer of scale 0.3 x 0.1 x 0.1, Richardson-Lucy with the
    PSF file, and the warnings it gives."""
    stack, psf, blurred, _ = files
    viewer = make_napari_viewer()
    layer = viewer.add_image(blurred, name="stack", scale=tuple(IMAGE_UM.values()))
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("ZYX")
    w.device_combo.setCurrentText("cpu")
    w.set_method("richardson_lucy")
    w.iterations_spin.setValue(ITERATIONS)
    warned: list[str] = []
    monkeypatch.setattr(_deblur, "notify_warning", warned.append)
    return viewer, w, warned


def _cli(monkeypatch, capsys, files, out):
    """``microdeblur deblur --psf FILE``: (the PSF array its run took, its warning lines)."""
    from napari_microdeblur.cli import main
    from napari_microdeblur.core import files as core_files

    stack, psf, _, _ = files
    taken = []
    prepare = core_files.prepare_deblur

    def spy(data, axes, method, *args, **kwargs):
        taken.append(method)
        return prepare(data, axes, method, *args, **kwargs)

    monkeypatch.setattr(core_files, "prepare_deblur", spy)
    capsys.readouterr()
    assert main(["deblur", stack, "-o", str(out), "--method", "richardson_lucy", "--psf",
                 psf, "--iterations", str(ITERATIONS), "--device", "cpu"]) == 0
    said = "microdeblur: warning: "
    lines = [line[len(said):] for line in capsys.readouterr().err.splitlines()
             if line.startswith(said)]
    return taken[0].psf.array, lines


def _shown(qtbot, w, psf: str):
    w.psf_edit.setText(psf)
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    assert w.psf_preview.error is None, w.psf_preview.caption.text()
    return w.psf_preview.description


def test_the_dock_takes_the_psf_file_resampled_as_the_cli_does(dock, files, qtbot, capsys,
                                                               monkeypatch, tmp_path):
    from napari_microdeblur.core.method import MethodSpec, PsfArray
    from napari_microdeblur.core.psf_scale import psf_for_image
    from napari_microdeblur.core.shown import shown_path

    viewer, w, warned = dock
    _, psf, _, _ = files
    shown = _shown(qtbot, w, psf)
    used = w.build_request().method.psf
    assert isinstance(used, PsfArray), "the dock ran the 61^3 file's PSF as it was"
    cli_psf, cli_lines = _cli(monkeypatch, capsys, files, tmp_path / "cli.tif")
    np.testing.assert_array_equal(used.array, cli_psf)
    api, _ = psf_for_image(MethodSpec("richardson_lucy", psf=psf), IMAGE_UM, "ZYX")
    np.testing.assert_array_equal(used.array, api.psf.array)
    # the preview shows the PSF the run takes, and says from what to what
    assert ("fine_psf.tif resampled to the layer's voxels: 61 x 61 x 61 at Z 0.1, Y 0.05, "
            "X 0.05 um -> 21 x 31 x 31 at Z 0.3, Y 0.1, X 0.1 um; 3D PSF 21 x 31 x 31 px"
            in shown)
    # the run warns with the CLI's line (the image named as the dock names it)
    w.run()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    cli_line = next(line for line in cli_lines if "resampled" in line)
    assert "(61 x 61 x 61 -> 21 x 31 x 31)" in cli_line
    assert warned == [cli_line.replace(f"for {shown_path(files[0])}", "for layer 'stack'")]
    assert w._scale_warning.endswith("(61 x 61 x 61 -> 21 x 31 x 31)")


def test_the_dock_result_matches_the_cli_and_records_the_resampling(dock, files, qtbot, capsys,
                                                                    monkeypatch, tmp_path):
    viewer, w, _ = dock
    _shown(qtbot, w, files[1])
    run = w.run()
    assert run is not None, w.status_label.text()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    result = viewer.layers[-1]
    _cli(monkeypatch, capsys, files, tmp_path / "cli.tif")
    expected = tifffile.imread(tmp_path / "cli.tif")
    np.testing.assert_allclose(np.asarray(result.data), expected, rtol=1e-5, atol=1e-6)
    record = result.metadata["microdeblur"]
    assert record["psf_resampled"] == {"psf_um": PSF_UM, "image_um": IMAGE_UM,
                                       "shape": [61, 61, 61], "resampled_shape": [21, 31, 31]}
    assert record["method_spec"]["psf"] == "fine_psf.tif"
    assert record["psf_array"]["shape"] == [21, 31, 31]


def test_a_layer_at_the_files_voxels_takes_the_file_as_it_is(dock, files, qtbot):
    """Guard, and the preview follows the layer: at the file's own voxels nothing is
    resampled, and choosing the 0.3 / 0.1 um layer again shows the resampled PSF again."""
    viewer, w, warned = dock
    _, psf, blurred, _ = files
    fine = viewer.add_image(blurred, name="fine", scale=tuple(PSF_UM.values()))
    assert "resampled" in _shown(qtbot, w, psf)
    w.layer_combo.set_value(fine)
    qtbot.waitUntil(lambda: not w.psf_preview.busy and "resampled" not in (
        w.psf_preview.description or "resampled"), timeout=TIMEOUT)
    assert w.psf_preview.description.startswith("3D PSF 61 x 61 x 61 px")
    assert w.build_request().method.psf == psf
    w._warn_psf_scale(w.build_request())
    assert warned == []
    w.layer_combo.set_value(viewer.layers["stack"])
    qtbot.waitUntil(lambda: not w.psf_preview.busy and "resampled" in (
        w.psf_preview.description or ""), timeout=TIMEOUT)
