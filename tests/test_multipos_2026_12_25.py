"""Multi-position OME-TIFFs (2026-12-25): each position (OME Image) in files of its own, the
full OME-XML in every file (Micro-Manager 1.4, Bio-Formats) or in the first only, the others
BinaryOnly (Micro-Manager 2). tifffile's first series is Image 0 whichever file is opened:
`deblur Pos1.ome.tif` wrote Pos0 deblurred (max difference to Pos1 deblurred: 3874 of 4105),
napari opened Pos0's pixels as Pos1, a folder run deblurred Pos0 twice or left position 1 out
as a "part", and a BinaryOnly Pos1 was refused with "open Pos0: it reads the whole dataset".
A file is now read as the image whose first planes it holds."""

from __future__ import annotations

import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.notes import DeblurWarning

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01"]
NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
POS0, POS1 = "mm_MMStack_Pos0.ome.tif", "mm_MMStack_Pos1.ome.tif"
POS0_1, POS1_1 = "mm_MMStack_Pos0_1.ome.tif", "mm_MMStack_Pos1_1.ome.tif"
LOG = "microdeblur_watch.csv"


def _stack(seed: int, planes: int = 6, size: int = 32) -> np.ndarray:
    """Smooth structure (a watch copies it, not 'blank'), each position its own."""
    from scipy import ndimage

    x = ndimage.gaussian_filter(np.random.default_rng(seed).random((planes, size, size)), 2)
    return ((x - x.min()) / np.ptp(x) * 3000 + 100 + 500 * seed).astype(np.uint16)


def _dataset(folder: Path, layout: list[list[str]], binary: bool = False) -> list[np.ndarray]:
    """One 6-plane z-stack per Image, ``layout[i]`` the files its planes are split over (in
    order, evenly); every file holds the full OME-XML, or (``binary``) the first file of
    Image 0 only, the others BinaryOnly naming it. The stacks, Image by Image."""
    folder.mkdir(parents=True, exist_ok=True)
    names = list(dict.fromkeys(n for files in layout for n in files))
    ids = {n: f"urn:uuid:{uuid.uuid4()}" for n in names}
    stacks = [_stack(i) for i in range(len(layout))]
    planes: dict[str, list[np.ndarray]] = {n: [] for n in names}
    images = ""
    for i, files in enumerate(layout):
        per, datas = 6 // len(files), ""
        for z in range(6):
            name = files[z // per]
            datas += (f'<TiffData FirstZ="{z}" IFD="{len(planes[name])}" PlaneCount="1">'
                      f'<UUID FileName="{name}">{ids[name]}</UUID></TiffData>')
            planes[name].append(stacks[i][z])
        images += (f'<Image ID="Image:{i}" Name="Pos{i}"><Pixels ID="Pixels:{i}" '
                   'DimensionOrder="XYZCT" Type="uint16" SizeX="32" SizeY="32" SizeZ="6" '
                   'SizeC="1" SizeT="1" PhysicalSizeX="0.108" PhysicalSizeY="0.108" '
                   f'PhysicalSizeZ="0.5"><Channel ID="Channel:{i}:0" SamplesPerPixel="1"/>'
                   f"{datas}</Pixels></Image>")
    xml = f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="{{}}">{images}</OME>'
    for name in names:
        description = xml.format(ids[name])
        if binary and name != names[0]:
            description = (f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" '
                           f'UUID="{ids[name]}"><BinaryOnly MetadataFile="{names[0]}" '
                           f'UUID="{ids[names[0]]}"/></OME>')
        with tifffile.TiffWriter(folder / name) as tif:
            for k, plane in enumerate(planes[name]):
                tif.write(plane, description=description.encode() if k == 0 else None,
                          metadata=None, contiguous=False)
    return stacks


ONE_FILE_EACH = [[POS0], [POS1]]
TWO_FILES_EACH = [[POS0, POS0_1], [POS1, POS1_1]]


def _deblurred(tmp_path: Path, stack: np.ndarray, name: str) -> np.ndarray:
    """``stack`` deblurred as its own OME-TIFF (same pixel sizes): what a position's output
    must hold."""
    alone, out = tmp_path / f"{name}_alone.ome.tif", tmp_path / f"{name}_alone_out.tif"
    tifffile.imwrite(alone, stack, metadata={"axes": "ZYX", "PhysicalSizeX": 0.108,
                                             "PhysicalSizeY": 0.108, "PhysicalSizeZ": 0.5})
    assert main(["deblur", str(alone), "-o", str(out), *WIENER]) == 0
    return tifffile.imread(out).astype(np.float64)


def _max_difference(path: Path, expected: np.ndarray) -> float:
    got = tifffile.imread(path).astype(np.float64)
    assert got.shape == expected.shape
    return float(np.abs(got - expected).max())


# --- deblur of one position's file --------------------------------------------------------

@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("layout", [ONE_FILE_EACH, TWO_FILES_EACH])
def test_deblur_of_a_position_file_deblurs_that_position(tmp_path, capsys, binary, layout):
    """Pos1's output had held Pos0 deblurred (max difference 3874 to Pos1's); BinaryOnly
    Pos1 was refused."""
    stacks = _dataset(tmp_path / "in", layout, binary)
    truth = [_deblurred(tmp_path, s, f"pos{i}") for i, s in enumerate(stacks)]
    out = tmp_path / "out1.tif"
    assert main(["deblur", str(tmp_path / "in" / POS1), "-o", str(out), *WIENER]) == 0
    assert _max_difference(out, truth[1]) < 1e-3
    assert "holds 2 images" not in capsys.readouterr().err  # Pos0's image is Pos0's file's
    image = io.read_image(tmp_path / "in" / POS1)
    assert image.axes == "ZYX" and image.pixel_size == {"X": 0.108, "Y": 0.108, "Z": 0.5}


def test_a_position_file_reads_without_the_other_positions_files(tmp_path):
    """Pos0 not there: Pos1's own image is whole (had been refused: 'the file holding 6 of
    its 6 planes (Pos0) is not in its folder')."""
    stacks = _dataset(tmp_path / "in", ONE_FILE_EACH)
    (tmp_path / "in" / POS0).unlink()
    image = io.read_image(tmp_path / "in" / POS1, lazy=False)
    np.testing.assert_array_equal(np.asarray(image.array), stacks[1])


def test_a_file_holding_later_planes_of_a_position_reads_that_position(tmp_path):
    """Pos1_1 (full OME-XML) read directly: Pos1's image whole, from Pos1 and Pos1_1 (had
    been Image 0, Pos0's)."""
    stacks = _dataset(tmp_path / "in", TWO_FILES_EACH)
    image = io.read_image(tmp_path / "in" / POS1_1, lazy=False)
    np.testing.assert_array_equal(np.asarray(image.array), stacks[1])


def test_a_binary_only_part_names_the_file_that_reads_its_image(tmp_path):
    """Had said 'the dataset is read from Pos0 ...: it reads the whole dataset, this file's
    planes included': Pos0 reads position 0 only."""
    _dataset(tmp_path / "in", TWO_FILES_EACH, binary=True)
    with pytest.raises(ValueError) as caught:
        io.read_image(tmp_path / "in" / POS1_1)
    said = str(caught.value)
    assert f"part of the image read from '{tmp_path / 'in' / POS1}'; open that file" in said
    assert POS0 not in said and "whole dataset" not in said


def test_a_binary_only_position_without_its_metadata_file_says_so(tmp_path):
    """Had said '... and open Pos0', which reads position 0: Pos1 is read once Pos0 (its
    OME-XML) is back beside it."""
    _dataset(tmp_path / "in", ONE_FILE_EACH, binary=True)
    (tmp_path / "in" / POS0).unlink()
    with pytest.raises(ValueError, match=rf"{POS0}, which is not in its folder; put all") as e:
        io.read_image(tmp_path / "in" / POS1)
    assert f"open {POS0}" not in str(e.value) and "read it again" in str(e.value)


# --- a folder, napari, a watch -------------------------------------------------------------

@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("layout", [ONE_FILE_EACH, TWO_FILES_EACH])
def test_a_folder_deblurs_every_position_once(tmp_path, capsys, binary, layout):
    """Had deblurred Pos0 twice (one file each, full OME-XML) or left Pos1 out as a part."""
    stacks = _dataset(tmp_path / "in", layout, binary)
    truth = [_deblurred(tmp_path, s, f"pos{i}") for i, s in enumerate(stacks)]
    out = tmp_path / "out"
    out.mkdir()
    assert main(["deblur", str(tmp_path / "in"), "-o", str(out), *WIENER]) == 0
    names = ["mm_MMStack_Pos0_deblurred.ome.tif", "mm_MMStack_Pos1_deblurred.ome.tif"]
    assert sorted(p.name for p in out.iterdir()) == names
    for name, expected in zip(names, truth):
        assert _max_difference(out / name, expected) < 1e-3, name
    err = capsys.readouterr().err
    if layout is TWO_FILES_EACH:
        assert (f"{POS0_1} is part of the multi-file OME-TIFF image read whole from {POS0}; "
                f"{POS1_1} is part of the multi-file OME-TIFF image read whole from {POS1}"
                in err)
        assert "2 done, 0 skipped (output exists), 2 left out" in err
    else:
        assert "2 done, 0 skipped (output exists), 0 failed" in err


@pytest.mark.parametrize("binary", [False, True])
def test_the_napari_reader_opens_a_position_files_own_image(tmp_path, binary):
    from napari_microdeblur._reader import get_reader

    stacks = _dataset(tmp_path / "in", ONE_FILE_EACH, binary)
    path = str(tmp_path / "in" / POS1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader = get_reader(path)
    assert reader is not None  # BinaryOnly Pos1 had been declined
    (data, meta, _), = reader(path)
    np.testing.assert_array_equal(np.asarray(data), stacks[1])  # had shown Pos0's pixels
    assert meta["scale"] == (0.5, 0.108, 0.108)


@pytest.mark.parametrize("binary", [False, True])
def test_a_watch_copies_each_position_with_its_own_files(tmp_path, monkeypatch, capsys,
                                                         binary):
    """In focus (--threshold 1e-9): each position copied with the files its image is read
    from; Pos1 had been a 'dataset part' of Pos0 (or copied holding Pos0's image)."""
    from napari_microdeblur import cli_watch

    stacks = _dataset(tmp_path / "in", TWO_FILES_EACH, binary)
    pause = time.sleep
    monkeypatch.setattr(cli_watch.time, "sleep", lambda s: pause(0.02))
    out = tmp_path / "out"
    out.mkdir()
    assert main(["watch", str(tmp_path / "in"), str(out), "--once", "--threshold", "1e-9",
                 "--settle", "0", *WIENER]) == 0, capsys.readouterr().err
    log = (out / LOG).read_text()
    for name in (POS0, POS1):
        assert f"{name}," in log and f"{name},,dataset part" not in log
    for name in (POS0_1, POS1_1):
        assert f"{name},,dataset part," in log
    assert log.count(",copied,") == 2
    for i, name in enumerate((POS0, POS1)):
        copied = io.read_image(out / name, lazy=False)
        np.testing.assert_array_equal(np.asarray(copied.array), stacks[i])


# --- a file holding several images of its own -----------------------------------------------

def test_a_file_of_two_images_says_its_own_images_only(tmp_path):
    """A.ome.tif holds Images 0 and 1, B.ome.tif Image 2: A is read as Image 0 and says it
    holds 2 images (as a single-file multi-image TIFF; had said 3, B's counted), B is read as
    Image 2 with no such line (had been read as Image 0, 'holds 3 images')."""
    stacks = _dataset(tmp_path / "in", [["A.ome.tif"], ["A.ome.tif"], ["B.ome.tif"]])
    with pytest.warns(DeblurWarning, match="the file holds 2 images; only the first"):
        first = io.read_image(tmp_path / "in" / "A.ome.tif", lazy=False)
    np.testing.assert_array_equal(np.asarray(first.array), stacks[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        other = io.read_image(tmp_path / "in" / "B.ome.tif", lazy=False)
    np.testing.assert_array_equal(np.asarray(other.array), stacks[2])
    assert not [w for w in caught if "images; only the first" in str(w.message)]
