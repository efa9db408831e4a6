"""Python API audit of image reading, writing and tiling (2026-12-05): big-endian TIFFs (what
ImageJ saves) read with their values, pixel sizes in nm read in um and carried to the output,
files holding several images say that only the first is read, an unreadable PNG/JPEG is one
line."""

import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core import io, io_write

RNG = np.random.default_rng(5)
STACK = (RNG.random((3, 24, 40)) * 60000).astype(np.uint16)


@pytest.mark.parametrize("imagej", [False, True])
def test_a_big_endian_tiff_reads_its_values_not_byte_swapped_ones(tmp_path, imagej):
    """ImageJ saves uncompressed big-endian TIFFs: the lazy reader swapped every 16-bit pixel."""
    path = tmp_path / "fiji.tif"
    tifffile.imwrite(path, STACK, byteorder=">", imagej=imagej,
                     photometric="minisblack", metadata={"axes": "ZYX"})
    data = io.read_image(path)
    assert data.array.dtype == np.uint16 and data.array.dtype.isnative
    np.testing.assert_array_equal(np.asarray(data.array), STACK)
    np.testing.assert_array_equal(data.array[1, 3:9, ::3], STACK[1, 3:9, ::3])


def test_a_big_endian_tiff_deblurs_like_its_array(tmp_path):
    from napari_microdeblur.core.files import deblur_file
    from napari_microdeblur.core.inference import deblur

    src, out = tmp_path / "be.tif", tmp_path / "out.tif"
    tifffile.imwrite(src, STACK[0], byteorder=">")
    options = {"method": "wiener", "psf": "gaussian:1.2", "balance": 0.01, "device": "cpu"}
    deblur_file(src, out, output_dtype="input", **options)
    expected = deblur(STACK[0], axes="YX", output_dtype="input", **options)
    np.testing.assert_array_equal(tifffile.imread(out), expected)


@pytest.mark.parametrize("unit, factor", [("nm", 1e-3), ("µm", 1.0), ("mm", 1e3)])
def test_ome_pixel_sizes_in_other_units_are_read_in_um(tmp_path, unit, factor):
    """An EM OME-TIFF with 4 nm pixels read as 4 um pixels (1000x too large) and its output
    said so."""
    path = tmp_path / "em.ome.tif"
    tifffile.imwrite(path, STACK, metadata={
        "axes": "ZYX", "PhysicalSizeX": 4.0, "PhysicalSizeXUnit": unit,
        "PhysicalSizeY": 4.0, "PhysicalSizeYUnit": unit,
        "PhysicalSizeZ": 30.0, "PhysicalSizeZUnit": unit})
    sizes = io.read_image(path).pixel_size
    assert sizes == pytest.approx({"X": 4.0 * factor, "Y": 4.0 * factor, "Z": 30.0 * factor})


def test_an_ome_pixel_size_in_an_unknown_unit_is_left_out(tmp_path):
    path = tmp_path / "px.ome.tif"
    tifffile.imwrite(path, STACK[0], metadata={
        "axes": "YX", "PhysicalSizeX": 2.0, "PhysicalSizeXUnit": "pixel",
        "PhysicalSizeY": 0.5, "PhysicalSizeYUnit": "µm"})
    assert io.read_image(path).pixel_size == {"Y": 0.5}


@pytest.mark.parametrize("unit, factor", [("nm", 1e-3), ("micron", 1.0), ("mm", 1e3)])
def test_imagej_pixel_sizes_in_other_units_are_read_in_um(tmp_path, unit, factor):
    """A Fiji hyperstack calibrated in nm lost X and Y and had its Z step read as um."""
    path = tmp_path / "hyper.tif"
    hyper = STACK.reshape(1, 3, 1, 24, 40)
    tifffile.imwrite(path, hyper, imagej=True, resolution=(1 / 4.0, 1 / 4.0),
                     metadata={"axes": "TZCYX", "spacing": 40.0, "unit": unit})
    data = io.read_image(path)
    assert data.axes == "ZYX"
    assert data.pixel_size == pytest.approx({"X": 4.0 * factor, "Y": 4.0 * factor,
                                             "Z": 40.0 * factor})


def test_a_deblurred_nm_tiff_keeps_its_physical_pixel_size(tmp_path):
    from napari_microdeblur.core.files import deblur_file

    src = tmp_path / "em.ome.tif"
    tifffile.imwrite(src, STACK[0], metadata={
        "axes": "YX", "PhysicalSizeX": 4.0, "PhysicalSizeXUnit": "nm",
        "PhysicalSizeY": 4.0, "PhysicalSizeYUnit": "nm"})
    for name in ("out.ome.tif", "out.tif"):
        deblur_file(src, tmp_path / name, method="wiener", psf="gaussian:1.2", balance=0.01,
                    device="cpu")
        sizes = io.read_image(tmp_path / name).pixel_size
        assert sizes == pytest.approx({"X": 0.004, "Y": 0.004}, rel=1e-4)


def test_an_ome_zarr_in_nanometres_is_read_in_um_and_written_with_its_unit(tmp_path):
    zarr = pytest.importorskip("zarr")
    src = tmp_path / "em.ome.zarr"
    group = zarr.open_group(str(src), mode="w", zarr_format=2)
    group.create_array("0", shape=STACK.shape, dtype=STACK.dtype)[...] = STACK
    group.attrs["multiscales"] = [{
        "version": "0.4",
        "axes": [{"name": a, "type": "space", "unit": "nanometer"} for a in "zyx"],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [30.0, 4.0, 4.0]}]}]}]
    data = io.read_image(src)
    assert data.pixel_size == pytest.approx({"Z": 0.03, "Y": 0.004, "X": 0.004})
    out = tmp_path / "out.zarr"
    with io_write.open_zarr_output(out, STACK.shape, STACK.dtype, axes="ZYX",
                                   pixel_size=data.pixel_size) as target:
        target[...] = STACK
    axes = zarr.open_group(str(out), mode="r").attrs["multiscales"][0]["axes"]
    assert [a.get("unit") for a in axes] == ["micrometer"] * 3
    assert io.read_image(out).pixel_size == pytest.approx(data.pixel_size)


def test_a_tiff_of_several_images_says_only_the_first_is_read(tmp_path):
    """A multi-position OME-TIFF deblurred into the first position alone, without a word."""
    path = tmp_path / "positions.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(STACK[0], metadata={"axes": "YX"})
        tif.write(STACK[1, :16, :16], metadata={"axes": "YX"})
    with pytest.warns(UserWarning, match=r"positions\.ome\.tif: .*2 images.* only the first"):
        data = io.read_image(path)
    np.testing.assert_array_equal(np.asarray(data.array), STACK[0])


def test_a_tiff_of_one_image_reads_without_a_warning(tmp_path):
    path = tmp_path / "one.ome.tif"
    tifffile.imwrite(path, STACK, metadata={"axes": "ZYX"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = io.read_image(path)
    assert [str(w.message) for w in caught] == []
    assert tuple(data.array.shape) == STACK.shape


@pytest.mark.parametrize("name", ["broken.png", "broken.JPG"])
def test_an_unreadable_png_or_jpeg_is_one_line(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"not an image at all")
    with pytest.raises(ValueError) as error:
        io.read_image(path)
    message = str(error.value)
    assert "\n" not in message and name in message
