"""A long OME-XML's first image is read from its first Image's part only
(``core.ome_first_image``, ``tiff_header.read_tiff_header``: the docks' look-up of a layer's
file): tifffile's parse of the whole description held Python's lock for 1.2 s on 41 MB. Each
file here reads as tifffile's whole parse (``tif.series[0]``) reads it, through the short path
or, where that could differ (modulo annotations, pages in other files, a first Image without
pixels), through tifffile's whole parse."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core import ome_first_image
from napari_microdeblur.core.ome_first_image import first_image_xml, first_ome_series
from napari_microdeblur.core.tiff_header import read_tiff_header, series_header

NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
MODULO = ('<XMLAnnotation ID="Annotation:modulo" Namespace="openmicroscopy.org/omero/dimension/'
          'modulo"><Value><Modulo namespace="http://www.openmicroscopy.org/Schemas/Additions/'
          '2011-09"><ModuloAlongT Type="lifetime" Start="0" End="2" Step="1"/></Modulo>'
          '</Value></XMLAnnotation>')


def _annotations(chars: int = 1_100_000, extra: str = "") -> str:
    """StructuredAnnotations of ``chars`` characters: what makes an OME-XML long."""
    note = '<CommentAnnotation ID="Annotation:{}"><Value>' + "x" * 200 + "</Value>" \
        "</CommentAnnotation>"
    count = chars // len(note.format(0)) + 1
    return f"<StructuredAnnotations>{extra}" + "".join(
        note.format(i) for i in range(count)) + "</StructuredAnnotations>"


def _lengthen(path, extra: str = "", before: str = "", edit=None):
    """``path``'s OME-XML with 1.1 MB of annotations after its Images (``extra`` among them),
    ``before`` the first Image, and ``edit(xml)`` applied; written in place."""
    with tifffile.TiffFile(path) as tif:
        xml = tif.pages.first.description
    xml = xml.replace("<Image ", before + "<Image ", 1)
    xml = xml.replace("</OME>", _annotations(extra=extra) + "</OME>")
    tifffile.tiffcomment(path, (edit(xml) if edit else xml).encode())
    return path


def _write(path, data, **kwargs):
    tifffile.imwrite(path, data, ome=True, **kwargs)
    return path


def _full(path):
    with tifffile.TiffFile(path) as tif:
        return series_header(tif, tif.series[0], extras=True)


def _short(path):
    with tifffile.TiffFile(path) as tif, first_ome_series(tif) as first:
        used = first is not None
    return read_tiff_header(path, extras=True), used


def _single(path):
    return _lengthen(_write(path, np.zeros((4, 16, 16), np.uint16), metadata={
        "axes": "ZYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1, "PhysicalSizeZ": 0.3}))


def _several(path):
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(np.zeros((3, 8, 8), np.uint16), metadata={"axes": "TYX", "PhysicalSizeX": 0.2})
        tif.write(np.zeros((2, 4, 8, 8), np.uint8), metadata={"axes": "CZYX"})
    return _lengthen(path, before='<Plate ID="Plate:0"><Description>p</Description></Plate>')


def _tzc(path):
    return _lengthen(_write(path, np.zeros((2, 3, 2, 16, 16), np.float32),
                            metadata={"axes": "TZCYX", "PhysicalSizeZ": 0.5}))


def _rgb(path):
    return _lengthen(_write(path, np.zeros((2, 8, 8, 3), np.uint8), photometric="rgb",
                            metadata={"axes": "ZYXS"}))


def _rgb_planar(path):
    return _lengthen(_write(path, np.zeros((3, 8, 8), np.uint8), photometric="rgb",
                            planarconfig="separate", metadata={"axes": "SYX"}))


def _nm(path):
    return _lengthen(_write(path, np.zeros((2, 8, 8), np.uint16), metadata={
        "axes": "ZYX", "PhysicalSizeX": 65.0, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 65.0,
        "PhysicalSizeYUnit": "nm", "PhysicalSizeZ": 200.0, "PhysicalSizeZUnit": "nm"}))


def _uuid_of_itself(path):
    """As Bio-Formats writes one file: TiffData names its file by the root's UUID."""
    def name_itself(xml):
        uuid = xml.split('UUID="', 1)[1].split('"', 1)[0]
        return xml.replace('<TiffData IFD="0" PlaneCount="2"/>',
                           f'<TiffData IFD="0" PlaneCount="2"><UUID FileName="{path.name}">'
                           f"{uuid}</UUID></TiffData>")
    return _lengthen(_write(path, np.zeros((2, 8, 8), np.uint8), metadata={"axes": "ZYX"}),
                     edit=name_itself)


SHORT = {"single": _single, "several images": _several, "TZCYX": _tzc, "RGB": _rgb,
         "planar RGB": _rgb_planar, "nm": _nm, "UUID of itself": _uuid_of_itself}


@pytest.mark.parametrize("name", list(SHORT))
def test_a_long_ome_xml_reads_as_tifffiles_whole_parse(tmp_path, name):
    path = SHORT[name](tmp_path / "image.ome.tif")
    header, used = _short(path)
    assert used  # read from the first Image's part
    assert header == _full(path)


def test_the_headers_read_are_as_before(tmp_path):
    """The values themselves, besides their equality with tifffile's whole parse."""
    single = read_tiff_header(_single(tmp_path / "single.ome.tif"))
    assert (single.axes, single.shape, single.stated, single.contiguous) == (
        "ZYX", (4, 16, 16), True, True)
    assert single.pixel_size == pytest.approx({"X": 0.1, "Y": 0.1, "Z": 0.3})
    nm = read_tiff_header(_nm(tmp_path / "nm.ome.tif"))
    assert nm.pixel_size == pytest.approx({"X": 0.065, "Y": 0.065, "Z": 0.2})
    several = read_tiff_header(_several(tmp_path / "several.ome.tif"))
    assert (several.axes, several.shape, several.dtype) == ("TYX", (3, 8, 8), np.uint16)
    rgb = read_tiff_header(_rgb(tmp_path / "rgb.ome.tif"))
    assert (rgb.axes, rgb.shape) == ("ZYXS", (2, 8, 8, 3))
    tzc = read_tiff_header(_tzc(tmp_path / "tzc.ome.tif"))
    assert (tzc.axes, tzc.shape) == ("TZCYX", (2, 3, 2, 16, 16))


def test_a_modulo_annotation_reads_through_the_whole_parse(tmp_path):
    """A modulo annotation after the Images makes T of 3 a lifetime axis (tifffile's H, which
    this package does not name: no axes), where the first Image alone reads TYX."""
    path = _write(tmp_path / "flim.ome.tif", np.zeros((3, 8, 8), np.uint16),
                  metadata={"axes": "TYX"})
    _lengthen(path, extra=MODULO, edit=lambda xml: xml.replace(
        "<Pixels ", '<AnnotationRef ID="Annotation:modulo"/><Pixels ', 1))
    header, used = _short(path)
    assert not used and header == _full(path) and header.axes == ""


def test_a_first_image_without_pixels_here_reads_through_the_whole_parse(tmp_path):
    """tifffile skips an Image without TiffData: its first series is the next Image."""
    with tifffile.TiffWriter(tmp_path / "two.ome.tif", ome=True) as tif:
        tif.write(np.zeros((3, 8, 8), np.uint16), metadata={"axes": "TYX"})
        tif.write(np.zeros((2, 8, 8), np.uint8), metadata={"axes": "ZYX"})
    path = _lengthen(tmp_path / "two.ome.tif", edit=lambda xml: xml.replace(
        '<TiffData IFD="0" PlaneCount="3"/>', "", 1))
    header, used = _short(path)
    assert not used and header == _full(path) and header.axes == "ZYX"


def test_one_file_of_a_multi_file_dataset_reads_through_the_whole_parse(tmp_path):
    for name in ("a.ome.tif", "b.ome.tif"):
        tifffile.imwrite(tmp_path / name, np.full((2, 8, 8), 7, np.uint8), metadata=None)
    planes = "".join(f'<TiffData FirstZ="{2 * i}" IFD="0" PlaneCount="2"><UUID FileName="{n}">'
                     f"urn:uuid:{n[0]}</UUID></TiffData>" for i, n in enumerate("ab"))
    xml = (f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="urn:uuid:a">'
           '<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint8" '
           'SizeX="8" SizeY="8" SizeZ="4" SizeC="1" SizeT="1"><Channel ID="Channel:0:0" '
           f'SamplesPerPixel="1"/>{planes}</Pixels></Image>{_annotations()}</OME>')
    xml = xml.replace('FileName="a"', 'FileName="a.ome.tif"').replace(
        'FileName="b"', 'FileName="b.ome.tif"')
    tifffile.tiffcomment(tmp_path / "a.ome.tif", xml.encode())
    header, used = _short(tmp_path / "a.ome.tif")
    assert not used and header == _full(tmp_path / "a.ome.tif")
    assert (header.axes, header.shape) == ("ZYX", (4, 8, 8))


def test_a_short_ome_xml_is_parsed_whole_as_before(tmp_path, monkeypatch):
    path = _write(tmp_path / "short.ome.tif", np.zeros((2, 8, 8), np.uint8),
                  metadata={"axes": "ZYX"})
    header, used = _short(path)
    assert not used and header == _full(path)
    monkeypatch.setattr(ome_first_image, "LONG_OME_XML", 0)
    header, used = _short(path)
    assert used and header == _full(path)


def test_first_image_xml_keeps_what_tifffile_reads_of_the_first_image_only():
    xml = (f'<OME xmlns="{NS}" UUID="u"><Plate ID="Plate:0"/><Image ID="Image:0" Name="a">'
           '<Description>d</Description><Pixels DimensionOrder="XYZCT" SizeX="2"><Channel '
           'SamplesPerPixel="1"><LightPath/></Channel><TiffData IFD="0"><UUID FileName="f">u'
           '</UUID></TiffData><Plane TheZ="0"/></Pixels></Image><Image ID="Image:1"/></OME>')
    for chunk in (7, 1 << 18):  # the parser reads a chunk ahead of the events it gives
        root = ElementTree.fromstring(first_image_xml(xml, chunk=chunk))
        assert root.get("UUID") == "u" and [e.tag.rsplit("}")[-1] for e in root.iter()] == [
            "OME", "Image", "Pixels", "Channel", "TiffData", "UUID"]
    assert first_image_xml(f'<OME xmlns="{NS}"><BinaryOnly/><Image/></OME>') is None
    assert first_image_xml(f'<OME xmlns="{NS}"><Plate></Image></OME>') is None  # malformed


def test_a_long_ome_xml_is_not_parsed_whole(tmp_path, monkeypatch):
    """The docks read such a header in a worker thread: a whole parse (one call holding
    Python's lock: 1.2 s for 41 MB) stalled napari as much as on its own thread."""
    path = _single(tmp_path / "long.ome.tif")
    parsed = []
    whole = ElementTree.fromstring

    def counted(text, *args, **kwargs):
        parsed.append(len(text))
        return whole(text, *args, **kwargs)

    monkeypatch.setattr(ElementTree, "fromstring", counted)
    header = read_tiff_header(path)
    assert header.shape == (4, 16, 16)
    assert max(parsed, default=0) < 10_000, parsed  # the first Image's part only
