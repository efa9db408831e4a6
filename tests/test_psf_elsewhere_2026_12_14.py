"""A PSF file or array used outside the CLI's file route (walkthrough of 2026-12-14): its
voxel size and reading notes said by ``deblur(array, psf=PATH)``, an array with a camera offset
cleaned as its file is, the bead report's half sides as written."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
from test_modality import V1, tiny_weights
from test_widgets import _clean_session  # noqa: F401 - the same autouse fixture

import napari_microdeblur as md
from napari_microdeblur.core.notes import DeblurNote, DeblurWarning
from napari_microdeblur.core.psf import check_psf, fit_psf_to_image, gaussian_psf, parse_psf

PEDESTAL = 0.05  # of the peak, as a bead average's camera offset (the walkthrough's: 4.8 %)


def _psf(pedestal=PEDESTAL):
    psf = gaussian_psf((1.5, 1.2, 1.2), size=(13, 21, 21), ndim=3).astype(np.float64)
    return (psf / psf.max() + pedestal).astype(np.float32)


def _psf_file(path, psf, dz=0.1):
    tifffile.imwrite(path, psf, ome=True, metadata={
        "axes": "ZYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1, "PhysicalSizeZ": dz,
        "PhysicalSizeXUnit": "µm", "PhysicalSizeYUnit": "µm", "PhysicalSizeZUnit": "µm"})
    return path


def _stack():
    rng = np.random.default_rng(0)
    return (rng.poisson(50, (16, 40, 40)) + 100).astype(np.uint16)


def _run(image, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = md.deblur(image, method="richardson_lucy", iterations=2, axes="ZYX", **options)
    return out, caught


def _said(caught, category, text):
    return [str(w.message) for w in caught if issubclass(w.category, category)
            and text in str(w.message)]


def test_deblur_of_an_array_says_the_psf_files_voxels_and_notes_once(tmp_path):
    # was: silent; the file's Z 0.1 um against a 0.3 um stack cost 0.5 dB (below the input)
    path = _psf_file(tmp_path / "psf.ome.tif", _psf())
    _, caught = _run(_stack(), psf=str(path))
    voxels = _said(caught, DeblurWarning, "states voxels of Z 0.1 um, YX 0.1 um")
    assert len(voxels) == 1, [str(w.message) for w in caught]
    assert "used at its own sampling" in voxels[0] and "resample_psf" in voxels[0]
    assert "deblur_file" in voxels[0]
    notes = _said(caught, DeblurNote, "of the peak subtracted")
    assert len(notes) == 1 and "psf.ome.tif" in notes[0], [str(w.message) for w in caught]


def test_a_file_without_voxel_size_says_its_notes_once_and_no_voxel_line(tmp_path):
    path = tmp_path / "psf.tif"
    tifffile.imwrite(path, _psf())  # no voxel size stated
    _, caught = _run(_stack(), psf=str(path))
    assert not _said(caught, UserWarning, "states voxels"), [str(w.message) for w in caught]
    assert len(_said(caught, DeblurNote, "of the peak subtracted")) == 1


def test_deblur_file_on_an_image_without_voxel_size_says_the_notes_once(tmp_path):
    path = _psf_file(tmp_path / "psf.ome.tif", _psf())
    image = tmp_path / "stack.tif"
    tifffile.imwrite(image, _stack())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        md.deblur_file(image, tmp_path / "out.tif", method="richardson_lucy", iterations=2,
                       psf=str(path), axes="ZYX")
    said = [str(w.message) for w in caught]
    assert sum("of the peak subtracted" in s for s in said) == 1, said
    assert len(_said(caught, DeblurWarning, "states voxels of Z 0.1 um")) == 1, said


def test_deblur_file_and_the_cli_on_an_image_stating_voxels_say_no_voxel_line(tmp_path,
                                                                                capsys):
    from napari_microdeblur.cli import main

    path = _psf_file(tmp_path / "psf.ome.tif", _psf())
    image = tmp_path / "stack.tif"
    tifffile.imwrite(image, _stack(), imagej=True, resolution=(10, 10),
                     metadata={"axes": "ZYX", "spacing": 0.3, "unit": "um"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        md.deblur_file(image, tmp_path / "out.tif", method="richardson_lucy", iterations=2,
                       psf=str(path))
    said = [str(w.message) for w in caught]
    assert not any("states voxels" in s for s in said), said
    assert sum("of the peak subtracted" in s for s in said) == 1, said
    assert sum("resampled to the image's voxels" in s for s in said) == 1, said
    code = main(["deblur", str(image), "-o", str(tmp_path / "cli.tif"), "--psf", str(path),
                 "--method", "richardson_lucy", "--iterations", "2", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.count("of the peak subtracted") == 1 and "states voxels" not in err, err


def test_an_array_psf_with_a_camera_offset_is_cleaned_as_its_file_on_a_copy(tmp_path):
    # was: used as is (35.02 dB against 35.19 for the same PSF from its file)
    psf = _psf()
    given = psf.copy()
    path = tmp_path / "psf.tif"
    tifffile.imwrite(path, psf)
    image = _stack()
    from_array, caught = _run(image, psf=psf)
    from_file, _ = _run(image, psf=str(path))
    assert np.array_equal(psf, given)  # the user's array is not changed
    cleaned = _said(caught, UserWarning, "of the peak subtracted")
    assert len(cleaned) == 1 and "PSF array" in cleaned[0], [str(w.message) for w in caught]
    np.testing.assert_allclose(from_array, from_file, rtol=1e-4, atol=1e-3 * from_file.max())


@pytest.mark.parametrize("spec", ["gaussian:1.6", "gaussian:2.0,1.0", "disk:3",
                                  "astig:2.5,0.8,30"])
def test_clean_psfs_are_used_bit_identical(spec):
    kernel = parse_psf(spec)
    fitted, note = fit_psf_to_image(kernel, (256, 256))
    assert note is None
    assert np.array_equal(fitted, check_psf(kernel, 2))


def test_clean_optics_and_3d_psfs_are_used_bit_identical():
    kernels = [gaussian_psf((1.5, 1.2, 1.2), ndim=3)]
    try:
        kernels += [parse_psf("widefield:na=1.4,wavelength=0.52,pixel=0.1,nz=21,dz=0.3"),
                    parse_psf("confocal:na=1.4,wavelength=0.52,pixel=0.065")]
    except ImportError:  # psfmodels not installed: the Gaussian alone
        pass
    for kernel in kernels:
        fitted, note = fit_psf_to_image(kernel, (256,) * kernel.ndim)
        assert note is None
        assert np.array_equal(fitted, check_psf(kernel, kernel.ndim))


def test_a_resampled_psf_is_said_as_large_as_the_image_at_its_resampled_size(tmp_path):
    # was: "the PSF 'psf.ome.tif' (40 x 41 x 41 px) is as large as or larger than the image
    # (16 x 40 x 40 px)", 40 planes at 0.1 um that the run took as 13 at 0.3 um
    psf = gaussian_psf((3.0, 1.2, 1.2), size=(39, 41, 41), ndim=3)
    path = _psf_file(tmp_path / "psf.ome.tif", np.pad(psf, ((1, 0), (0, 0), (0, 0))))
    image = tmp_path / "stack.tif"
    tifffile.imwrite(image, _stack(), imagej=True, resolution=(10, 10),
                     metadata={"axes": "ZYX", "spacing": 0.3, "unit": "um"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        md.deblur_file(image, tmp_path / "out.tif", method="richardson_lucy", iterations=2,
                       psf=str(path))
    large = _said(caught, DeblurWarning, "is as large as or larger than the image")
    assert len(large) == 1, [str(w.message) for w in caught]
    assert "(40 x 41 x 41 px, 13 x 41 x 41 px at the image's voxels)" in large[0], large


def test_an_array_deblur_warns_each_time_whatever_ran_before(tmp_path):
    """The warning hung on module-level records: a refused deblur_file of the same file (or
    the Deblur dock having used it) silenced the next deblur(array, psf=FILE)."""
    path = _psf_file(tmp_path / "psf.ome.tif", _psf())
    flat = tmp_path / "flat.tif"
    tifffile.imwrite(flat, _stack()[0])
    with pytest.raises(ValueError, match="is 3D"):  # a 3D PSF on a 2D image: refused
        md.deblur_file(flat, tmp_path / "out.tif", method="richardson_lucy", iterations=2,
                       psf=str(path))
    for _ in range(2):
        _, caught = _run(_stack(), psf=str(path))
        assert len(_said(caught, DeblurWarning, "states voxels of Z 0.1 um")) == 1


def test_a_psf_resampled_to_more_voxels_is_named_at_that_size(tmp_path):
    from napari_microdeblur.core.psf_fit import _file_label

    path = tmp_path / "psf.tif"
    tifffile.imwrite(path, gaussian_psf((1.5, 1.2, 1.2), size=(9, 15, 15), ndim=3))
    label = f"{str(path)!r} (9 x 15 x 15 px)"
    assert _file_label(str(path), (9, 15, 15)) == label
    even = tmp_path / "even.tif"
    tifffile.imwrite(even, gaussian_psf((1.5, 1.2, 1.2), size=(9, 15, 15), ndim=3)[:8, :14, :14])
    assert _file_label(str(even), (9, 15, 15)).endswith("(8 x 14 x 14 px)")
    assert _file_label(str(path), (27, 15, 15)) == (
        f"{str(path)!r} (9 x 15 x 15 px, 27 x 15 x 15 px at the image's voxels)")


def _bead_psf(shape=(15, 61, 61)):
    z, y, x = np.meshgrid(*[np.arange(n) - n // 2 for n in shape], indexing="ij")
    rho = np.hypot(y, x)
    core = np.exp(-0.5 * (z**2 / 1.5**2 + rho**2 / 1.3**2))
    return core + 0.02 * np.exp(-rho / 8) * np.exp(-0.5 * z**2 / 1.5**2)  # wide wings


def test_the_bead_report_says_the_half_sides_of_the_psf_written():
    # was: "(half sides (18, 22, 22) px)", the room's, for a PSF of 23 planes (half side 11)
    from napari_microdeblur.core.beads import psf_from_beads

    psf = _bead_psf()
    clean = np.full((40, 192, 192), 100.0)
    for y in range(32, 165, 45):
        for x in range(32, 165, 45):
            box = tuple(slice(c - n // 2, c + n // 2 + 1) for c, n in zip((20, y, x), psf.shape))
            clean[box] += 3000 * psf
    stack = np.random.default_rng(0).poisson(clean).astype(np.uint16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kernel, report = psf_from_beads(stack)
    summary = report.summary()
    assert "the PSF reaches further" in summary, summary
    written = tuple(n // 2 for n in kernel.shape)
    assert f"half sides {written} px" in summary, summary
    assert "on Y and X" in summary and "on Z" not in summary, summary


# ----------------------------------------------------------------------------- the Deblur dock

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000  # ms


@pytest.fixture
def dock(make_napari_viewer, monkeypatch, tmp_path):
    """A Deblur dock, Richardson-Lucy, on a 0.3 / 0.1 um stack layer; the warnings it gives."""
    from napari_microdeblur._widgets import _deblur
    from napari_microdeblur.core import bundled
    from napari_microdeblur.core.psf_aware import DEFAULT_PSF_AWARE

    monkeypatch.setattr(bundled, "WEIGHTS_DIR", tmp_path)  # the dock opens on 'auto'
    monkeypatch.setattr(bundled, "BUNDLED_WEIGHTS", {
        name: tiny_weights(name, tmp_path) for name in (*V1, DEFAULT_PSF_AWARE)})
    viewer = make_napari_viewer()
    layer = viewer.add_image(_stack().astype(np.float32), name="stack", scale=(0.3, 0.1, 0.1))
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    w.axes_edit.setText("ZYX")
    w.device_combo.setCurrentText("cpu")
    w.set_method("richardson_lucy")
    w.iterations_spin.setValue(2)
    w.use_psf_check.setChecked(True)
    warned: list[str] = []
    monkeypatch.setattr(_deblur, "notify_warning", warned.append)
    return viewer, w, warned


def _shown(qtbot, w, text):
    w.psf_edit.setText(text)
    qtbot.waitUntil(lambda: not w.psf_preview.busy, timeout=TIMEOUT)
    assert w.psf_preview.error is None, w.psf_preview.caption.text()
    return w.psf_preview.description


def test_a_psf_layer_at_other_voxels_is_resampled_as_its_file_is(dock, qtbot, tmp_path):
    # was: run as it was (33.73 dB against 35.47 for the same PSF as a file), no note
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.psf_scale import psf_for_image

    viewer, w, warned = dock
    psf = _psf(pedestal=0.0)
    given = psf.copy()
    viewer.add_image(psf, name="psf", scale=(0.1, 0.1, 0.1))
    shown = _shown(qtbot, w, "layer:psf")
    assert "layer 'psf' resampled to the layer's voxels: 13 x 21 x 21" in shown, shown
    used = w.build_request().method.psf
    path = _psf_file(tmp_path / "psf.ome.tif", psf)
    as_file, _ = psf_for_image(MethodSpec("richardson_lucy", psf=str(path)),
                               {"Z": 0.3, "Y": 0.1, "X": 0.1}, "ZYX")
    assert used.shape == as_file.psf.shape
    np.testing.assert_allclose(used.array, as_file.psf.array, atol=1e-6)
    w.run()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    assert any("resampled to the image's pixels" in line for line in warned), warned
    assert not any("states voxels" in line for line in w.last_run.warnings)
    assert np.array_equal(viewer.layers["psf"].data, given)


def test_a_psf_layer_at_scale_1_is_taken_as_it_is(dock, qtbot):
    viewer, w, _ = dock
    viewer.add_image(_psf(pedestal=0.0), name="psf")  # scale 1: no voxel size known
    assert "resampled" not in _shown(qtbot, w, "layer:psf")
    assert w.build_request().method.psf.shape == (13, 21, 21)


def test_the_preview_says_what_reading_a_psf_file_changed(dock, qtbot, tmp_path):
    # was: "2D PSF 33 x 33 px, FWHM ..." alone; the CLI said the background it subtracted
    viewer, w, _ = dock
    rng = np.random.default_rng(1)
    plane = gaussian_psf(1.5, size=31).astype(np.float64)
    even = (plane / plane.max())[:-1, :-1] + 0.05 + rng.normal(0, 0.002, (30, 30))
    path = tmp_path / "even.tif"
    tifffile.imwrite(path, even.astype(np.float32))  # no voxel size stated
    shown = _shown(qtbot, w, str(path))
    assert "of the peak subtracted" in shown, shown
    assert "its 30 x 30 px padded to 31 x 31" in shown, shown
    assert "taken to have the image's (YX 0.1 um)" in shown, shown


def test_a_psf_file_at_the_layers_voxels_runs_without_the_uncompared_line(dock, qtbot,
                                                                         tmp_path):
    viewer, w, _ = dock
    path = _psf_file(tmp_path / "same.ome.tif", _psf(pedestal=0.0), dz=0.3)
    shown = _shown(qtbot, w, str(path))
    assert "resampled" not in shown
    w.run()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=TIMEOUT)
    assert not any("states voxels" in line for line in w.last_run.warnings), w.last_run.warnings
