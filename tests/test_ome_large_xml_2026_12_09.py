"""OME-XML of tens of MB (a long time-lapse's per-plane metadata and annotations, a plate) in
``microdeblur info`` and the docks: ``tiff_metadata.tiff_extras`` reads the first Image only
(it built the whole document as dicts: 5 s of a 41 MB file's 15 s ``info``)."""

import json
import time
from types import SimpleNamespace

import numpy as np
import tifffile

from napari_microdeblur.cli import main
from napari_microdeblur.core.tiff_metadata import tiff_extras

RECORD = {"microdeblur": {"method": "wiener", "source_file": "a.tif",
                          "software_version": "0.1"}}


def _ome_xml(planes: int, annotations: int, names=("GFP", "mCherry"), before: str = "") -> str:
    record = json.dumps(RECORD).replace('"', "&quot;")
    channels = "".join(f'<Channel ID="Channel:0:{i}" Name="{n}" SamplesPerPixel="1"/>'
                       for i, n in enumerate(names))
    plane = "".join(f'<Plane TheT="{t}" TheZ="0" TheC="0" DeltaT="{t / 2}" PositionX="1.5"/>'
                    for t in range(planes))
    values = "".join(f'<M K="Setting{k}">value-{k}-abcdefghijklmnop</M>' for k in range(30))
    notes = "".join(f'<MapAnnotation ID="Annotation:{t}"><Value>{values}</Value></MapAnnotation>'
                    for t in range(annotations))
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
            f'{before}<Image ID="Image:0"><Description>{record}</Description>'
            f'<Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint8" SizeX="8" SizeY="8" '
            f'SizeC="{len(names)}" SizeZ="1" SizeT="{max(planes, 1)}" TimeIncrement="500" '
            f'TimeIncrementUnit="ms">{channels}<TiffData/>{plane}</Pixels></Image>'
            f'<StructuredAnnotations>{notes}</StructuredAnnotations></OME>')


def _extras(xml: str) -> dict:
    return tiff_extras(SimpleNamespace(is_ome=True, ome_metadata=xml))


def test_a_large_ome_xml_gives_its_extras_without_reading_past_the_first_image():
    xml = _ome_xml(planes=2000, annotations=20000)  # ~25 MB, nearly all after the Image
    assert len(xml) > 20e6
    _extras(_ome_xml(1, 1))  # imports out of the timing
    start = time.perf_counter()
    extras = _extras(xml)
    elapsed = time.perf_counter() - start
    assert extras == {"microdeblur": RECORD["microdeblur"], "channel_names": ["GFP", "mCherry"],
                      "time_interval": 0.5}
    # measured 0.03 s; the whole-document dict (xml2dict) took 5.2 s on a 2-core machine
    assert elapsed < 1.0, f"{elapsed:.2f} s for {len(xml) / 1e6:.0f} MB of OME-XML"


def test_channel_names_are_kept_as_written():
    """Names that look like numbers ('007', '1.50') were converted: shown as '7' and '1.5'."""
    extras = _extras(_ome_xml(3, 0, names=("007", "1.50", "true")))
    assert extras["channel_names"] == ["007", "1.50", "true"]


def test_a_plate_description_before_the_image_is_not_the_images():
    """Only the first Image's Description is its record; a Plate's comes first in the XML."""
    before = '<Plate ID="Plate:0"><Description>plate notes</Description></Plate>'
    extras = _extras(_ome_xml(3, 0, before=before))
    assert extras["microdeblur"] == RECORD["microdeblur"]
    assert _extras(_ome_xml(3, 0).replace("<Description>", "<Description>x")) == {
        "channel_names": ["GFP", "mCherry"], "time_interval": 0.5}


def test_info_of_an_ome_tiff_with_large_xml_prints_its_extras(tmp_path, capsys):
    path = tmp_path / "timelapse.ome.tif"
    tifffile.imwrite(path, np.zeros((300, 8, 8), np.uint8), contiguous=True,
                     description=_ome_xml(300, 300, names=("GFP",)).encode(), metadata=None)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "shape (300, 8, 8) uint8, axes TYX (stated by the file)" in out
    assert "channels: GFP" in out and "time interval: 0.5 s" in out
    assert "deblurred: wiener" in out


def test_info_parses_a_contiguous_tiffs_extras_once(tmp_path, monkeypatch, capsys):
    """The header check parsed them too and threw them away (io.read_tiff reads them)."""
    from napari_microdeblur.core import io, tiff_metadata

    path = tmp_path / "c.ome.tif"
    tifffile.imwrite(path, np.zeros((3, 16, 16), np.uint8), metadata={"axes": "CYX",
                     "Channel": {"Name": ["a", "b", "c"]}})
    calls = []

    def counted(tif):
        calls.append(tif)
        return tiff_extras(tif)

    monkeypatch.setattr(tiff_metadata, "tiff_extras", counted)
    monkeypatch.setattr(io, "tiff_extras", counted)
    assert main(["info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["channel_names"] == ["a", "b", "c"]
    assert len(calls) == 1
