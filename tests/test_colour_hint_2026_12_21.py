"""Three 8-bit channels run as fluorescence by --modality auto (an H&E image Fiji saved as a
composite, ImageJ CYX) get the hint that axes with S read them as colour, on the command line,
in the Python API and in the Deblur dock; the hint was written but nothing passed the dtype."""

from __future__ import annotations

import warnings

import numpy as np
import tifffile

from napari_microdeblur.cli import main


def _channels(dtype=np.uint8) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random((3, 48, 48)) * 200).astype(dtype)


def test_the_command_line_hints_axes_syx_for_three_8bit_channels(tmp_path, capsys):
    path = tmp_path / "he_cyx.tif"
    tifffile.imwrite(path, _channels(), imagej=True, metadata={"axes": "CYX"})
    assert main(["deblur", str(path), "-o", str(tmp_path / "out.tif")]) == 0
    said = capsys.readouterr()
    assert "if its 3 channels are the R, G, B of a colour image, give --axes SYX" in (
        said.out + said.err)


def test_sixteen_bit_channels_get_no_colour_hint(tmp_path, capsys):
    path = tmp_path / "fluo_cyx.tif"
    tifffile.imwrite(path, _channels(np.uint16), imagej=True, metadata={"axes": "CYX"})
    assert main(["deblur", str(path), "-o", str(tmp_path / "out.tif")]) == 0
    said = capsys.readouterr()
    assert "grayscale, so run as fluorescence" in said.out + said.err
    assert "colour image" not in said.out + said.err


def test_the_python_api_note_names_axes_syx():
    from napari_microdeblur import deblur

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur(_channels(), axes="CYX", method="auto")
    said = " ".join(str(w.message) for w in caught)
    assert "give axes='SYX'" in said


def test_the_dock_note_says_type_syx_in_axes():
    from napari_microdeblur._widgets._methods import gray_auto_note
    from napari_microdeblur.core.method import MethodSpec

    note = gray_auto_note(MethodSpec("auto"), "CYX", (3, 48, 48), np.uint8)
    assert note.endswith("type SYX in Axes")
    assert "colour" not in gray_auto_note(MethodSpec("auto"), "CYX", (3, 48, 48), np.float32)
