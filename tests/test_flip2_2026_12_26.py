"""A flipped axis (negative scale: scale=(-0.2, 0.2) shows Y upside down) has the size of its
absolute value, as ``layer_pixel_sizes`` reads it: the writer saves the size (it had saved
none), Focus QC's pixel-size check and Fine-tune's placement check take -1 as napari's
default 1 (no size stated)."""

import importlib
import warnings

import numpy as np
import pytest

from napari_microdeblur.core.io import read_image


def _write(path, layer):
    writer = importlib.import_module("napari_microdeblur._writer")
    data, meta, _ = layer.as_layer_data_tuple()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the 'no length unit, saved as um' line
        return writer.write_image_layer(str(path), data, meta)


def _image(scale, **kwargs):
    from napari.layers import Image

    data = np.random.default_rng(0).random((16, 16)).astype(np.float32)
    return Image(data, scale=scale, **kwargs)


# 1. File > Save (the plugin's writer)


@pytest.mark.parametrize("name", ["flip.tif", "flip.ome.tif", "flip.zarr"])
@pytest.mark.parametrize("units", [None, ("um", "um")])
def test_a_flipped_layer_is_saved_with_its_pixel_size(tmp_path, name, units):
    """Y flipped on screen: the file states 0.2 x 0.2 um (the negative Y was skipped, then X
    dropped with it: no pixel size at all)."""
    layer = _image((-0.2, 0.2), name="flip", **({"units": units} if units else {}))
    _write(tmp_path / name, layer)
    sizes = read_image(tmp_path / name).pixel_size
    assert sizes == pytest.approx({"Y": 0.2, "X": 0.2})


def test_layer_calibration_takes_each_flipped_axis_at_its_size():
    from napari_microdeblur._writer import layer_calibration

    meta = {"name": "t", "scale": [-5.0, -0.5, 0.2, -0.2],
            "units": ["second", "micrometer", "micrometer", "micrometer"]}
    sizes, extras = layer_calibration("TZYX", meta)
    assert sizes == pytest.approx({"Z": 0.5, "Y": 0.2, "X": 0.2})
    assert extras == pytest.approx({"time_interval": 5.0})
    # a flip of napari's default 1 states no size, as 1 does not
    meta = {"name": "f", "scale": [-1.0, 1.0]}
    assert layer_calibration("YX", meta) == ({}, {})
    meta = {"name": "f", "scale": [-1.0, 0.2]}  # one size only: Y and X go as a pair
    assert layer_calibration("YX", meta) == ({}, {})


# 2. Focus QC: the threshold's pixel-size check


def test_a_flipped_unset_scale_is_the_same_pixels_as_an_unset_one():
    from napari_microdeblur._widgets._focus_data import pixel_size_note

    flipped, plain = _image((-1, 1), name="flipped"), _image((1, 1), name="plain")
    assert pixel_size_note(flipped, "YX", plain, "YX") == ""
    assert pixel_size_note(plain, "YX", flipped, "YX") == ""
    calibrated = _image((0.2, 0.2), name="calibrated")
    note = pixel_size_note(flipped, "YX", calibrated, "YX")
    assert "of 1 x 1 " in note and "-1" not in note


# 3. Fine-tune: the pair's Y-X placement check


def test_a_flipped_unset_scale_beside_a_calibrated_layer_is_the_same_grid():
    """(-1, 1) is no calibration, as (1, 1) is not: only the other parts must agree."""
    from napari_microdeblur._widgets._finetune_pairs import pair_data

    calibrated, flipped = _image((0.2, 0.2), name="calibrated"), _image((-1, 1), name="flipped")
    assert set(pair_data(calibrated, flipped, "")) == {"blurry", "sharp"}
    assert set(pair_data(flipped, calibrated, "")) == {"blurry", "sharp"}
    flipped.translate = (5, 0)  # moved: not the same place whatever the grid
    with pytest.raises(ValueError, match="pixel for pixel"):
        pair_data(calibrated, flipped, "")
    # a real size that differs is still another grid
    with pytest.raises(ValueError, match="pixel for pixel"):
        pair_data(calibrated, _image((-0.1, 0.1), name="other"), "")
