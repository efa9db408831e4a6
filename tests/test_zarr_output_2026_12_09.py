"""Zarr outputs (walkthrough "zarrout"): Compare & QC's Tile grid of a CLI output napari opened
(its record in the file, none in layer.metadata), a Zarr output in its Zarr input's chunks on Y
and X, the refusal of a result past memory naming -o OUT.zarr, and `deblur --help` naming the
Zarr input and output."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import build_parser, main
from napari_microdeblur.core import io_write, memory
from napari_microdeblur.core.tiling import plan_tiles

WIENER = ["--method", "wiener", "--psf", "gaussian:1.2", "--balance", "0.01", "--device", "cpu",
          "--tile", "32", "--axes", "ZYX", "-q"]


def _cli_output(tmp_path, suffix: str):
    """A (2, 64, 80) stack deblurred by the command line in 32 px tiles into OUT<suffix>."""
    source, out = tmp_path / "in.tif", tmp_path / f"out{suffix}"
    image = np.random.default_rng(0).random((2, 64, 80)).astype(np.float32)
    tifffile.imwrite(source, image)
    assert main(["deblur", str(source), "-o", str(out), *WIENER]) == 0
    return out


@pytest.mark.parametrize("suffix", [".zarr", ".ome.zarr", ".tif"])
def test_tile_grid_of_a_cli_output_opened_in_napari(make_napari_viewer, tmp_path, suffix):
    """'layer has no record of its tiles': the Tile grid read layer.metadata only, which
    napari's reader leaves empty; the record is in the file."""
    from napari_microdeblur._widgets._compare_parts import add_tile_grid

    out = _cli_output(tmp_path, suffix)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(out), plugin="napari")
    assert "microdeblur" not in layer.metadata
    grid = add_tile_grid(viewer, layer, plan_tiles)
    assert grid is not None and grid.name == f"tile grid of {layer.name}"
    meta = grid.metadata["microdeblur"]
    ran = plan_tiles((64, 80), meta["tile"], meta["overlap"])
    assert tuple(meta["tile"]) == (32, 32) and meta["tiles"] == len(ran.tiles) > 1
    assert [tuple(r[0] + 0.5) for r in grid.data] == [t.start[-2:] for t in ran.tiles]


def test_tile_grid_refuses_a_layer_no_longer_the_file_s_pixels(make_napari_viewer, tmp_path):
    from napari_microdeblur._widgets._layer_data import tile_grid_layer

    out = _cli_output(tmp_path, ".zarr")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(out), plugin="napari")
    layer.data = np.asarray(layer.data)[:, :40]
    with pytest.raises(ValueError, match="no longer holds the pixels of file out.zarr"):
        tile_grid_layer(layer, plan_tiles)


def _input(tmp_path, chunks, shape=(2, 96, 128)):
    import zarr

    name = "in_" + "_".join(map(str, (*chunks, *shape))) + ".zarr"
    return zarr.create_array(str(tmp_path / name), shape=shape, dtype="u2", chunks=chunks)


def _written_chunks(tmp_path, like, shape=(2, 96, 128), axes="ZYX"):
    import zarr

    out = tmp_path / "out.zarr"
    with io_write.open_output(out, shape, np.float32, axes=axes, like=like) as target:
        target[...] = 1
    return zarr.open_group(str(out), mode="r")["0"].chunks


def test_zarr_output_keeps_a_zarr_input_s_chunks_on_y_and_x(tmp_path):
    """1 x 256 x 256 input chunks came out 1 x 768 x 1024 (a whole plane up to 1024 px)."""
    assert _written_chunks(tmp_path, _input(tmp_path, (1, 64, 64))) == (1, 64, 64)
    # one plane a chunk along Z whatever the input's: the run writes plane by plane
    assert io_write.output_chunks("ZYX", (8, 768, 1024), "f4",
                                  _input(tmp_path, (4, 256, 256), (8, 768, 1024))) == (1, 256, 256)


@pytest.mark.parametrize("chunks", [(1, 8, 8), (1, 3000, 3000)])
def test_zarr_output_keeps_the_default_for_chunks_too_small_or_large(tmp_path, chunks):
    like = _input(tmp_path, chunks, (1, 3000, 3000))
    assert io_write.output_chunks("ZYX", (1, 3000, 3000), "f4", like) == (1, 1024, 1024)


def test_zarr_output_of_an_input_without_chunks_keeps_the_default(tmp_path):
    assert _written_chunks(tmp_path, np.zeros((2, 96, 128), np.uint16)) == (1, 96, 128)
    # channels stay whole; a chunk spanning a narrow image's whole X is kept
    like = _input(tmp_path, (1, 64, 40), (3, 128, 40))
    assert io_write.output_chunks("CYX", (3, 128, 40), "f4", like) == (3, 64, 40)


def test_result_past_memory_names_a_zarr_output(monkeypatch):
    """The dock's refusal said '-o OUT.tif', which napari reads whole into memory again."""
    monkeypatch.setattr(memory, "host_available_bytes", lambda: 1024)
    with pytest.raises(ValueError, match=r"-o OUT\.zarr") as err:
        memory.check_result_fits((64, 64), np.float32)  # the dock names no caller
    assert "current slice" in str(err.value)
    assert "-o OUT.zarr" in memory.RESULT_REMEDIES["dock"]


def test_deblur_help_names_zarr_input_and_output(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one line an option
    text = build_parser().commands["deblur"].format_help()
    given = text[text.index("positional arguments"):text.index("options:")]
    output = text[text.index("--output OUTPUT"):text.index("--method METHOD  ")]
    assert "Zarr" in given and ".npy" in given
    assert ".zarr" in output and ".png" in output
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "OME-Zarr" in capsys.readouterr().out


def test_the_cli_keeps_a_zarr_input_s_chunks(tmp_path):
    """End to end: `microdeblur deblur IN.zarr -o OUT.zarr` hands the input to the writer."""
    import zarr

    source = _input(tmp_path, (1, 64, 64), (2, 128, 128))
    source[...] = np.random.default_rng(0).integers(0, 4000, (2, 128, 128), dtype=np.uint16)
    out = tmp_path / "cli_out.zarr"
    assert main(["deblur", str(source.store.root), "-o", str(out), "--method", "wiener",
                 "--psf", "gaussian:1.6", "--balance", "0.01", "--axes", "ZYX"]) == 0
    assert zarr.open_group(str(out), mode="r")["0"].chunks == (1, 64, 64)
