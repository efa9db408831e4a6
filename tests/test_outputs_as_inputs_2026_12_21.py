"""An earlier run's outputs found by a folder scan were deblurred again as raw inputs:
`deblur IN -o IN/out1 -r` then `-o IN/out2 -r` wrote IN/out2/out1/*_deblurred_deblurred.tif,
and after `-o IN` (outputs beside their inputs) a run into another folder did the same. Files
whose record names another file of the scan as their input are left out, said in one line;
outputs whose input is not in the scan (a folder of outputs given itself) are still inputs."""

import html
import json

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli
from napari_microdeblur.core import batch_outputs

WIENER = ["--method", "wiener", "--psf", "gaussian:1.5", "--balance", "0.05", "--device", "cpu",
          "-q"]
RAW = ["img0.tif", "img1.tif", "img2.tif"]


def _closing(err: str) -> list[str]:
    return [line for line in err.splitlines() if " done, " in line]


def _left_out(err: str) -> list[str]:
    return [line for line in err.splitlines() if "left out: microdeblur made" in line]


@pytest.fixture
def raw(tmp_path):
    """IN with three small raw TIFFs (no record)."""
    folder = tmp_path / "IN"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in RAW:
        tifffile.imwrite(folder / name, rng.random((64, 64)).astype(np.float32))
    return folder


def _deblur(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["deblur", *map(str, args), *WIENER])
    out, err = capsys.readouterr()
    return code, out, err


def _files(folder) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_a_second_recursive_run_deblurs_only_the_raw_inputs(raw, capsys):
    (raw / "out1").mkdir()
    (raw / "out2").mkdir()
    assert _deblur(capsys, raw, "-o", raw / "out1", "-r")[0] == 0
    code, out, err = _deblur(capsys, raw, "-o", raw / "out2", "-r", "--json")
    assert code == 0
    # was: out1/img0_deblurred_deblurred.tif ... too, the first run's outputs deblurred again
    assert _files(raw / "out2") == [n.replace(".tif", "_deblurred.tif") for n in RAW]
    lines = [json.loads(line) for line in out.splitlines()]  # --json: one object a line
    assert [line["input"] for line in lines] == [str(raw / n) for n in RAW]
    assert {line["status"] for line in lines} == {"ok"}
    said = _left_out(err)
    assert len(said) == 1, err
    assert "3 files in" in said[0] and "'out1/img0_deblurred.tif', from img0.tif" in said[0]
    assert f"give their folder as the input ('{raw / 'out1'}')" in said[0]
    assert _closing(err) == [f"microdeblur: '{raw / 'out2'}': 3 done, 0 skipped (output "
                             "exists), 0 failed"]


def test_outputs_beside_their_inputs_are_not_inputs_of_a_run_elsewhere(raw, tmp_path, capsys):
    out = tmp_path / "OUT"
    out.mkdir()
    assert _deblur(capsys, raw, "-o", raw)[0] == 0
    code, _, err = _deblur(capsys, raw, "-o", out)
    assert code == 0
    assert _files(out) == [n.replace(".tif", "_deblurred.tif") for n in RAW]
    said = _left_out(err)
    assert len(said) == 1 and "3 files in" in said[0], err
    assert "by name (or a quoted glob, e.g. " in said[0] and "*_deblurred.tif" in said[0]
    assert " 3 done, 0 skipped" in _closing(err)[0]


def test_a_folder_of_outputs_given_itself_is_deblurred(raw, tmp_path, capsys):
    (raw / "out1").mkdir()
    again = tmp_path / "again"
    again.mkdir()
    assert _deblur(capsys, raw, "-o", raw / "out1", "-r")[0] == 0
    code, _, err = _deblur(capsys, raw / "out1", "-o", again)
    assert code == 0 and not _left_out(err)
    assert _files(again) == [n.replace(".tif", "_deblurred_deblurred.tif") for n in RAW]
    # so is one of them given by name
    code, _, err = _deblur(capsys, raw / "out1" / "img0_deblurred.tif", "-o",
                           tmp_path / "one.tif")
    assert code == 0 and (tmp_path / "one.tif").is_file()


def test_a_rerun_into_the_inputs_folder_skips_as_before(raw, capsys):
    assert _deblur(capsys, raw, "-o", raw)[0] == 0
    code, _, err = _deblur(capsys, raw, "-o", raw)
    assert code == 0 and not _left_out(err), err  # its own outputs: skipped, as before
    assert " 0 done, 3 skipped" in _closing(err)[0]
    assert len(_files(raw)) == 6


def test_outputs_in_subfolders_are_not_counted_as_left_out_images(raw, tmp_path, capsys):
    (raw / "out1").mkdir()
    out = tmp_path / "OUT"
    out.mkdir()
    assert _deblur(capsys, raw, "-o", raw / "out1", "-r")[0] == 0
    code, _, err = _deblur(capsys, raw, "-o", out)
    assert code == 0
    # was: 'images in subfolders of IN are left out (3 ...): --recursive deblurs them too'
    assert "images in subfolders" not in err, err
    (raw / "more").mkdir()
    tifffile.imwrite(raw / "more" / "raw.tif", np.ones((64, 64), np.float32))
    _, _, err = _deblur(capsys, raw, "-o", out)
    assert "(1 image file directly in them" in err  # a raw one is still counted


def test_a_raw_file_is_not_parsed_and_an_output_of_each_kind_is_found(raw, tmp_path, capsys,
                                                                      monkeypatch):
    from napari_microdeblur.core.scan_outputs import made_from, may_hold_record, split_made

    iio.imwrite(raw / "p.png", np.random.default_rng(1).integers(0, 255, (32, 32), np.uint8))
    tifffile.imwrite(raw / "ij.tif", np.ones((8, 8), np.float32), imagej=True,
                     metadata={"Info": "microscope notes"})
    out = raw / "out"
    out.mkdir()
    assert _deblur(capsys, raw / "img0.tif", "-o", out / "a.ome.tif")[0] == 0
    assert _deblur(capsys, raw / "img1.tif", "-o", out / "img1.tif")[0] == 0  # ImageJ
    assert _deblur(capsys, raw / "p.png", "-o", out / "p.png")[0] == 0
    # tifffile's JSON description (an output ImageJ cannot hold), in a BigTIFF
    tifffile.imwrite(out / "shaped.tif", np.ones((2, 8, 8), np.float64), bigtiff=True,
                     metadata={"microdeblur": {"source_file": "img2.tif"}})
    raws = [raw / n for n in [*RAW, "p.png", "ij.tif"]]
    outputs = [out / n for n in ["a.ome.tif", "img1.tif", "p.png", "shaped.tif"]]
    assert [may_hold_record(p) for p in raws] == [False] * 5
    assert [may_hold_record(p) for p in outputs] == [True] * 4
    # the source each record names, read as every reader of records reads it
    assert [made_from(p) for p in outputs] == [
        batch_outputs.header_record(p)["source_file"] for p in outputs]
    real, parsed = batch_outputs.header_record, []
    monkeypatch.setattr(batch_outputs, "header_record",
                        lambda path: parsed.append(path) or real(path))
    kept, made = split_made(sorted(raws + outputs))
    assert kept == sorted(raws) and made == sorted(outputs)
    assert sorted(parsed) == sorted(outputs)  # raw ones not parsed by tifffile (1 ms a file)


@pytest.mark.parametrize("where", ["label", "property", "nested", "annotation"])
def test_the_key_outside_a_record_does_not_leave_a_raw_file_out(tmp_path, where):
    """A record's text quoted where no reader takes it as one (an ImageJ slice label or
    property, nested in a JSON description, an OME annotation quoting another file's metadata,
    as bfconvert or OMERO write it) had the file left out as an earlier output."""
    from napari_microdeblur.core.scan_outputs import split_made

    text = '{"microdeblur": {"source_file": "a.tif"}}'
    tifffile.imwrite(tmp_path / "a.tif", np.ones((8, 8), np.float32))
    raw, pixels = tmp_path / "b.tif", np.ones((8, 8), np.float32)
    if where == "label":
        tifffile.imwrite(raw, pixels, imagej=True, metadata={"Labels": [text]})
    elif where == "property":
        tifffile.imwrite(raw, pixels, imagej=True, metadata={"Properties": {"note": text}})
    elif where == "nested":
        tifffile.imwrite(raw, pixels, metadata={"notes": json.loads(text)})
    else:
        xml = ('<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/'
               'Schemas/OME/2016-06"><Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder='
               '"XYZCT" Type="float" SizeX="8" SizeY="8" SizeZ="1" SizeC="1" SizeT="1"><TiffData/>'
               '</Pixels></Image><StructuredAnnotations><CommentAnnotation ID="Annotation:0">'
               f'<Value>{html.escape(text)}</Value></CommentAnnotation></StructuredAnnotations>'
               '</OME>')
        tifffile.imwrite(raw, pixels, description=xml, metadata=None)
    assert batch_outputs.header_record(raw) is None
    assert split_made([tmp_path / "a.tif", raw])[1] == []


def test_an_output_named_as_its_input_is_told_apart_from_it(tmp_path):
    from napari_microdeblur.core.scan_outputs import split_made

    (tmp_path / "deb").mkdir()
    tifffile.imwrite(tmp_path / "a.tif", np.ones((8, 8), np.float32))
    record = {"microdeblur": {"source_file": "a.tif"}}
    tifffile.imwrite(tmp_path / "deb" / "a.tif", np.ones((8, 8), np.float32), metadata=record)
    both = [tmp_path / "a.tif", tmp_path / "deb" / "a.tif"]
    assert split_made(both) == ([tmp_path / "a.tif"], [tmp_path / "deb" / "a.tif"])
    # alone, its record names no other file of the scan: an input
    assert split_made(both[1:]) == (both[1:], [])


def test_a_raw_description_naming_microdeblur_is_read_the_usual_way_and_kept(tmp_path,
                                                                            monkeypatch):
    from napari_microdeblur.core.scan_outputs import made_from, split_made

    raw = tmp_path / "notes.tif"
    tifffile.imwrite(raw, np.ones((8, 8), np.float32), description="to run microdeblur on")
    real, parsed = batch_outputs.header_record, []
    monkeypatch.setattr(batch_outputs, "header_record",
                        lambda path: parsed.append(path) or real(path))
    assert made_from(raw) is None and parsed == [raw]  # not decoded: tifffile's word taken
    tifffile.imwrite(tmp_path / "a.tif", np.ones((8, 8), np.float32))
    assert split_made([tmp_path / "a.tif", raw])[1] == []


def test_a_raw_file_with_a_long_ome_description_is_not_parsed(tmp_path):
    """A microscope's OME-XML over 1 MB went to tifffile's whole parse (125-157 ms a file, on
    every raw file of the scan); its text is searched for the record's key instead."""
    from napari_microdeblur.core.scan_outputs import may_hold_record

    notes = "".join(f'<CommentAnnotation ID="Annotation:{i}"><Value>plane {i} settings'
                    "</Value></CommentAnnotation>" for i in range(30000))
    xml = ('<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/'
           'Schemas/OME/2016-06"><Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder='
           '"XYZCT" Type="float" SizeX="8" SizeY="8" SizeZ="1" SizeC="1" SizeT="1"><TiffData/>'
           f'</Pixels></Image><StructuredAnnotations>{notes}</StructuredAnnotations></OME>')
    assert len(xml) > 1 << 20
    tifffile.imwrite(tmp_path / "big.ome.tif", np.ones((8, 8), np.float32), description=xml,
                     metadata=None)
    assert not may_hold_record(tmp_path / "big.ome.tif")
