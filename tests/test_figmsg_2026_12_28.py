"""Two silent choices now said in one line. An RGB image on --modality auto ran as brightfield
with no line, where a grayscale one says it ran as fluorescence: a fluorescence composite saved
as RGB (green / magenta on black) was run as brightfield unsaid; now the command line and the
Deblur dock's status say it, and how to ask for fluorescence. And ``--output-dtype float32``
asked of a .png output was followed silently by an 8-bit PNG; it is now refused before any
work, on the command line and in ``deblur_file`` (the default, float32, still writes a PNG of
the input's 8 or 16 bits, as documented)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from napari_microdeblur.cli import main

RGB_LINE = ("(--modality auto: RGB, so run as brightfield; for a fluorescence composite give "
            "--modality fluorescence)")
DOCK_RGB = ("Image type auto: RGB, so run as brightfield; for a fluorescence composite choose "
            "Image type fluorescence")
TIMEOUT = 60_000  # ms


def _rgb(size=96, seed=0) -> np.ndarray:
    """A fluorescence-like composite saved as RGB: green and magenta spots on black."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    spots = [gaussian_filter((rng.random((size, size)) > 0.985) * 255.0, 2.0) * 6
             for _ in range(2)]
    green, magenta = (np.clip(s, 0, 255) for s in spots)
    return np.stack([magenta, green, magenta], axis=-1).astype(np.uint8)


def _png(path, array) -> str:
    Image.fromarray(array).save(path)
    return str(path)


def test_rgb_auto_says_it_ran_as_brightfield_and_how_to_ask_for_fluorescence(tmp_path, capsys):
    source = _png(tmp_path / "composite.png", _rgb())
    assert main(["deblur", source, "-o", str(tmp_path / "out.png")]) == 0
    said = capsys.readouterr()
    lines = (said.out + said.err).splitlines()
    assert sum(RGB_LINE in line for line in lines) == 1
    assert "grayscale" not in said.out + said.err
    assert Image.open(tmp_path / "out.png").mode == "RGB"  # the default still writes a PNG
    # modality given: nothing to say
    assert main(["deblur", source, "-o", str(tmp_path / "fl.tif"),
                 "--modality", "fluorescence"]) == 0
    assert "so run as" not in "".join(capsys.readouterr())


def test_the_rgb_rule_leaves_gray_given_modality_psf_and_weights_alone():
    from napari_microdeblur.core.image_settings import gray_auto, rgb_auto
    from napari_microdeblur.core.method import MethodSpec

    auto = MethodSpec("auto")
    assert rgb_auto(auto, "YXS", (8, 8, 3)) and rgb_auto(auto, "YXS", (8, 8, 4))
    assert not rgb_auto(auto, "YX", (8, 8)) and gray_auto(auto, "YX", (8, 8))
    assert not rgb_auto(auto, "YXS", (8, 8, 2))  # gray + alpha is grayscale
    assert not rgb_auto(MethodSpec("auto", modality="brightfield"), "YXS", (8, 8, 3))
    assert not rgb_auto(MethodSpec("auto", psf="gaussian:1.5"), "YXS", (8, 8, 3))
    assert not rgb_auto(MethodSpec("wiener", psf="gaussian:1.5"), "YXS", (8, 8, 3))


def test_the_dock_note_for_rgb_is_the_command_lines_in_dock_words():
    from napari_microdeblur._widgets._methods import auto_modality_note
    from napari_microdeblur.core.method import MethodSpec

    assert auto_modality_note(MethodSpec("auto"), "YXS", (8, 8, 3), np.uint8) == DOCK_RGB
    assert "grayscale, so run as fluorescence" in auto_modality_note(
        MethodSpec("auto"), "YX", (8, 8), np.uint8)
    assert auto_modality_note(MethodSpec("auto", modality="brightfield"), "YXS",
                              (8, 8, 3), np.uint8) == ""


def test_after_an_rgb_run_the_deblur_docks_status_says_brightfield(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer = viewer.add_image(_rgb(64), name="composite", rgb=True)
    _, w = viewer.window.add_plugin_dock_widget("napari-microdeblur", "Deblur")
    w.layer_combo.set_value(layer)
    assert w.modality_combo.currentData() == "auto"
    run = w.run()
    qtbot.waitUntil(lambda: run.done, timeout=TIMEOUT)
    status = w.status_label.text()
    assert status.startswith("added 'composite deblurred") and f"; {DOCK_RGB}" in status
    assert "\n" not in status


@pytest.mark.parametrize("suffix", [".png", ".PNG"])
def test_output_dtype_float32_asked_of_a_png_is_refused_before_any_work(
        tmp_path, capsys, suffix):
    source = _png(tmp_path / "gray.png", _rgb()[..., 1])
    target = tmp_path / f"out{suffix}"
    assert main(["deblur", source, "-o", str(target), "--output-dtype", "float32"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert ("PNG holds 8- or 16-bit integers, not the float32 of --output-dtype float32; "
            "write .tif for float32, or leave --output-dtype out") in err[0]
    assert not target.exists()


def test_only_an_output_dtype_typed_counts_as_asked():
    from napari_microdeblur.cli import build_parser

    parser = build_parser()
    left = parser.parse_args(["deblur", "a.png", "-o", "b.png"])
    assert left.output_dtype == "float32" and not getattr(left, "output_dtype_given", False)
    given = parser.parse_args(["deblur", "a.png", "-o", "b.png", "--output-dtype", "input"])
    assert given.output_dtype == "input" and given.output_dtype_given
    with pytest.raises(SystemExit):
        parser.parse_args(["deblur", "a.png", "-o", "b.png", "--output-dtype", "float64"])


@pytest.mark.parametrize("asked", ["float32", np.float32])
def test_deblur_file_refuses_output_dtype_float32_for_a_png(tmp_path, asked):
    from napari_microdeblur.core.files import deblur_file

    source = _png(tmp_path / "gray.png", _rgb()[..., 1])
    with pytest.raises(ValueError, match="PNG holds 8- or 16-bit integers, not the float32 of "
                                         "output_dtype='float32'; write .tif for float32"):
        deblur_file(source, tmp_path / "out.png", output_dtype=asked)
    assert not (tmp_path / "out.png").exists()
