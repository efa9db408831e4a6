"""RGB reading walkthrough of 2026-12-21: a planar (3, Y, X) TIFF tagged RGB, which the CLI
deblurs as colour, opened in napari through the plugin's reader as 3 gray planes (and a float32
SYX output of the CLI as 3 channel layers), so the Deblur dock ran it gray; a 3-plane H&E TIFF
tagged gray, or an ImageJ CYX of 3 8-bit channels, ran as fluorescence with no hint of SYX; a
16-bit colour PNG opened by napari's Pillow reader as 8 bits; Focus QC refused an RGBA layer
that ``microdeblur focus`` scores with its alpha dropped."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
from scipy import ndimage

PLUGIN = "napari-microdeblur"
TIMEOUT = 60_000


def _rgb(shape=(64, 64), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.random((*shape, 3)), (2, 2, 0))
    return (np.clip(smooth * 2 - 0.5, 0, 1) * 255).astype(np.uint8)


def _planar(path, rgb) -> None:
    """``rgb`` as a planar TIFF tagged RGB (tifffile.imwrite's default for (3, Y, X) uint8)."""
    tifffile.imwrite(path, np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")


def _read(path):
    """(the plugin reader's layer data tuples of ``path``, the warnings it raised)."""
    from napari_microdeblur._reader import get_reader

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layers = get_reader(str(path))(str(path))
    return layers, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def _cli_output(tmp_path, source, name="out.tif", *more):
    from napari_microdeblur.cli import main

    out = tmp_path / name
    assert main(["deblur", str(source), "-o", str(out), "--method", "wiener", "--psf",
                 "gaussian:1.2", "--balance", "0.01", "--device", "cpu", "-q", *more]) == 0
    return out


# ----------------------------------------------------------------------------- planar RGB


def test_a_planar_rgb_tiff_opens_as_one_rgb_layer_saying_its_colour_tag_decided(tmp_path):
    rgb = _rgb()
    _planar(tmp_path / "pl.tif", rgb)
    layers, said = _read(tmp_path / "pl.tif")
    assert len(layers) == 1
    data, kwargs, kind = layers[0]
    assert kind == "image" and kwargs["rgb"] is True  # was: (3, 64, 64), rgb False
    np.testing.assert_array_equal(np.asarray(data), rgb)
    line = [m for m in said if "opened 'pl.tif' as RGB" in m]
    assert len(line) == 1 and "\n" not in line[0]
    assert "by the file's colour tag" in line[0] and "plugin='napari'" in line[0]


def test_a_float_stack_tagged_rgb_by_tifffile_alone_stays_planes(tmp_path):
    """tifffile.imwrite tags any 3 float planes RGB: most likely sections, not colour."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        tifffile.imwrite(tmp_path / "f.tif", np.ones((3, 32, 32), np.float32))
    layers, said = _read(tmp_path / "f.tif")
    assert layers[0][0].shape == (3, 32, 32) and not layers[0][1]["rgb"]
    assert not [m for m in said if "as RGB" in m]


def test_a_float32_syx_output_of_the_cli_opens_as_one_rgb_layer(tmp_path):
    rgb = _rgb()
    _planar(tmp_path / "pl.tif", rgb)
    out = _cli_output(tmp_path, tmp_path / "pl.tif")
    with tifffile.TiffFile(out) as tif:  # the CLI writes colour so: float32, SYX stated
        assert tif.series[0].axes == "SYX" and tif.series[0].dtype == np.float32
    layers, said = _read(out)
    assert len(layers) == 1  # was: 3 channel layers, 'out (channel 0)' ...
    data, kwargs, _ = layers[0]
    assert data.shape == (64, 64, 3) and kwargs["rgb"] is True and kwargs["name"] == "out"
    assert kwargs["axis_labels"] == ("y", "x")
    assert not [m for m in said if "as RGB" in m]  # stated by the file: nothing guessed


def test_the_deblur_dock_runs_a_planar_rgb_file_as_rgb_and_saves_it_so(make_napari_viewer,
                                                                       qtbot, tmp_path):
    rgb = _rgb()
    _planar(tmp_path / "pl.tif", rgb)
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the colour-tag line, tested above
        layer = viewer.open(str(tmp_path / "pl.tif"), plugin=PLUGIN)[0]
    w.layer_combo.set_value(layer)
    assert w.axes_edit.text() == "YXS"  # was: ZYX, run gray as fluorescence
    w.set_method("wiener")
    w.psf_edit.setText("gaussian:1.2")
    run = w.run()
    assert run is not None
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    assert run.layer.rgb and run.layer.data.shape == (64, 64, 3)
    saved = layer.save(str(tmp_path / "again.tif"), plugin=PLUGIN)  # napari's writer route
    with tifffile.TiffFile(saved[0]) as tif:
        assert tif.series[0].shape == (64, 64, 3) and tif.pages[0].photometric == 2  # RGB
        np.testing.assert_array_equal(tif.asarray(), rgb)


def test_an_rgb_layer_of_a_cli_output_keeps_the_file_s_axes_and_record_when_saved(
        make_napari_viewer, tmp_path):
    from napari_microdeblur._widgets._layer_file import file_axes_of
    from napari_microdeblur.core.io import read_image

    _planar(tmp_path / "pl.tif", _rgb())
    out = _cli_output(tmp_path, tmp_path / "pl.tif")
    record = read_image(out).metadata["microdeblur"]
    layer = make_napari_viewer().open(str(out), plugin=PLUGIN)[0]
    assert file_axes_of(layer) == ("YXS", "out.tif")  # the file's SYX, its samples last
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        saved = layer.save(str(tmp_path / "resaved.tif"), plugin=PLUGIN)
    assert not [w for w in caught if "no longer holds" in str(w.message)]
    back = read_image(saved[0], keep_alpha=True)
    assert back.axes == "YXS" and back.array.shape == (64, 64, 3)
    assert {k: v for k, v in back.metadata["microdeblur"].items() if k != "resaved"} == record


# ----------------------------------------------------------------------------- gray-tagged colour


def test_three_gray_planes_guessed_z_name_syx_for_a_colour_image(tmp_path):
    from napari_microdeblur._widgets._layers import TYPE_AXES
    from napari_microdeblur.core.axes import guess_note, other_readings
    from napari_microdeblur.core.io import read_image

    path = tmp_path / "mb.tif"
    tifffile.imwrite(path, np.moveaxis(_rgb(), -1, 0), photometric="minisblack")
    note = read_image(path).note
    assert note.endswith("if it holds the R, G, B of a colour image, give axes='SYX' "
                         "(--axes SYX on the command line)")
    assert guess_note((4, 64, 64), "ZYX", give=TYPE_AXES).endswith(
        "if it holds the R, G, B, A of a colour image, type SYX in Axes")
    assert "colour" not in guess_note((2, 64, 64), "ZYX")  # 2 planes: no colour image
    assert other_readings((3, 64, 64), "ZYX") == ("CYX",)  # the likelier reading, unchanged


def test_the_deblur_dock_names_syx_for_three_gray_planes(make_napari_viewer, tmp_path):
    path = tmp_path / "mb.tif"
    tifffile.imwrite(path, np.moveaxis(_rgb(), -1, 0), photometric="minisblack")
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(viewer.open(str(path), plugin=PLUGIN)[0])
    assert w.axes_edit.text() == "ZYX"
    assert w.image.axes_note.text().endswith(
        "if it holds the R, G, B of a colour image, type SYX in Axes")


def test_three_8bit_channels_run_gray_say_syx_reads_them_as_colour():
    from napari_microdeblur.core.image_settings import (
        colour_channels_words,
        gray_auto_words,
        note_gray_auto,
    )
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.notes import DeblurNote

    cli = colour_channels_words("CYX", (3, 64, 64), np.uint8, "give --axes {}".format)
    assert cli == "if its 3 channels are the R, G, B of a colour image, give --axes SYX"
    line = gray_auto_words("--modality {}".format, cli)
    assert line.endswith("--modality brightfield; " + cli) and "\n" not in line
    assert colour_channels_words("CYX", (3, 64, 64), np.uint16, str) == ""  # fluorescence
    assert colour_channels_words("CYX", (2, 64, 64), np.uint8, str) == ""
    assert colour_channels_words("CZYX", (3, 4, 64, 64), np.uint8, str) == ""
    assert colour_channels_words("CYX", (3, 64, 64), None, str) == ""
    assert gray_auto_words("--modality {}".format) == gray_auto_words("--modality {}".format, "")
    with pytest.warns(DeblurNote, match=r"give axes='SYX'\)$"):
        note_gray_auto(MethodSpec("auto"), "the network", "CYX", (3, 64, 64), np.uint8)


# ----------------------------------------------------------------------------- 16-bit PNG


def test_a_16_bit_colour_png_opens_with_its_16_bits(tmp_path):
    from npe2 import PluginManager

    rgb16 = _rgb().astype(np.uint16) * 257
    tifffile.imwrite(tmp_path / "in16.tif", rgb16, photometric="rgb")
    out = _cli_output(tmp_path, tmp_path / "in16.tif", "out16.png", "--output-dtype", "input")
    layers, _ = _read(out)
    data, kwargs, _ = layers[0]
    assert data.dtype == np.uint16 and data.shape == (64, 64, 3) and kwargs["rgb"]  # not 8 bits
    assert kwargs["name"] == "out16" and "microdeblur_file" in kwargs["metadata"]
    manager = PluginManager.instance()
    manager.discover()
    png = [r.command for r in manager.iter_compatible_readers([str(out)])]
    assert "napari-microdeblur.get_reader" in png  # was: napari's Pillow reader only
    jpg = [r.command for r in manager.iter_compatible_readers([str(tmp_path / "a.jpg")])]
    assert "napari-microdeblur.get_reader" not in jpg  # 8 bits: napari's reader reads it alike


# ----------------------------------------------------------------------------- Focus QC, RGBA


def test_focus_qc_scores_an_rgba_layer_on_its_colours_saying_the_alpha_is_dropped(
        make_napari_viewer, qtbot):
    from napari.utils.notifications import notification_manager

    from napari_microdeblur.core.focus import focus_score

    rgb = _rgb()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    viewer = make_napari_viewer()
    start = len(notification_manager.records)
    layer = viewer.add_image(rgba, name="he", rgb=True)
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Focus QC")
    w.layer_combo.set_value(layer)
    w.tile_spin.setValue(32)
    assert w.score() is not None  # was: refused, 'its alpha would be scored as a colour'
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)
    assert w.scores_fresh()
    np.testing.assert_allclose(w.scores, focus_score(rgb, axes="YXS", tile=32), rtol=1e-6)
    w.score()
    qtbot.waitUntil(lambda: not w._workers, timeout=TIMEOUT)
    said = [str(n.message) for n in notification_manager.records[start:]]
    assert said.count("Focus QC: layer 'he': alpha channel dropped, scored as RGB (the Deblur "
                      "dock passes it through)") == 1  # once per layer, not per score
