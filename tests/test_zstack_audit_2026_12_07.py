"""A widefield z-stack with its voxel size (0.3 x 0.1 x 0.1 um, ImageJ TIFF or a napari layer
scale), end to end: a PSF made or measured for other pixels or another z-step is said in one
line naming what to change, instead of deblurring wrongly without a word."""

from types import SimpleNamespace

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io, io_write

VOXEL = {"Z": 0.3, "Y": 0.1, "X": 0.1}
OPTICS = "widefield:na=1.4,wavelength=0.52"


def imagej_stack(path, shape=(9, 32, 32), spacing=0.3, pixel=0.1):
    data = np.random.default_rng(0).integers(100, 200, shape, dtype=np.uint16)
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / pixel, 1 / pixel),
                     metadata={"axes": "ZYX", "spacing": spacing, "unit": "um"})
    return path


def psf_file(path, voxel):
    z, y, x = np.indices((7, 9, 9)) - np.array([3, 4, 4])[:, None, None, None]
    psf = np.exp(-(z * z / 4 + y * y / 2 + x * x / 2)).astype(np.float32)
    io_write.write_image(path, psf / psf.sum(), axes="ZYX", pixel_size=voxel)
    return path


def test_optics_model_at_other_pixels_or_z_step_than_the_stack_is_said(tmp_path):
    from napari_microdeblur.core.psf_scale import psf_scale_note

    stack = io.read_image(imagej_stack(tmp_path / "stack.tif"))
    assert stack.pixel_size == pytest.approx(VOXEL)
    assert psf_scale_note(f"{OPTICS},pixel=0.1", stack.pixel_size, stack.axes) is None
    line = psf_scale_note(f"{OPTICS},pixel=0.2", stack.pixel_size, stack.axes)
    assert "give pixel=0.1" in line and "YX 0.2 um (image 0.1 um)" in line
    line = psf_scale_note(f"{OPTICS},pixel=0.1,nz=15,dz=0.1", stack.pixel_size, stack.axes)
    assert "give dz=0.3" in line and "pixel=" not in line.split("give")[1]
    assert "\n" not in line
    # a 3D PSF on one plane (no Z) uses its in-focus plane: its z-step does not matter
    assert psf_scale_note(f"{OPTICS},pixel=0.1,nz=15,dz=0.1", {"Y": 0.1, "X": 0.1}, "YX") is None
    # models in pixels, and images that give no pixel size, say nothing
    assert psf_scale_note("gaussian:1.6", stack.pixel_size, stack.axes) is None
    assert psf_scale_note(f"{OPTICS},pixel=0.2", {}, "ZYX") is None


def test_psf_file_with_another_z_step_than_the_stack_is_said(tmp_path):
    from napari_microdeblur.core.psf_scale import psf_sampling, psf_scale_note

    stack = io.read_image(imagej_stack(tmp_path / "stack.tif"))
    other = psf_file(tmp_path / "psf_dz01.tif", {"Z": 0.1, "Y": 0.1, "X": 0.1})
    assert psf_sampling(other) == pytest.approx({"Z": 0.1, "Y": 0.1, "X": 0.1})
    line = psf_scale_note(str(other), stack.pixel_size, stack.axes)
    assert "Z 0.1 um (image 0.3 um)" in line and "psf_dz01.tif" in line and "Y " not in line
    same = psf_file(tmp_path / "psf_dz03.tif", VOXEL)
    assert psf_scale_note(str(same), stack.pixel_size, stack.axes) is None
    bare = tmp_path / "bare.tif"
    tifffile.imwrite(bare, tifffile.imread(same))  # no voxel size: nothing to compare
    assert psf_scale_note(str(bare), stack.pixel_size, stack.axes).endswith(
        "states no microscope's voxel size: taken to have the image's (Z 0.3 um, YX 0.1 um)")


def test_dock_psf_unlike_the_layer_scale_is_said():
    from napari.layers import Image

    from napari_microdeblur._widgets._psf_sources import psf_scale_note

    stack = Image(np.zeros((9, 32, 32), np.float32), name="stack", scale=(0.3, 0.1, 0.1))
    psf = Image(np.ones((7, 9, 9), np.float32), name="PSF from beads", scale=(0.1, 0.1, 0.1))
    viewer = SimpleNamespace(layers=[stack, psf])
    line = psf_scale_note(viewer, "layer:PSF from beads", stack, "ZYX")
    assert "Z 0.1 (image 0.3)" in line and "'PSF from beads'" in line
    psf.scale = (0.3, 0.1, 0.1)
    assert psf_scale_note(viewer, "layer:PSF from beads", stack, "ZYX") is None
    assert "give pixel=0.1" in psf_scale_note(viewer, f"{OPTICS},pixel=0.065", stack, "ZYX")
    plain = Image(np.zeros((9, 32, 32), np.float32), name="plain")  # scale 1: says nothing
    assert psf_scale_note(viewer, f"{OPTICS},pixel=0.065", plain, "ZYX") is None


def test_psf_from_beads_says_the_voxel_size_it_wrote(tmp_path, capsys):
    shape, rng = (21, 64, 64), np.random.default_rng(1)
    grids = np.indices(shape, dtype=np.float64)
    clean = np.full(shape, 100.0)
    for cy, cx in ((20, 20), (20, 44), (44, 20), (44, 44)):
        clean += 4000 * np.exp(-((grids[0] - 10) ** 2 / 8 + (grids[1] - cy) ** 2 / 3
                                 + (grids[2] - cx) ** 2 / 3))
    beads = tmp_path / "beads.tif"
    tifffile.imwrite(beads, rng.poisson(clean).astype(np.uint16), imagej=True,
                     resolution=(10, 10), metadata={"axes": "ZYX", "spacing": 0.3, "unit": "um"})
    out = tmp_path / "psf.tif"
    assert main(["psf-from-beads", str(beads), "-o", str(out), "--radius", "6,8,8"]) == 0
    assert "voxel ZYX 0.3 x 0.1 x 0.1 um written" in capsys.readouterr().out
    assert io.read_image(out).pixel_size == pytest.approx(VOXEL)
    bare = tmp_path / "bare.tif"
    tifffile.imwrite(bare, tifffile.imread(beads))
    assert main(["psf-from-beads", str(bare), "-o", str(tmp_path / "p2.tif"),
                 "--radius", "6,8,8"]) == 0
    assert "no pixel size" in capsys.readouterr().out


def test_psf_file_at_a_default_72_dpi_says_nothing(tmp_path):
    from napari_microdeblur.core.psf_scale import psf_scale_note

    stack = io.read_image(imagej_stack(tmp_path / "stack.tif"))
    dpi = tmp_path / "psf_72dpi.tif"  # saved by an image editor: 72 pixels per inch
    tifffile.imwrite(dpi, np.ones((5, 5), np.float32), resolution=(72, 72), resolutionunit=2)
    assert "X" not in io.read_image(dpi).pixel_size  # a print resolution: no pixel size
    said = psf_scale_note(str(dpi), stack.pixel_size, stack.axes)  # no mismatch, an assumption
    assert "has voxels" not in said and "taken to have the image's" in said
    tifffile.imwrite(dpi, np.ones((5, 5), np.float32), resolution=(5, 5), resolutionunit=3)
    assert "YX 2000" not in (psf_scale_note(str(dpi), stack.pixel_size, stack.axes) or "")
    tifffile.imwrite(dpi, np.ones((5, 5), np.float32), resolution=(5e4, 5e4), resolutionunit=3)
    assert "YX 0.2 um (image 0.1 um)" in psf_scale_note(str(dpi), stack.pixel_size, stack.axes)


def test_cli_deblur_warns_when_the_optics_pixel_is_not_the_stack_s(tmp_path, capsys):
    """The note reaches the user of `microdeblur deblur` (core.files warns, the CLI prints one
    line), and the run goes on; the matching pixel says nothing."""
    stack = imagej_stack(tmp_path / "stack.tif")
    args = ["deblur", str(stack), "--method", "wiener", "--balance", "0.01", "--quiet"]
    assert main([*args, "-o", str(tmp_path / "a.tif"), "--psf", f"{OPTICS},pixel=0.2"]) == 0
    err = capsys.readouterr().err
    assert "give pixel=0.1 in it" in err and (tmp_path / "a.tif").is_file()
    assert main([*args, "-o", str(tmp_path / "b.tif"), "--psf", f"{OPTICS},pixel=0.1"]) == 0
    assert "sampled at" not in capsys.readouterr().err


def test_deblur_dock_warns_when_the_psf_is_not_at_the_layer_scale(make_napari_viewer, qtbot):
    """Run in the Deblur dock with an optics PSF at other pixels than the layer's scale: a
    warning notification names pixel= to give; the run still happens."""
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer()
    data = np.random.default_rng(1).integers(100, 200, (3, 48, 48)).astype(np.float32)
    layer = viewer.add_image(data, name="stack", scale=(0.3, 0.1, 0.1))
    _, w = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Deblur")
    w.layer_combo.set_value(layer)
    w.method_combo.setCurrentText("wiener")
    w.use_psf_check.setChecked(True)
    w.psf_edit.setText(f"{OPTICS},pixel=0.2")
    w.device_combo.setCurrentText("cpu")
    start = len(notification_manager.records)
    w.run_button.click()
    qtbot.waitUntil(lambda: w.last_run is not None and w.last_run.done, timeout=60_000)
    said = [str(n.message) for n in notification_manager.records[start:]]
    assert any("give pixel=0.1" in m for m in said), said
    assert viewer.layers[-1].name.startswith("stack deblurred")


def test_cli_deblur_warns_when_a_psf_file_has_other_voxels_than_the_stack(tmp_path, capsys):
    """The CLI reads a PSF file once, before any image, and carried on its values only: the
    file's voxel size never reached the check, so `deblur --psf psf.tif` said nothing."""
    stack = imagej_stack(tmp_path / "stack.tif")
    other = psf_file(tmp_path / "psf_dz01.tif", {"Z": 0.1, "Y": 0.1, "X": 0.1})
    args = ["deblur", str(stack), "--method", "richardson_lucy", "--iterations", "2", "-q"]
    assert main([*args, "-o", str(tmp_path / "a.tif"), "--psf", str(other)]) == 0
    err = capsys.readouterr().err
    assert "psf_dz01.tif" in err and "Z 0.1 um (image 0.3 um)" in err
    same = psf_file(tmp_path / "psf_dz03.tif", VOXEL)
    assert main([*args, "-o", str(tmp_path / "b.tif"), "--psf", str(same)]) == 0
    assert "has voxels" not in capsys.readouterr().err


def test_a_layer_scale_of_1_on_some_axes_says_nothing_about_them():
    """A layer given only its Z step (scale (3, 1, 1)) or only Y, X ((1, 0.1, 0.1)): the axes
    at napari's default of 1 are unknown, not 1 um (the dock said 'give pixel=1')."""
    from napari.layers import Image

    from napari_microdeblur._widgets._psf_sources import psf_scale_note

    viewer = SimpleNamespace(layers=[])
    z_only = Image(np.zeros((9, 32, 32), np.float32), name="z", scale=(3, 1, 1))
    assert psf_scale_note(viewer, f"{OPTICS},pixel=0.1", z_only, "ZYX") is None
    xy_only = Image(np.zeros((9, 32, 32), np.float32), name="xy", scale=(1, 0.1, 0.1))
    assert psf_scale_note(viewer, f"{OPTICS},pixel=0.1,nz=15,dz=0.2", xy_only, "ZYX") is None
    assert "give pixel=0.1" in psf_scale_note(viewer, f"{OPTICS},pixel=0.2", xy_only, "ZYX")


def test_psf_from_beads_of_a_stack_without_z_step_names_the_pixel_size_it_has():
    """A 3D bead PSF whose image gave Y, X sizes but no z-step was said to have 'no pixel
    size'."""
    from napari_microdeblur.cli_psf import _voxel_words

    line = _voxel_words({"Y": 0.1, "X": 0.1}, 3)
    assert "voxel YX 0.1 x 0.1 um" in line and "no z-step" in line
    assert "no pixel size" in _voxel_words({}, 3)
    assert _voxel_words({"Z": 0.3, "Y": 0.1, "X": 0.1}, 3).startswith("voxel ZYX 0.3 x 0.1")


def test_a_3d_psf_run_plane_by_plane_is_not_blamed_for_its_z_step(tmp_path, capsys):
    """The PSF-aware network uses a 3D PSF's in-focus plane on every plane: the PSF's z-step
    plays no part, so a z-step unlike the stack's is not said (it was); Y, X still are."""
    stack = imagej_stack(tmp_path / "stack.tif", shape=(3, 64, 64))
    other_z = psf_file(tmp_path / "psf_dz01.tif", {"Z": 0.1, "Y": 0.1, "X": 0.1})
    args = ["deblur", str(stack), "--method", "wiener_unet.psf_v4", "-q"]
    assert main([*args, "-o", str(tmp_path / "a.tif"), "--psf", str(other_z)]) == 0
    assert "has voxels" not in capsys.readouterr().err
    other_yx = psf_file(tmp_path / "psf_p02.tif", {"Z": 0.3, "Y": 0.2, "X": 0.2})
    assert main([*args, "-o", str(tmp_path / "b.tif"), "--psf", str(other_yx)]) == 0
    assert "YX 0.2 um (image 0.1 um)" in capsys.readouterr().err
