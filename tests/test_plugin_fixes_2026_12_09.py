"""Plugin walkthrough of 2026-12-09: the writer took another viewer's layer of the same name and
shape (its calibration) or none, silently; a small uncompressed 16-bit plane read as JPEG and
changed Wiener's balance 'auto'; the plugin had no reader, so its own calibrated outputs opened
at scale 1."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_microdeblur.cli import main

PLUGIN = "napari-microdeblur"
WIENER = ["--method", "wiener", "--psf", "gaussian:1.2", "--balance", "0.01", "--device", "cpu",
          "-q"]
DNA = Path("/work/shared/data/focus_pair_confocal_widefield_neubias/test/"
           "xyzc_16bit__dna_conf_wf.tif")


def _imagej(path, data, axes, pixel, spacing):
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / pixel, 1 / pixel),
                     metadata={"axes": axes, "unit": "um", "spacing": spacing})
    return str(path)


def _saved_calibration(path):
    with tifffile.TiffFile(path) as tif:
        x = tif.pages[0].tags["XResolution"].value
        return round(x[1] / x[0], 6), (tif.imagej_metadata or {}).get("spacing")


def _two_viewers(make_napari_viewer, tmp_path, other_name="a"):
    """Viewer A showing a.tif (0.25 um, dz 0.5), then viewer B (current) showing b/a.tif, of
    the same name and shape (0.1 um, dz 2.0), both opened by napari's reader (scale 1)."""
    import napari

    data = np.random.default_rng(0).integers(0, 4000, (5, 32, 32), dtype=np.uint16)
    (tmp_path / "b").mkdir()
    viewer_a, viewer_b = make_napari_viewer(), None
    layer_a = viewer_a.open(_imagej(tmp_path / "a.tif", data, "ZYX", 0.25, 0.5),
                            plugin="napari")[0]
    viewer_b = make_napari_viewer()
    viewer_b.open(_imagej(tmp_path / "b" / "a.tif", data, "ZYX", 0.1, 2.0),
                  plugin="napari")[0].name = other_name
    assert napari.current_viewer() is viewer_b  # the one the writer used to search alone
    return layer_a


@pytest.mark.parametrize("other_name", ["a", "other"])
def test_the_writer_saves_the_layer_s_own_file_calibration_from_a_viewer_not_current(
        make_napari_viewer, tmp_path, other_name):
    layer_a = _two_viewers(make_napari_viewer, tmp_path, other_name)
    out = tmp_path / "out.tif"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer_a.save(str(out), plugin=PLUGIN)
    # was: 0.1 um / 2.0 (B's file: same name and shape), or 1.0 / None (B's layer renamed)
    assert _saved_calibration(out) == (0.25, 0.5)
    assert not [w for w in caught if "open viewer" in str(w.message)]


def test_a_layer_found_in_no_viewer_is_saved_with_a_line_saying_its_file_is_not_read(
        make_napari_viewer, tmp_path):
    from napari.layers import Image

    _two_viewers(make_napari_viewer, tmp_path)  # both show a layer 'a' of this shape
    loose = Image(np.zeros((5, 32, 32), np.uint16), name="a")
    for layer, said in ((loose, "2 layers of that name and shape are open"),
                        (Image(np.zeros((5, 32, 32), np.uint16), name="b"),
                         "it is in no open viewer")):
        out = tmp_path / f"{layer.name}.tif"
        with pytest.warns(UserWarning, match=said):  # was: B's layer taken, or nothing said
            layer.save(str(out), plugin=PLUGIN)
        assert _saved_calibration(out)[0] == 1.0  # the layer's own scale: none


def _grid_plane() -> np.ndarray:
    """A 130 x 133 uncompressed 16-bit plane of blurred cells on a faint 8 px grid (a camera's
    fixed pattern, a calibration grid): its content steps every 8 px, as JPEG's blocks do."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:130, :133]
    image = np.full(yy.shape, 0.2)
    for _ in range(40):
        cy, cx, r = rng.uniform(0, 130), rng.uniform(0, 130), rng.uniform(3, 12)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0.4, 1)
    grid = np.zeros(yy.shape)
    grid[:, ::8] = grid[::8, :] = 1
    image = 500 + 3000 * ndimage.gaussian_filter(image, 1.5) + 40 * grid
    return np.round(image + rng.normal(0, 5, image.shape)).astype(np.uint16)


def test_a_16_bit_plane_is_never_taken_for_jpeg_but_8_bit_values_still_are():
    from napari_microdeblur.core.jpeg_blocks import JPEG_BLOCKINESS, blockiness, looks_jpeg

    plane = _grid_plane()
    assert blockiness(plane) > JPEG_BLOCKINESS  # its content alone looks blocky
    assert not looks_jpeg(plane)  # was: True
    assert not looks_jpeg(plane.astype(np.float64))  # values over 255 in any dtype
    eight_bit = np.round(plane / 16.0)
    assert looks_jpeg(eight_bit.astype(np.uint8)) and looks_jpeg(eight_bit)  # as before


def test_wiener_auto_balance_on_a_16_bit_plane_reads_the_whole_band():
    from napari_microdeblur.core.image_settings import balance_for
    from napari_microdeblur.core.method import MethodSpec

    spec = MethodSpec(name="wiener", psf="gaussian:1.5", balance="auto")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        balance = balance_for(spec, _grid_plane(), "YX").balance
    lines = [str(w.message) for w in caught if "balance 'auto'" in str(w.message)]
    assert len(lines) == 1 and "JPEG" not in lines[0], lines  # was: "shows JPEG's 8x8 blocks"
    assert balance == pytest.approx(1e-4)  # was 0.00251, from the band below 0.2 cycles/px


@pytest.mark.skipif(not DNA.exists(), reason="the walkthrough's shared data is not here")
def test_the_walkthrough_s_dna_stack_planes_are_not_jpeg():
    from napari_microdeblur.core.jpeg_blocks import looks_jpeg

    planes = tifffile.imread(DNA).reshape(-1, 130, 133)
    assert not any(looks_jpeg(p) for p in planes)  # was: 9 of its 90 planes


def _cli_output(tmp_path, name: str, data, axes: str) -> Path:
    source = tmp_path / "in.tif"
    _imagej(source, data, axes, 0.2, 0.5)
    out = tmp_path / name
    assert main(["deblur", str(source), "-o", str(out), *WIENER]) == 0
    return out


@pytest.mark.parametrize("name", ["res.tif", "res.ome.tif", "res.zarr"])
def test_opening_a_cli_output_with_the_plugin_gives_its_scale_axes_and_record(
        make_napari_viewer, tmp_path, name):
    data = np.random.default_rng(1).integers(0, 3000, (4, 48, 40), dtype=np.uint16)
    out = _cli_output(tmp_path, name, data, "ZYX")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(out), plugin=PLUGIN)  # was: the plugin had no reader
    assert layer.name == "res"  # was 'res [1]' for a .zarr (napari's reader)
    np.testing.assert_allclose(layer.scale, (0.5, 0.2, 0.2))
    assert [str(u) for u in layer.units] == ["micrometer"] * 3
    assert tuple(layer.axis_labels) == ("z", "y", "x")
    assert layer.metadata["microdeblur_file"]["method"] == "wiener"
    assert "microdeblur" not in layer.metadata  # no layer the plugin made in this session
    assert layer.source.reader_plugin == PLUGIN


def test_a_multichannel_output_opens_one_layer_per_channel(make_napari_viewer, tmp_path):
    data = np.random.default_rng(2).integers(0, 3000, (3, 2, 40, 40), dtype=np.uint16)
    out = _cli_output(tmp_path, "two.ome.tif", data, "ZCYX")
    layers = make_napari_viewer().open(str(out), plugin=PLUGIN)
    assert len(layers) == 2
    saved = tifffile.imread(out)  # ZCYX
    for i, layer in enumerate(layers):
        np.testing.assert_array_equal(np.asarray(layer.data), saved[:, i])
        assert tuple(layer.axis_labels) == ("z", "y", "x")
        np.testing.assert_allclose(layer.scale, (0.5, 0.2, 0.2))
        assert layer.name.startswith("two (")
        assert "method" in layer.metadata["microdeblur_file"]


def test_a_layer_opened_by_the_reader_is_saved_again_with_its_file_s_calibration(
        make_napari_viewer, tmp_path):
    data = np.random.default_rng(1).integers(0, 3000, (4, 48, 40), dtype=np.uint16)
    out = _cli_output(tmp_path, "res.tif", data, "ZYX")
    (layer,) = make_napari_viewer().open(str(out), plugin=PLUGIN)
    again = tmp_path / "again.tif"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer.save(str(again), plugin=PLUGIN)
    assert not [str(w.message) for w in caught if "no length unit" in str(w.message)]
    assert _saved_calibration(again) == (0.2, 0.5)
    from napari_microdeblur.core.io import read_image

    record = read_image(again).metadata["microdeblur"]
    assert record["method"] == "wiener" and record["resaved"][-1]["from_file"] == "res.tif"


def test_a_plain_tiff_opens_at_scale_1_under_napari_s_default_axes(make_napari_viewer,
                                                                     tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.arange(3 * 40 * 36, dtype=np.uint16).reshape(3, 40, 36),
                     photometric="minisblack")
    (layer,) = make_napari_viewer().open(str(path), plugin=PLUGIN)
    assert layer.name == "plain" and layer.data.shape == (3, 40, 36)
    assert list(layer.scale) == [1, 1, 1] and layer.metadata == {}
    assert tuple(layer.axis_labels) == ("-3", "-2", "-1")  # its axes are a guess


def test_the_reader_declines_what_it_cannot_read(tmp_path):
    from napari_microdeblur._reader import get_reader

    fake = tmp_path / "photo.tif"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    empty = tmp_path / "empty.zarr"
    empty.mkdir()
    real = tmp_path / "real.tif"
    tifffile.imwrite(real, np.zeros((8, 8), np.uint8))
    assert get_reader(str(fake)) is None
    assert get_reader(str(empty)) is None
    assert get_reader(str(tmp_path / "x.png")) is None
    assert get_reader([str(real), str(real)]) is None  # a stack: napari's own reader
    assert get_reader([str(real)]) is not None and get_reader(str(real)) is not None


def test_a_tiff_over_the_whole_read_limit_opens_plane_by_plane(make_napari_viewer, tmp_path,
                                                                monkeypatch):
    import napari_microdeblur._reader as reader

    monkeypatch.setattr(reader, "READ_WHOLE_BYTES", 0)  # every TIFF counts as large
    data = np.random.default_rng(4).integers(0, 3000, (3, 40, 36), dtype=np.uint16)
    path = _imagej(tmp_path / "big.tif", data, "ZYX", 0.2, 0.5)
    (layer,) = make_napari_viewer().open(path, plugin=PLUGIN)
    assert type(layer.data).__module__.startswith("dask")  # nothing read on opening
    np.testing.assert_array_equal(np.asarray(layer.data), data)
    np.testing.assert_allclose(layer.scale, (0.5, 0.2, 0.2))
