"""Defects found by the 2026-12-04 audit of the command line and the Python deblur API."""

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.inference import deblur

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01", "--device", "cpu",
          "-q"]


def _image(shape=(96, 96), dtype=np.uint16):
    rng = np.random.default_rng(0)
    return (rng.random(shape) * 1000 + 100).astype(dtype)


def test_a_tile_rounded_down_to_the_size_divisor_gets_the_right_least_tile(tmp_path, capsys):
    """--tile 131 ran as 128 (a multiple of 16) against an overlap of 128 and failed in the
    tiler's words; the receptive-field check said 'at least 130', which failed the same way."""
    src = tmp_path / "a.tif"
    tifffile.imwrite(src, _image((256, 256)))
    args = ["deblur", str(src), "--method", "c2f_unet.fluorescence_v2", "--device", "cpu", "-q"]
    assert main([*args, "-o", str(tmp_path / "o.tif"), "--tile", "131"]) == 2
    err = capsys.readouterr().err
    # the least tile whose work stays within 3x (144 ran: its 16 px step was 9x the work)
    assert "use a tile of at least 192" in err and "run as 128" in err
    assert err.count("\n") == 1 and "size_divisor" not in err
    assert main([*args, "-o", str(tmp_path / "o.tif"), "--tile", "192"]) == 0


def test_an_integer_out_is_refused_for_a_float_result():
    """Wiener's negative ringing written into a uint16 ``out`` wrapped to ~65535."""
    image = _image()
    out = np.zeros(image.shape, np.uint16)
    with pytest.raises(TypeError, match="out has dtype uint16 but the output is float32"):
        deblur(image, method="wiener", psf="gaussian:2", balance=0.001, out=out)
    assert not out.any()
    wide = np.zeros(image.shape, np.float64)  # a wider float takes the float32 result
    deblur(image, method="wiener", psf="gaussian:2", balance=0.001, out=wide)
    assert wide.any()


def test_two_inputs_with_the_same_output_name_are_refused_before_any_work(tmp_path, capsys):
    """a.png and a.tif both went to a_deblurred.tif: the second was 'exists, skipped', never
    deblurred."""
    import imageio.v3 as iio

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    iio.imwrite(src / "a.png", _image(dtype=np.uint8))
    tifffile.imwrite(src / "a.tif", _image())
    assert main(["deblur", str(src), "-o", str(out), *WIENER]) == 2
    err = capsys.readouterr().err
    assert "would both be written to" in err and err.count("\n") == 1
    assert list(out.iterdir()) == []


def test_a_rerun_into_the_inputs_folder_does_not_deblur_the_outputs(tmp_path, capsys):
    """-o the inputs' folder: the second run made a_deblurred_deblurred.tif."""
    tifffile.imwrite(tmp_path / "a.tif", _image())
    assert main(["deblur", str(tmp_path), "-o", str(tmp_path), *WIENER]) == 0
    assert main(["deblur", str(tmp_path), "-o", str(tmp_path), *WIENER]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "a_deblurred.tif"]


def test_an_unmarked_second_sample_is_a_channel_not_alpha(tmp_path):
    """Two channels saved (Y, X, 2) (an 'unspecified' extra sample) lost the second as
    'alpha'; four lost the fourth and were read as RGB."""
    for n in (2, 4):
        image = _image((64, 64, n))
        tifffile.imwrite(tmp_path / f"c{n}.tif", image, photometric="minisblack",
                         planarconfig="contig")
        for lazy in (True, False):
            data = io.read_image(tmp_path / f"c{n}.tif", lazy=lazy)
            assert data.axes == "YXS"
            np.testing.assert_array_equal(np.asarray(data.array), image)
    src = tmp_path / "c2.tif"
    assert main(["deblur", str(src), "-o", str(tmp_path / "o.tif"), *WIENER]) == 0
    assert tifffile.imread(tmp_path / "o.tif").shape == (64, 64, 2)


def test_rgb_with_a_fourth_sample_still_drops_it(tmp_path):
    rgba = _image((64, 64, 4), np.uint8)
    tifffile.imwrite(tmp_path / "rgba.tif", rgba, photometric="rgb")
    with pytest.warns(UserWarning, match="alpha channel dropped"):
        data = io.read_image(tmp_path / "rgba.tif")
    np.testing.assert_array_equal(np.asarray(data.array), rgba[..., :3])


def test_a_plain_tif_output_keeps_the_z_spacing(tmp_path):
    """-o out.tif (not .ome.tif) of a z-stack with a 0.5 um spacing came back without Z."""
    src = tmp_path / "stack.tif"
    tifffile.imwrite(src, _image((4, 64, 64)), imagej=True, resolution=(10, 10),
                     metadata={"axes": "ZYX", "spacing": 0.5, "unit": "um"})
    assert main(["deblur", str(src), "-o", str(tmp_path / "o.tif"), *WIENER]) == 0
    data = io.read_image(tmp_path / "o.tif")
    assert data.axes == "ZYX"
    assert data.pixel_size == pytest.approx({"X": 0.1, "Y": 0.1, "Z": 0.5})
