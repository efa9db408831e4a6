"""A TIFF that does not name its axes (tifffile.imwrite of a (128, 128, 2) array: tifffile's
unknown axis Q, read as Z) is refused where reading it so makes planes of a few pixels, as the
Python API refuses the same guess: by the file reader, the command line and the Deblur dock (the
Axes box left empty, its note saying what to type). A PNG named .tif and an empty .tif say
what they are."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core import io
from napari_microdeblur.core.axes import check_axes
from napari_microdeblur.core.files import deblur_file, image_axes

PLUGIN = "napari-microdeblur"
NARROW = r"does not name its axes.*'ZYX' for shape \(128, 128, 2\) makes each plane 128 x 2 px"


@pytest.fixture
def yxc2(tmp_path):
    """Two channels last, written without axes: tifffile reads them QYX."""
    path = tmp_path / "yxc2.tif"
    data = np.random.default_rng(0).random((128, 128, 2)).astype(np.float32)
    tifffile.imwrite(path, data)
    with tifffile.TiffFile(path) as tif:
        assert tif.series[0].axes == "QYX"
    return path


def test_file_reader_refuses_unnamed_axes_that_make_narrow_planes(yxc2):
    data = io.read_image(yxc2)
    assert data.axes == "ZYX" and not data.stated
    with pytest.raises(ValueError, match=NARROW + r"; give the axes, e\.g\. axes='YXC'$"):
        image_axes(data)
    assert image_axes(data, "YXC") == "YXC"


@pytest.mark.parametrize("options", [{}, {"method": "richardson_lucy", "psf": "gaussian:1.5"}])
def test_deblur_file_refuses_before_the_psf_check_and_writes_nothing(yxc2, tmp_path, options):
    out = tmp_path / "out.tif"
    with pytest.raises(ValueError, match=NARROW):  # not 'PSF larger than 128 x 2 px'
        deblur_file(yxc2, out, **options)
    assert not out.exists()


def test_the_command_line_says_to_give_axes(yxc2, tmp_path, capsys):
    from napari_microdeblur.cli import main

    out = tmp_path / "out.tif"
    assert main(["deblur", str(yxc2), "-o", str(out)]) != 0
    err = capsys.readouterr().err
    assert "makes each plane 128 x 2 px; give the axes, e.g. --axes 'YXC'" in err
    assert not out.exists()
    assert main(["deblur", str(yxc2), "-o", str(out), "--axes", "YXC", "--method",
                 "richardson_lucy", "--psf", "gaussian:1.5", "--iterations", "3"]) == 0
    assert tifffile.imread(out).shape == (128, 128, 2)


def test_info_does_not_show_a_refused_guess_as_the_axes(yxc2, capsys):
    from napari_microdeblur.cli import main

    assert main(["info", str(yxc2), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["axes"] == "" and not record["axes_stated"]
    assert "makes each plane 128 x 2 px" in record["axes_note"]


def test_axes_the_file_names_are_kept_even_with_narrow_planes(tmp_path):
    path = tmp_path / "named.tif"
    tifffile.imwrite(path, np.zeros((128, 128, 2), np.float32), metadata={"axes": "ZYX"})
    data = io.read_image(path)
    assert data.stated and image_axes(data) == "ZYX"  # the file's word, not a guess


def test_several_unknown_axes_go_through_the_guess_and_are_refused_alike(tmp_path):
    path = tmp_path / "qq.tif"
    tifffile.imwrite(path, np.zeros((5, 64, 64, 2), np.float32))
    data = io.read_image(path)
    assert data.axes == ""  # QQYX: two Z, no axes string
    with pytest.raises(ValueError, match=r"guess 'TZYX' .* 64 x 2 px; give the axes, e\.g\. "
                                         r"axes='ZYXC'"):
        image_axes(data)


def test_unnamed_axes_with_wide_planes_are_read_as_before(tmp_path):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((2, 64, 64), np.float32))
    with pytest.warns(UserWarning, match="if it holds channels, give axes='CYX'"):
        assert image_axes(io.read_image(path)) == "ZYX"


def test_empty_axes_say_why_none_fit():
    with pytest.raises(ValueError, match=r"^no axes given, and the guess 'ZYX' for shape "
                                         r"\(128, 128, 2\) .* 128 x 2 px; give the axes, e\.g\. "
                                         "YXC$"):
        check_axes("", (128, 128, 2))
    with pytest.raises(ValueError, match=r"no axes given for shape \(8, 64, 64\); give one "
                                         "letter"):
        check_axes("", (8, 64, 64))


def test_a_png_named_tif_and_an_empty_tif_say_what_they_are(tmp_path):
    import imageio.v3 as iio

    fake = tmp_path / "cells.tif"
    iio.imwrite(fake, np.zeros((16, 16), np.uint8), extension=".png")
    assert fake.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"cells\.tif' as TIFF: it is a PNG file named \.tif; "
                                         r"rename it to cells\.png$"):
        io.read_image(fake)
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.tif': the file is empty \(0 bytes\)"):
        io.read_image(empty)


def test_dock_leaves_axes_empty_and_says_what_to_type(make_napari_viewer, yxc2):
    from napari_microdeblur._widgets._layers import layer_axes_note, shape_axes

    viewer = make_napari_viewer()
    layer = viewer.open(str(yxc2), plugin="napari")[0]
    assert layer.data.shape == (128, 128, 2) and not layer.rgb
    assert shape_axes(layer) == ""
    _, w = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    w.layer_combo.set_value(layer)
    w.image._guess_axes()  # as a change of layer does
    assert w.axes_edit.text() == ""
    note = w.image.axes_assumed
    assert "makes each plane 128 x 2 px; type YXC in Axes" in note and "\n" not in note
    assert w.image.axes_note.isVisibleTo(w.image)
    assert w.run() is None  # refused, saying why
    assert "makes each plane 128 x 2 px; give the axes, e.g. YXC" in w.status_label.text()
    w.axes_edit.setText("YXC")
    assert w.image.checked()[1] == "YXC" and not w.image.axes_assumed
    assert layer_axes_note(layer, "") == note


def test_dock_keeps_the_guess_of_wide_planes(make_napari_viewer):
    from napari_microdeblur._widgets._layers import layer_axes_note, shape_axes

    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((2, 64, 64), np.float32))
    assert shape_axes(layer) == "ZYX" and layer_axes_note(layer, "") == ""
