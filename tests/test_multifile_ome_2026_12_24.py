"""Multi-file OME-TIFFs (2026-12-24): a dataset whose second file was missing read with its
planes as zeros (tifffile's log line dropped), `deblur` exiting 0 on half a black stack; a
folder holding a dataset deblurred it once from each file (the BinaryOnly file alone as a
guessed stack without pixel sizes; with the full OME-XML in every file the whole dataset
twice). The datasets are written as Micro-Manager and Bio-Formats write them: planes split
over files, each plane's file named in the first file's TiffData (UUID FileName)."""

from __future__ import annotations

import sys
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core import io
from napari_microdeblur.core.input_files import find_inputs
from napari_microdeblur.core.notes import DeblurWarning

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.01"]
FIRST, SECOND = "mm_MMStack_Pos0.ome.tif", "mm_MMStack_Pos0_1.ome.tif"
NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"


def _stack(planes: int = 6, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random((planes, size, size)) * 1000 + 100).astype(np.uint16)


def _dataset(folder: Path, full_xml_everywhere: bool = False, second_planes: int | None = None,
             planes: int = 6) -> np.ndarray:
    """A z-stack of ``planes`` split over FIRST and SECOND (half each), FIRST holding the
    OME-XML; SECOND the same XML (``full_xml_everywhere``, Bio-Formats) or BinaryOnly naming
    FIRST (Micro-Manager); ``second_planes``: the planes SECOND holds (fewer: cut short)."""
    folder.mkdir(parents=True, exist_ok=True)
    stack, half = _stack(planes), planes // 2
    ua, ub = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    datas = "".join(
        f'<TiffData FirstZ="{z}" IFD="{z % half}" PlaneCount="1"><UUID FileName='
        f'"{FIRST if z < half else SECOND}">{ua if z < half else ub}</UUID></TiffData>'
        for z in range(planes))
    image = (f'<Image ID="Image:0" Name="Pos0"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" '
             f'Type="uint16" SizeX="32" SizeY="32" SizeZ="{planes}" SizeC="1" SizeT="1" '
             'PhysicalSizeX="0.108" PhysicalSizeY="0.108" PhysicalSizeZ="0.5"><Channel '
             f'ID="Channel:0:0" Name="GFP" SamplesPerPixel="1"/>{datas}</Pixels></Image>')
    xml = f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="{{}}">{image}</OME>'
    binary = (f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="{ub}">'
              f'<BinaryOnly MetadataFile="{FIRST}" UUID="{ua}"/></OME>')
    second = xml.format(ub) if full_xml_everywhere else binary
    held = half if second_planes is None else second_planes
    for name, description, planes_there in ((FIRST, xml.format(ua), stack[:half]),
                                            (SECOND, second, stack[half:half + held])):
        with tifffile.TiffWriter(folder / name) as tif:
            for i, plane in enumerate(planes_there):
                tif.write(plane, description=description.encode() if i == 0 else None,
                          metadata=None, contiguous=False)
    return stack


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("microdeblur: error:")
    return err


def test_the_whole_dataset_still_reads_from_its_first_file(tmp_path):
    stack = _dataset(tmp_path / "mf")
    image = io.read_image(tmp_path / "mf" / FIRST)
    assert image.axes == "ZYX" and image.pixel_size == {"Z": 0.5, "Y": 0.108, "X": 0.108}
    np.testing.assert_array_equal(np.asarray(image.array), stack)


def test_a_dataset_missing_a_file_is_refused_by_read_info_and_deblur(tmp_path, capsys):
    _dataset(tmp_path / "mf")
    (tmp_path / "mf" / SECOND).unlink()
    path = tmp_path / "mf" / FIRST
    said = rf"the file holding 3 of its 6 planes \({SECOND}\) is not in its folder; put all"
    with pytest.raises(ValueError, match=said):
        io.read_image(path)
    assert main(["info", str(path)]) == 2  # it had shown (6, 32, 32), stated by the file
    assert "is not in its folder" in _error_line(capsys)
    out = tmp_path / "out.tif"
    assert main(["deblur", str(path), "-o", str(out), *WIENER]) == 2  # it had exited 0
    line = _error_line(capsys)
    assert SECOND in line and "together in one folder" in line
    assert not out.exists()


def test_the_napari_reader_says_a_file_of_the_dataset_is_missing(tmp_path):
    from napari_microdeblur._reader import get_reader

    _dataset(tmp_path / "mf")
    (tmp_path / "mf" / SECOND).unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert get_reader(str(tmp_path / "mf" / FIRST)) is None  # had opened 3 black planes
    assert any(SECOND in str(w.message) and "not in its folder" in str(w.message)
               for w in caught)


def test_a_watch_waits_for_a_short_second_file(tmp_path):
    from napari_microdeblur.core.tiff_complete import incomplete_reason

    _dataset(tmp_path / "mf")
    assert incomplete_reason(tmp_path / "mf" / FIRST) is None
    _dataset(tmp_path / "mf", second_planes=2)  # still being written
    assert incomplete_reason(tmp_path / "mf" / FIRST) == (
        f"its dataset's file {SECOND} holds 2 of the 3 planes its OME-XML puts there")
    (tmp_path / "mf" / SECOND).unlink()  # refused by the reader, in one line: logged at once
    assert incomplete_reason(tmp_path / "mf" / FIRST) is None


def test_a_short_second_file_is_refused_as_partly_written(tmp_path):
    _dataset(tmp_path / "mf", second_planes=2)
    with pytest.raises(ValueError, match=rf"partly written .*{SECOND} holds 2 of the 3 planes"):
        io.read_image(tmp_path / "mf" / FIRST)


def test_a_binary_only_file_alone_names_the_file_to_open(tmp_path, capsys):
    _dataset(tmp_path / "mf")
    part = tmp_path / "mf" / SECOND
    with pytest.raises(ValueError, match=rf"BinaryOnly.*read from .*{FIRST}'; open that file"):
        io.read_image(part)  # had read 3 planes, axes guessed, no pixel size
    assert main(["info", str(part)]) == 2
    assert FIRST in _error_line(capsys)
    (tmp_path / "mf" / FIRST).unlink()
    with pytest.raises(ValueError, match=rf"{FIRST}, which is not in its folder"):
        io.read_image(part)


@pytest.mark.parametrize("full_xml_everywhere", [False, True])
def test_a_folder_deblurs_its_dataset_once(tmp_path, capsys, full_xml_everywhere):
    _dataset(tmp_path / "mf", full_xml_everywhere)
    with pytest.warns(DeblurWarning, match=rf"1 file left out as a separate input: {SECOND} "
                                           rf"is part of .* read whole from {FIRST}"):
        assert find_inputs(tmp_path / "mf") == [tmp_path / "mf" / FIRST]
    out = tmp_path / "out"
    out.mkdir()
    assert main(["deblur", str(tmp_path / "mf"), "-o", str(out), *WIENER]) == 0
    # one output: the second file had been deblurred too (3 planes, or the whole dataset again)
    assert sorted(p.name for p in out.iterdir()) == ["mm_MMStack_Pos0_deblurred.ome.tif"]
    err = capsys.readouterr().err
    assert "1 done, 0 skipped (output exists), 1 left out (part of a multi-file OME-TIFF)" in err
    assert io.read_image(out / "mm_MMStack_Pos0_deblurred.ome.tif").array.shape == (6, 32, 32)


def test_a_folder_of_plain_tiffs_is_read_from_headers_only(tmp_path, monkeypatch):
    from napari_microdeblur.core import ome_datasets

    for i in range(4):
        tifffile.imwrite(tmp_path / f"p{i}.tif", _stack(2), ome=i != 2,  # p1 BigTIFF,
                         bigtiff=i == 1, byteorder=">" if i == 3 else "<")  # p3 big-endian
    own = (f'<?xml version="1.0"?><OME xmlns="{NS}" UUID="urn:uuid:1"><Image ID="Image:0">'
           '<Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16" SizeX="32" SizeY="32" '
           'SizeZ="1" SizeC="1" SizeT="1"><TiffData IFD="0" PlaneCount="1"><UUID '
           'FileName="self.ome.tif">urn:uuid:1</UUID></TiffData></Pixels></Image></OME>')
    tifffile.imwrite(tmp_path / "self.ome.tif", _stack(1)[0], description=own, metadata=None)
    parsed = []
    monkeypatch.setattr(ome_datasets, "parsed", lambda xml: parsed.append(xml))
    assert ome_datasets.dataset_parts(sorted(tmp_path.glob("*.tif"))) == {}
    assert parsed == []  # single-file OME-XML (naming itself: Bio-Formats): not parsed
    for i in (0, 1, 3):
        assert ome_datasets.ome_description(tmp_path / f"p{i}.tif").rstrip().endswith("</OME>")
    assert ome_datasets.ome_description(tmp_path / "p2.tif") is None  # not OME


@pytest.mark.parametrize("full_xml_everywhere", [False, True])
@pytest.mark.parametrize("threshold, decision", [("1e-9", "copied"), ("1e9", "deblurred")])
def test_a_watch_processes_a_dataset_once_with_its_first_file(tmp_path, capsys, monkeypatch,
                                                              full_xml_everywhere, threshold,
                                                              decision):
    """Review of b28936c: the watch logged a BinaryOnly part 'unreadable' (exit 2) and copied
    the first file alone, which then read as missing its second file; with the full XML in
    every file it deblurred the dataset twice. The part is left to the file that reads it,
    and an in-focus dataset is copied whole."""
    from scipy import ndimage

    def structured(planes: int = 6, size: int = 32) -> np.ndarray:  # not noise: not 'blank'
        x = ndimage.gaussian_filter(np.random.default_rng(1).random((planes, size, size)), 2)
        return ((x - x.min()) / np.ptp(x) * 3000 + 100).astype(np.uint16)

    monkeypatch.setattr(sys.modules[__name__], "_stack", structured)
    stack = _dataset(tmp_path / "in", full_xml_everywhere=full_xml_everywhere)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["watch", str(tmp_path / "in"), str(out), "--once", "--threshold", threshold,
                 "--settle", "0", *WIENER]) == 0
    err = capsys.readouterr().err
    assert f"{SECOND}: part of the multi-file OME-TIFF dataset read from {FIRST}" in err
    log = (out / "microdeblur_watch.csv").read_text()
    assert f"{FIRST}," in log and f",{decision}," in log and f"{SECOND},,dataset part," in log
    made = sorted(p.name for p in out.glob("*.tif"))
    if decision == "copied":
        assert made == [FIRST, SECOND]
        assert np.array_equal(np.asarray(io.read_image(out / FIRST, lazy=False).array), stack)
    else:
        assert made == [FIRST.replace(".ome.tif", "_deblurred.ome.tif")]
        assert io.read_image(out / made[0]).array.shape == stack.shape
