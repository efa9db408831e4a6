"""A non-ImageJ palette TIFF whose table is a LUT on measured values (a display stretch, a
gamma, 16-bit grays in 8-bit steps, a multi-hue 'Fire') keeps its indices, the data; applying
the table (commit 9c397c8) had clipped or remapped them, made 16-bit data 8-bit, and read
'Fire' as RGB. Only unordered palettes are applied."""

import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core.io import read_image
from napari_microdeblur.core.notes import DeblurNote


def _tables():
    i = np.arange(256, dtype=np.float64)
    stretch = np.clip((i - 20) * 255 / 180, 0, 255)
    gamma = 255 * (i / 255) ** 0.5
    fire = np.stack([np.clip(3 * i, 0, 255), np.clip(3 * i - 255, 0, 255),
                     np.clip(3 * i - 510, 0, 255)])
    return {"stretch": np.repeat(stretch[None], 3, 0), "gamma": np.repeat(gamma[None], 3, 0),
            "fire": fire}


@pytest.mark.parametrize("name", ["stretch", "gamma", "fire"])
def test_an_8_bit_lut_keeps_the_indices(tmp_path, name):
    data = (np.arange(48 * 40).reshape(48, 40) % 256).astype(np.uint8)
    table = (_tables()[name] * 257).round().astype(np.uint16)
    tifffile.imwrite(tmp_path / "lut.tif", data, photometric="palette", colormap=table)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeblurNote)
        image = read_image(tmp_path / "lut.tif")
    assert image.axes == "YX" and image.array.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(image.array), data)


def test_16_bit_data_in_a_gray_lut_of_8_bit_steps_stays_16_bit(tmp_path):
    data = (np.arange(64 * 64).reshape(64, 64) * 13).astype(np.uint16)
    j = np.arange(65536)
    table = np.repeat(((j >> 8) * 257).astype(np.uint16)[None], 3, 0)
    tifffile.imwrite(tmp_path / "lut16.tif", data, photometric="palette", colormap=table)
    image = read_image(tmp_path / "lut16.tif")
    assert image.array.dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(image.array), data)


def test_an_unordered_colour_palette_is_still_rgb(tmp_path):
    rng = np.random.default_rng(0)
    table = (rng.random((3, 256)) * 65535).astype(np.uint16)
    data = rng.integers(0, 256, (32, 32)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "pal.tif", data, photometric="palette", colormap=table)
    with pytest.warns(DeblurNote, match="colour-palette"):
        image = read_image(tmp_path / "pal.tif")
    assert image.axes == "YXS" and image.array.shape == (32, 32, 3)


def test_a_gray_alpha_file_opened_leaves_the_docks_on_its_gray(make_napari_viewer, tmp_path):
    """The reader adds the alpha last, napari makes it active, and the Deblur and Focus QC
    boxes (which follow the active layer) had taken the mask."""
    from napari_microdeblur.core.io_write import write_image

    plane = (np.arange(64 * 64).reshape(64, 64) % 200).astype(np.uint8)
    write_image(tmp_path / "ga.tif", np.dstack([plane, np.full_like(plane, 255)]), axes="YXS")
    viewer = make_napari_viewer()
    _, deblur = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Deblur")
    _, focus = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Focus QC")
    viewer.open(str(tmp_path / "ga.tif"), plugin="napari-microdeblur")
    assert viewer.layers.selection.active.name == "ga (alpha)"
    assert deblur.layer_combo.value.name == "ga (gray)"
    assert focus.layer_combo.value.name == "ga (gray)"
