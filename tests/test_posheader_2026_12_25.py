"""Header readers of a multi-position OME-TIFF's position file (2026-12-25): deblur read
Pos1.ome.tif as its own position (``ome_datasets.own_series``), but its header was Image 0's:
`microdeblur info Pos1.ome.tif` said Pos0's shape (6, 32, 32) for a (4, 48, 40) position, its
pixel sizes and channel names were Pos0's, the Deblur dock could not match the file to the
layer (shapes differ) and the free-space check sized Pos0. Each header reader now reads the
file's own Images (``tiff_header.open_own_image``)."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core.tiff_header import read_tiff_header

NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
SHAPES = [(6, 32, 32), (4, 48, 40)]
SIZES = [{"X": 0.1, "Y": 0.1, "Z": 0.5}, {"X": 0.2, "Y": 0.2, "Z": 1.0}]
POS0, POS1, POS1_1 = "cells_Pos0.ome.tif", "cells_Pos1.ome.tif", "cells_Pos1_1.ome.tif"


def _positions(folder: Path, *, binary: bool = False, contiguous: bool = False,
               split: bool = False) -> dict[str, Path]:
    """Two positions of different shapes, pixel sizes and channel names, each in files of its
    own, every file with the full OME-XML or (``binary``) Pos1's BinaryOnly naming Pos0;
    ``split``: Pos1's last two planes in POS1_1; ``contiguous``: each file's planes in one
    block (deblur and info read it lazily through io.read_tiff)."""
    folder.mkdir(parents=True, exist_ok=True)
    layout = [[POS0], [POS1, POS1_1] if split else [POS1]]
    names = [n for files in layout for n in files]
    ids = {n: f"urn:uuid:{uuid.uuid4()}" for n in names}
    rng = np.random.default_rng(0)
    planes: dict[str, list[np.ndarray]] = {n: [] for n in names}
    images = ""
    for i, (files, shape) in enumerate(zip(layout, SHAPES)):
        stack = (rng.random(shape) * 1000 + 100 * (i + 1)).astype(np.uint16)
        datas = ""
        for z in range(shape[0]):
            name = files[min(z * len(files) // shape[0], len(files) - 1)]
            datas += (f'<TiffData FirstZ="{z}" IFD="{len(planes[name])}" PlaneCount="1">'
                      f'<UUID FileName="{name}">{ids[name]}</UUID></TiffData>')
            planes[name].append(stack[z])
        size = SIZES[i]
        images += (f'<Image ID="Image:{i}" Name="Pos{i}"><Pixels ID="Pixels:{i}" '
                   f'DimensionOrder="XYZCT" Type="uint16" SizeX="{shape[2]}" '
                   f'SizeY="{shape[1]}" SizeZ="{shape[0]}" SizeC="1" SizeT="1" '
                   f'PhysicalSizeX="{size["X"]}" PhysicalSizeY="{size["Y"]}" '
                   f'PhysicalSizeZ="{size["Z"]}"><Channel ID="Channel:{i}:0" Name="ch{i}" '
                   f'SamplesPerPixel="1"/>{datas}</Pixels></Image>')
    xml = f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="{{}}">{images}</OME>'
    for name in names:
        description = xml.format(ids[name])
        if binary and name != POS0:
            description = (f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" '
                           f'UUID="{ids[name]}"><BinaryOnly MetadataFile="{POS0}" '
                           f'UUID="{ids[POS0]}"/></OME>')
        with tifffile.TiffWriter(folder / name) as tif:
            if contiguous:
                tif.write(np.stack(planes[name]), description=description.encode(),
                          metadata=None, photometric="minisblack")
                continue
            for k, plane in enumerate(planes[name]):
                tif.write(plane, description=description.encode() if k == 0 else None,
                          metadata=None, contiguous=False)
    return {n: folder / n for n in names}


def _close(found: dict, expected: dict) -> bool:
    return found.keys() == expected.keys() and all(
        abs(found[a] - expected[a]) < 1e-9 for a in expected)


@pytest.mark.parametrize("contiguous", [False, True], ids=["pages", "contiguous"])
@pytest.mark.parametrize("binary", [False, True], ids=["full-xml", "binary-only"])
def test_a_position_files_header_is_its_own_position(tmp_path, binary, contiguous):
    files = _positions(tmp_path, binary=binary, contiguous=contiguous)
    for i, name in enumerate([POS0, POS1]):
        header = read_tiff_header(files[name], extras=True)
        assert header.contiguous == contiguous  # the layout this case is meant to test
        assert (header.shape, header.axes, header.stated) == (SHAPES[i], "ZYX", True), name
        assert _close(header.pixel_size, SIZES[i]), (name, header.pixel_size)
        if not contiguous:  # extras are read for a non-contiguous file only
            assert header.metadata.get("channel_names") == [f"ch{i}"], name


def test_a_later_file_of_a_position_heads_as_that_position(tmp_path):
    """A file holding a position's later planes is read as that position whole (as deblur
    leaves it out of a folder: a part), not as Image 0."""
    files = _positions(tmp_path, split=True)
    header = read_tiff_header(files[POS1_1])
    assert header.shape == SHAPES[1]
    assert _close(header.pixel_size, SIZES[1])


def test_a_position_files_header_opens_no_other_positions_file(tmp_path, caplog):
    """Pos1's header read alone (Pos0's file elsewhere): tifffile had looked for Pos0's file
    for Image 0 and logged that it failed to read it."""
    files = _positions(tmp_path)
    files[POS0].unlink()
    with caplog.at_level(logging.DEBUG, logger="tifffile"):
        header = read_tiff_header(files[POS1])
    assert header.shape == SHAPES[1]
    assert not [r for r in caplog.records if POS0 in r.getMessage()]


@pytest.mark.parametrize("contiguous", [False, True], ids=["pages", "contiguous"])
@pytest.mark.parametrize("binary", [False, True], ids=["full-xml", "binary-only"])
def test_info_says_a_position_files_own_shape_sizes_and_channels(tmp_path, capsys, binary,
                                                                   contiguous):
    files = _positions(tmp_path, binary=binary, contiguous=contiguous)
    assert main(["info", "--json", str(files[POS1])]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (tuple(info["shape"]), info["axes"], info["axes_stated"]) == (SHAPES[1], "ZYX", True)
    assert _close(info["pixel_size_um"], SIZES[1]), info["pixel_size_um"]
    assert info["channel_names"] == ["ch1"]


def test_the_free_space_check_sizes_a_position_file_as_its_own(tmp_path):
    from napari_microdeblur.core.free_space import input_shape

    files = _positions(tmp_path, contiguous=True)
    assert input_shape(files[POS1]) == (SHAPES[1], np.dtype("uint16"))


def _layer(path: Path, shape) -> SimpleNamespace:
    """An image layer napari's own reader opened from ``path``: the file's pixels, scale 1."""
    return SimpleNamespace(data=np.zeros(shape, np.uint16), multiscale=False, name="Pos1",
                           scale=[1.0] * len(shape), units=["pixel"] * len(shape),
                           metadata={}, source=SimpleNamespace(path=str(path)))


@pytest.mark.parametrize("binary", [False, True], ids=["full-xml", "binary-only"])
def test_the_dock_takes_a_position_files_own_pixel_sizes(tmp_path, binary):
    from napari_microdeblur._widgets._layer_file import file_axes_of, layer_pixel_sizes

    files = _positions(tmp_path, binary=binary)
    layer = _layer(files[POS1], SHAPES[1])
    sizes, origins = layer_pixel_sizes(layer, "ZYX")
    assert _close(sizes, SIZES[1]), sizes
    assert set(origins.values()) == {f"file {POS1}"}
    assert file_axes_of(layer) == ("ZYX", POS1)


def test_the_writer_keeps_a_position_files_own_channel_name(tmp_path):
    """Saving a layer opened from Pos1 keeps Pos1's channel name (its header had Pos0's
    shape, so none was kept)."""
    from napari_microdeblur._writer import source_channels

    files = _positions(tmp_path)
    assert source_channels({}, _layer(files[POS1], SHAPES[1])) == {"channel_names": ["ch1"]}


def test_files_of_no_position_dataset_are_not_opened_again(tmp_path):
    """A plain TIFF and a single file of two Images are read as before: the first Image,
    the other said, and no second opening (``with_own_images`` returns the file as it is)."""
    from napari_microdeblur.core.tiff_header import open_own_image

    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.zeros((3, 8, 8), np.uint16))
    two = tmp_path / "two.ome.tif"
    with tifffile.TiffWriter(two, ome=True) as tif:
        tif.write(np.zeros((3, 8, 8), np.uint16), metadata={"axes": "ZYX"})
        tif.write(np.zeros((5, 16, 16), np.uint16), metadata={"axes": "ZYX"})
    for path in (plain, two):
        with open_own_image(path) as tif:
            assert tif._omexml is None  # opened once, its own description read
    assert read_tiff_header(two).shape == (3, 8, 8)
    assert read_tiff_header(plain).shape == (3, 8, 8)


@pytest.mark.parametrize("contiguous", [False, True], ids=["pages", "contiguous"])
@pytest.mark.parametrize("binary", [False, True], ids=["full-xml", "binary-only"])
def test_reading_a_position_file_gives_its_own_pixel_sizes_and_channels(tmp_path, binary,
                                                                         contiguous):
    """read_image (deblur, napari's reader) read Pos1's pixels but Pos0's pixel sizes and
    channel names: its outputs' records and napari's layer scale carried Pos0's."""
    from napari_microdeblur.core.io import read_image

    files = _positions(tmp_path, binary=binary, contiguous=contiguous)
    for i, name in enumerate([POS0, POS1]):
        image = read_image(files[name])
        assert image.array.shape == SHAPES[i], name
        assert _close(image.pixel_size, SIZES[i]), (name, image.pixel_size)
        assert image.metadata.get("channel_names") == [f"ch{i}"], (name, image.metadata)
