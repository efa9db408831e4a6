"""A .png output and its output dtype. `microdeblur info OUT.png --command` said
``--output-dtype float32`` (the record kept the float32 the PNG ran in), which is refused for a
.png since float32 asked of one is: every PNG's rerun command failed. The rerun of a PNG now
leaves --output-dtype out (an old record's float32 too), and the record says the 8 or 16 bits
the PNG holds. ``deblur_file(..., "x.png", output_dtype=...)`` wrote 8 bits silently for
np.float64, 'float', np.uint16 on an 8-bit input, even 'banana' (a .tif refuses each); a PNG
now refuses every output_dtype it will not hold, in one line."""

from __future__ import annotations

import shlex
import warnings

import numpy as np
import pytest
from PIL import Image

from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.files import deblur_file

RUN = dict(method="richardson_lucy", psf="gaussian:1.5", iterations=2)
CLI_RUN = ["--method", "richardson_lucy", "--psf", "gaussian:1.5", "--iterations", "2"]


def _png(path, dtype=np.uint8) -> str:
    rng = np.random.default_rng(0)
    top = np.iinfo(dtype).max * 0.8
    Image.fromarray((rng.random((48, 48)) * top).astype(dtype)).save(path)
    return str(path)


def _deblur(source, output, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # clipping, small-image notes: not the point here
        return deblur_file(source, output, **RUN, **options)


def _command(capsys, output) -> list[str]:
    capsys.readouterr()
    assert main(["info", str(output), "--command"]) == 0
    return shlex.split(capsys.readouterr().out.strip())


def test_a_png_rerun_command_leaves_output_dtype_out_and_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _png(tmp_path / "gray.png")
    assert main(["deblur", "gray.png", "-o", "b.png", *CLI_RUN]) == 0
    words = _command(capsys, "b.png")
    assert "--output-dtype" not in words and words[4] == "b_rerun.png"
    assert main(words[1:]) == 0  # refused before: '--output-dtype float32' for a .png
    assert Image.open(tmp_path / "b_rerun.png").mode == "L"


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_png_record_says_the_bits_it_holds(tmp_path, capsys, dtype):
    source = _png(tmp_path / "gray.png", dtype)
    _deblur(source, tmp_path / "out.png")
    read = io.read_image(tmp_path / "out.png")
    assert read.array.dtype == dtype
    assert read.metadata["microdeblur"]["output_dtype"] == np.dtype(dtype).name  # was float32
    # a .tif's record is unchanged: the float32 it holds
    _deblur(source, tmp_path / "out.tif")
    assert io.read_image(tmp_path / "out.tif").metadata["microdeblur"]["output_dtype"] == "float32"


def test_an_old_png_recording_float32_still_reruns(tmp_path, capsys, monkeypatch):
    from napari_microdeblur.core.io_write import write_png

    monkeypatch.chdir(tmp_path)
    _png(tmp_path / "gray.png")
    _deblur("gray.png", "b.png")
    read = io.read_image("b.png")
    old = {**read.metadata["microdeblur"], "output_dtype": "float32"}  # as earlier releases
    write_png("b.png", read.array, axes="YX", dtype=np.uint8, record=old)
    words = _command(capsys, "b.png")
    assert "float32" not in words
    assert main(words[1:]) == 0
    # a .tif's rerun still names the dtype it holds
    _deblur("gray.png", "c.tif")
    words = _command(capsys, "c.tif")
    assert words[words.index("--output-dtype") + 1] == "float32"


@pytest.mark.parametrize(("asked", "dtype", "words"), [
    (np.float64, np.uint8, "not the float64 of output_dtype=np.float64"),
    ("float", np.uint8, "not the float64 of output_dtype='float'"),
    (np.uint16, np.uint8, "not the uint16 of output_dtype=np.uint16"),  # 8 bits were written
    (np.uint8, np.uint16, "not the uint8 of output_dtype=np.uint8"),
    ("banana", np.uint8, "not output_dtype='banana'"),
    (None, np.uint8, "not output_dtype=None"),
])
def test_deblur_file_png_refuses_an_output_dtype_it_will_not_hold(tmp_path, asked, dtype, words):
    source = _png(tmp_path / "gray.png", dtype)
    bits = np.iinfo(dtype).bits
    with pytest.raises(ValueError) as refused:
        _deblur(source, tmp_path / "out.png", output_dtype=asked)
    said = str(refused.value)
    assert "\n" not in said and words in said
    assert said.startswith(f"output '{tmp_path / 'out.png'}': PNG holds the input's {bits} bits")
    assert said.endswith(f"leave output_dtype out (or give 'input') for a PNG of the input's "
                         f"{bits} bits, or write .tif with output_dtype='float32' for float32")
    assert not (tmp_path / "out.png").exists()


def test_a_png_takes_input_and_the_inputs_own_type(tmp_path):
    source = _png(tmp_path / "gray.png")
    for i, asked in enumerate(["input", np.uint8, "uint8", np.dtype(">u1")]):
        _deblur(source, tmp_path / f"out{i}.png", output_dtype=asked)
        assert io.read_image(tmp_path / f"out{i}.png").array.dtype == np.uint8
    wide = _png(tmp_path / "wide.png", np.uint16)
    _deblur(wide, tmp_path / "wide_out.png", output_dtype=np.uint16)
    assert io.read_image(tmp_path / "wide_out.png").array.dtype == np.uint16


def test_a_tiling_spec_for_a_png_refuses_a_bad_dtype_and_keeps_its_default(tmp_path):
    from napari_microdeblur.core.method import MethodSpec
    from napari_microdeblur.core.tiling_spec import TilingSpec

    source = _png(tmp_path / "gray.png")
    spec = MethodSpec("richardson_lucy", psf="gaussian:1.5", iterations=2)
    with pytest.raises(ValueError, match="PNG holds the input's 8 bits .uint8., not "
                                         "output_dtype='banana'"):
        deblur_file(source, tmp_path / "bad.png", method=spec,
                    tiling=TilingSpec(output_dtype="banana"))
    assert not (tmp_path / "bad.png").exists()
    # float32 is TilingSpec's default (the CLI's too): a PNG of the input's bits, as documented
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        deblur_file(source, tmp_path / "ok.png", method=spec, tiling=TilingSpec())
    assert io.read_image(tmp_path / "ok.png").array.dtype == np.uint8


def test_the_cli_takes_output_dtype_input_for_a_png(tmp_path, capsys):
    source = _png(tmp_path / "gray.png")
    assert main(["deblur", source, "-o", str(tmp_path / "o.png"), *CLI_RUN,
                 "--output-dtype", "input"]) == 0
    assert io.read_image(tmp_path / "o.png").metadata["microdeblur"]["output_dtype"] == "uint8"
