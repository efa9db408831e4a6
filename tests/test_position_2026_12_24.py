"""Position walkthrough of 2026-12-24: where an image sits (an OME-Zarr's level-0 NGFF
translation, a napari layer's translate) was lost. The plugin's reader opened an OME-Zarr with
translation [10, 20] um at translate 0 (napari-ome-zarr places it at 10, 20), `info` did not
mention it, a CLI zarr -> zarr deblur wrote the scale alone (its output sat 15 x 31 px away
from its input), and the writer saved a layer at translate (30.8, 194.2) so that it reopened
at 0, its summary line silent. Images at 0 are written as before."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

PLUGIN = "napari-microdeblur"


def _ngff(path, translation=(10.0, 20.0), scale=(0.65, 0.65), unit="micrometer", shape=(48, 40)):
    """A one-level NGFF 0.4 OME-Zarr (YX, uint16), written with zarr alone; ``translation``
    None: none."""
    import zarr

    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    data = np.random.default_rng(0).integers(100, 3000, shape, dtype=np.uint16)
    group.create_array("0", shape=shape, dtype=data.dtype, chunks=shape)[...] = data
    transforms = [{"type": "scale", "scale": list(scale)}]
    if translation is not None:
        transforms.append({"type": "translation", "translation": list(translation)})
    group.attrs.update({"multiscales": [{
        "version": "0.4", "axes": [{"name": a, "type": "space", "unit": unit} for a in "yx"],
        "datasets": [{"path": "0", "coordinateTransformations": transforms}]}]})
    return path


def _transforms(path):
    attrs = json.loads((path / ".zattrs").read_text())
    return attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"]


def _warned(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [str(w.message) for w in caught]


@pytest.mark.parametrize("scale, translation, unit", [
    ((0.65, 0.65), (10.0, 20.0), "micrometer"),
    ((650.0, 650.0), (10000.0, 20000.0), "nanometer"),  # in um, as the scale is given
])
def test_the_reader_places_the_layer_at_the_ngff_translation(make_napari_viewer, tmp_path,
                                                             scale, translation, unit):
    path = _ngff(tmp_path / "small.ome.zarr", translation, scale, unit)
    layer = make_napari_viewer().open(str(path), plugin=PLUGIN)[0]
    np.testing.assert_allclose(layer.scale, (0.65, 0.65))
    np.testing.assert_allclose(layer.translate, (10.0, 20.0))  # was (0, 0)


def test_a_translation_on_an_axis_of_unknown_size_is_in_pixels(tmp_path):
    from napari_microdeblur._reader import get_reader

    # no units and a scale of 1: napari's 1 px; the translation counts those pixels
    path = _ngff(tmp_path / "px.zarr", (0.0, 7.0), (1.0, 1.0), None)
    attrs = json.loads((path / ".zattrs").read_text())
    for axis in attrs["multiscales"][0]["axes"]:
        axis.pop("unit")
    (path / ".zattrs").write_text(json.dumps(attrs))
    (_, kwargs, _), = get_reader(str(path))(str(path))
    assert tuple(kwargs["units"]) == ("pixel", "pixel")
    assert tuple(kwargs["translate"]) == (0.0, 7.0)


def test_each_channel_layer_is_placed_and_a_multiscale_scale_applies_after(tmp_path):
    """TCZYX: the level's translation (3 frames of 1), then the multiscale's own scale (2 s per
    frame, NGFF 0.4): the image starts at 6 s; one translate per channel layer."""
    import zarr

    from napari_microdeblur._reader import get_reader

    group = zarr.open_group(str(tmp_path / "t.zarr"), mode="w", zarr_format=2)
    group.create_array("0", shape=(2, 2, 3, 8, 8), dtype="uint8", chunks=(1, 1, 3, 8, 8))
    units = ("second", None, "micrometer", "micrometer", "micrometer")
    kinds = ("time", "channel", "space", "space", "space")
    group.attrs.update({"multiscales": [{
        "version": "0.4", "axes": [{"name": a, "type": k, **({"unit": u} if u else {})}
                                   for a, k, u in zip("tczyx", kinds, units)],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1, 1, 0.5, 0.1, 0.1]},
            {"type": "translation", "translation": [3, 0, 1, 2, 4]}]}],
        "coordinateTransformations": [{"type": "scale", "scale": [2, 1, 1, 1, 1]}]}]})
    path = str(tmp_path / "t.zarr")
    (_, kwargs, _), = get_reader(path)(path)
    assert kwargs["channel_axis"] == 1
    assert [tuple(t) for t in kwargs["translate"]] == [(6.0, 1.0, 2.0, 4.0)] * 2
    assert [tuple(s) for s in kwargs["scale"]] == [(2.0, 0.5, 0.1, 0.1)] * 2


def test_info_says_where_the_image_sits(tmp_path, capsys):
    from napari_microdeblur.cli import main

    assert main(["info", str(_ngff(tmp_path / "placed.zarr"))]) == 0
    assert "  position: Y 10, X 20 um" in capsys.readouterr().out.splitlines()
    assert main(["info", str(_ngff(tmp_path / "origin.zarr", None))]) == 0
    assert "position" not in capsys.readouterr().out


def _deblur(source, out):
    from napari_microdeblur.cli import main

    assert main(["deblur", str(source), "-o", str(out), "--method", "wiener", "--psf",
                 "gaussian:1.2", "--balance", "0.01", "--device", "cpu", "-q"]) == 0


def test_a_cli_zarr_output_keeps_its_input_s_translation(tmp_path):
    _deblur(_ngff(tmp_path / "small.ome.zarr"), tmp_path / "s.zarr")
    assert _transforms(tmp_path / "s.zarr") == [
        {"type": "scale", "scale": [0.65, 0.65]},
        {"type": "translation", "translation": [10.0, 20.0]}]  # was the scale alone


def _placed_result(**kwargs):
    """A Deblur-dock result shown over its source's visible field of view."""
    from napari.layers import Image

    data = np.random.default_rng(1).random((30, 26)).astype(np.float32)
    record = {"method": "wiener", "axes": "YX", "source_layer": "cells"}
    kwargs = {"scale": (0.65, 0.65), "units": "um", "translate": (30.8, 194.2), **kwargs}
    return Image(data, name="cells deblurred", metadata={"microdeblur": record}, **kwargs)


def _save(layer, path):
    from napari_microdeblur._writer import write_image_layer

    data, meta, _ = layer.as_layer_data_tuple()
    return _warned(lambda: write_image_layer(str(path), data, meta))


@pytest.mark.parametrize("kwargs, written", [
    ({}, [30.8, 194.2]),
    # a layer in nm is saved in um, its translation too
    ({"scale": (650.0, 650.0), "units": "nm", "translate": (30800.0, 194200.0)}, [30.8, 194.2]),
])
def test_the_writer_keeps_a_layer_s_translate_in_a_zarr(make_napari_viewer, tmp_path, kwargs,
                                                        written):
    from napari_microdeblur._writer import saved_contents

    path = tmp_path / "crop.zarr"
    _, said = _save(_placed_result(**kwargs), path)
    assert not [s for s in said if "position" in s]
    assert _transforms(path)[1] == {"type": "translation", "translation": written}
    layer = make_napari_viewer().open(str(path), plugin=PLUGIN)[0]
    np.testing.assert_allclose(layer.translate, (30.8, 194.2))  # was (0, 0)
    assert "position (Y 30.8, X 194.2 um)" in saved_contents(path)


@pytest.mark.parametrize("name", ["crop.tif", "crop.ome.tif"])
def test_a_tiff_save_says_the_position_was_not_kept(tmp_path, name):
    from napari_microdeblur._writer import saved_contents

    path = tmp_path / name
    _, said = _save(_placed_result(), path)
    assert [s for s in said if "saved without its position (translate 30.8, 194.2)" in s
            and "save it as .zarr to keep it" in s]
    assert saved_contents(path).endswith("without position (kept in .zarr only)")
    # saved again at 0: nothing to say
    _, said = _save(_placed_result(translate=(0.0, 0.0)), path)
    assert not [s for s in said if "position" in s]
    assert "position" not in saved_contents(path)


def test_images_at_zero_are_written_as_before(tmp_path):
    """No translation where there is none (a guard: the outputs' metadata as before)."""
    from napari_microdeblur.core.zarr_metadata import output_attrs

    _deblur(_ngff(tmp_path / "origin.zarr", None), tmp_path / "cli.zarr")
    assert _transforms(tmp_path / "cli.zarr") == [{"type": "scale", "scale": [0.65, 0.65]}]
    _save(_placed_result(translate=(0.0, 0.0)), tmp_path / "layer.zarr")
    assert _transforms(tmp_path / "layer.zarr") == [{"type": "scale", "scale": [0.65, 0.65]}]
    attrs = output_attrs("YX", (4, 4), {"Y": 0.5, "X": 0.5}, {"position": {}})
    assert attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"] == [
        {"type": "scale", "scale": [0.5, 0.5]}]
