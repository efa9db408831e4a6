"""The Python API as a walkthrough met it (2026-12-09): 'auto' on a grayscale EM image ran the
fluorescence network without a word (the CLI says it), help() left out that the float result
leaves the input's range, np.float32 was refused as output_dtype, a planar H&E array read as
ZYX was refused without saying which axes to give, and ``napari_microdeblur.deblur`` did not
exist."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core.inference import deblur, iter_deblur
from napari_microdeblur.core.notes import DeblurNote
from napari_microdeblur.core.progress import drive

RNG = np.random.default_rng(0)
GRAY = (RNG.random((64, 64)) * 200 + 30).astype(np.uint8)
PLANAR_RGB = (RNG.random((3, 64, 64)) * 200 + 30).astype(np.uint8)


def _auto_notes(caught) -> list[str]:
    return [str(w.message) for w in caught
            if issubclass(w.category, DeblurNote) and "modality='em'" in str(w.message)]


def test_auto_on_a_grayscale_array_notes_the_network_and_the_modality_to_give():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = drive(iter_deblur(GRAY, method="auto", device="cpu"))
    said = _auto_notes(caught)
    assert len(said) == 1, [str(w.message) for w in caught]
    assert said[0].startswith(f"method 'auto' ran {result.method} ")
    assert "fluorescence" in result.method
    assert "modality='brightfield'" in said[0]


@pytest.mark.parametrize("options", [dict(modality="em"), dict(modality="fluorescence"),
                                     dict(psf="gaussian:1.5"), dict(method="wiener",
                                                                    psf="gaussian:1.5")])
def test_no_modality_note_where_the_user_chose(options):
    options = {"method": "auto", "device": "cpu", **options}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur(GRAY, **options)
    assert _auto_notes(caught) == []


def test_no_modality_note_for_rgb():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deblur(np.moveaxis(PLANAR_RGB, 0, -1), method="auto", device="cpu")
    assert _auto_notes(caught) == []


def test_the_command_line_says_the_modality_once_in_its_own_words(tmp_path, capsys):
    from napari_microdeblur.core.image_settings import gray_auto_words

    tifffile.imwrite(tmp_path / "em.tif", GRAY)
    assert main(["deblur", str(tmp_path / "em.tif"), "-o", str(tmp_path / "out.tif"),
                 "--device", "cpu"]) == 0
    said = capsys.readouterr()
    text = said.out + said.err
    assert text.count("--modality em") == 1, text
    assert "modality='em'" not in text
    assert f"({gray_auto_words('--modality {}'.format)})" in said.out


def test_help_says_the_float_result_leaves_the_input_range_and_input_clips():
    doc = " ".join(deblur.__doc__.split())
    assert "negative" in doc and "-168..392" in doc
    assert "'input'" in doc and "clipped to the input's dtype" in doc
    assert "help(deblur)" in " ".join(iter_deblur.__doc__.split())
    # what the docstring promises
    floats = deblur(GRAY, method="wiener", psf="gaussian:2", balance=0.001, device="cpu")
    assert floats.min() < 0 or floats.max() > 255
    as_input = deblur(GRAY, method="wiener", psf="gaussian:2", balance=0.001, device="cpu",
                      output_dtype="input")
    assert as_input.dtype == np.uint8
    np.testing.assert_array_equal(as_input, np.clip(np.rint(floats), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("given, expected", [(np.float32, np.float32),
                                             (np.dtype("float32"), np.float32),
                                             (GRAY.dtype, np.uint8), (np.uint8, np.uint8),
                                             ("uint8", np.uint8)])
def test_output_dtype_takes_numpy_dtypes_of_float32_or_the_input(given, expected):
    options = dict(method="wiener", psf="gaussian:1.5", balance=0.01, device="cpu")
    named = "float32" if expected == np.float32 else "input"
    out = deblur(GRAY, output_dtype=given, **options)
    assert out.dtype == expected
    np.testing.assert_array_equal(out, deblur(GRAY, output_dtype=named, **options))


@pytest.mark.parametrize("given", [np.float64, np.uint16, "float"])
def test_other_output_dtypes_are_refused_naming_what_is_accepted(given):
    with pytest.raises(ValueError) as error:
        deblur(GRAY, method="wiener", psf="gaussian:1.5", device="cpu", output_dtype=given)
    said = str(error.value)
    assert "'float32'" in said and "np.float32" in said and "'input'" in said
    assert "np.uint8" in said


def test_a_three_channel_network_on_zyx_says_which_axes_to_give():
    with pytest.raises(ValueError, match=r"has no channel axis.*axes='CYX'"):
        deblur(PLANAR_RGB, method="gran.hist_v1", axes="ZYX", device="cpu")
    channels_last = np.moveaxis(PLANAR_RGB, 0, -1)
    with pytest.raises(ValueError, match=r"axes='YXS'"):
        deblur(channels_last, method="gran.hist_v1", axes="ZYX", device="cpu")
    # the advice runs
    planar = deblur(PLANAR_RGB, method="gran.hist_v1", axes="CYX", device="cpu")
    last = deblur(channels_last, method="gran.hist_v1", axes="YXS", device="cpu")
    np.testing.assert_allclose(np.moveaxis(planar, 0, -1), last, rtol=1e-5, atol=1e-3)


def test_a_planar_rgba_array_is_told_to_move_its_samples_last():
    rgba = np.concatenate([PLANAR_RGB, np.full((1, 64, 64), 255, np.uint8)])
    with pytest.raises(ValueError, match=r"np\.moveaxis\(image, 0, -1\).*axes='YXS'"):
        deblur(rgba, method="gran.hist_v1", axes="ZYX", device="cpu")


def test_the_package_gives_the_api_without_importing_torch():
    code = (
        "import sys, napari_microdeblur as m\n"
        "print('torch' in sys.modules, 'deblur' in dir(m), 'evaluate' in dir(m))\n"
        "from napari_microdeblur.core import inference, metrics, files\n"
        "print(m.deblur is inference.deblur, m.iter_deblur is inference.iter_deblur,\n"
        "      m.evaluate is metrics.evaluate, m.deblur_file is files.deblur_file)\n"
        "try:\n"
        "    m.no_such_name\n"
        "except AttributeError as e:\n"
        "    print('AttributeError', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == "False True True", out
    assert out[1] == "True True True True", out
    assert out[2].startswith("AttributeError") and "no_such_name" in out[2]
