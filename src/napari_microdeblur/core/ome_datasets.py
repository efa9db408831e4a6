"""Multi-file OME-TIFF datasets: one image whose planes lie in several TIFF files of a folder
(Micro-Manager's Pos0.ome.tif, Pos0_1.ome.tif; Bio-Formats' split files). A file's OME-XML
names the file of each plane (TiffData's UUID FileName); a file may hold a BinaryOnly element
instead, naming the file whose OME-XML describes its planes (MetadataFile).

tifffile reads the whole dataset from a file whose OME-XML names the others, and fills the
planes of a file that is not there with zeros, said in a log line only: a deblur had passed
half a z-stack of black planes. A BinaryOnly file alone it reads as a stack of its own planes,
axes guessed, no pixel size. Here such a file is refused in one line that names the files
(``dataset_gaps``), and a folder's file that another of its files reads whole is not a
separate input (``dataset_parts``). A folder of plain TIFFs costs one header read a file.

A TiffData may name its file by UUID alone, no FileName (the OME schema allows it: a reader is
to find the file whose OME root has that UUID); tifffile, which opens files by FileName, raised
KeyError 'FileName' (a traceback) reading any image of such a file: refused here in one line
(``dataset_gaps``). A watch waits for a dataset's files not there yet (``dataset_others``).

A multi-position dataset keeps each position (OME Image) in files of its own, each with the
full OME-XML (Micro-Manager 1.4, Bio-Formats) or BinaryOnly naming the first (Micro-Manager's
later versions): tifffile's first series is Image 0 whichever file is opened, so Pos1.ome.tif
was read as Pos0's pixels (its output held Pos0 deblurred) and a folder run never read
position 1. A file is read as the image whose first planes it holds (``own_series``; a
BinaryOnly one with its MetadataFile's OME-XML, ``open_tiff_file``), and only a file holding
later planes of an image is a part of the file that reads it. Of a file holding several
images of its own, the first is read, the others said (``io.warn_other_series``), as of a
single-file one."""

from __future__ import annotations

import os
import re
import struct
import threading
import xml.etree.ElementTree as ET
from collections import OrderedDict
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

from .shown import shown_path


class OmeDatasetError(ValueError):
    """A file of a multi-file OME-TIFF dataset that cannot be read as the whole image, said
    in one line: a file of the dataset missing, or a BinaryOnly file given for the dataset."""


@dataclass
class DatasetXml:
    """What an OME-XML says of the files of the image a file is read as (``_image_index``)."""

    #: a BinaryOnly file's MetadataFile ('' where it names none); None: not BinaryOnly
    metadata_file: str | None = None
    #: file name -> (IFDs the image needs of it, its planes there), in the XML's order: the
    #: first holds plane 0 and reads the image. This file is under its own name. A BinaryOnly
    #: file's: as its MetadataFile's OME-XML says, where that was read (``dataset_of``)
    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    planes: int = 0  # the image's planes, all files together
    #: UUID -> planes of the TiffData, of any image, that name another file by UUID only
    unnamed: dict[str, int] = field(default_factory=dict)
    uuid: str | None = None  # the file's own UUID (its OME root's)

    @property
    def multifile(self) -> bool:
        return self.metadata_file is not None or len(self.files) > 1 or bool(self.unnamed)

    @property
    def reader(self) -> str | None:
        """The name of the file that reads the image (holds its first planes); None: not known."""
        return next(iter(self.files), None)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


#: one Image of an OME-XML: (its planes, its TiffData in runs: ((UUID text or None where the
#: TiffData has no UUID, FileName or None), IFDs needed, planes), in the XML's order)
ImageFiles = tuple[int, tuple[tuple[tuple[str | None, str | None], int, int], ...]]


def _images(root, samples_default: int = 1) -> tuple[ImageFiles, ...]:
    """Each Image's files in ``root`` (parsed OME-XML), consecutive TiffData of one file
    merged: small where a metadata file lists every plane of every position."""
    images = []
    for pixels in (e for e in root.iter() if _local(e.tag) == "Pixels"):
        channels = [e for e in pixels if _local(e.tag) == "Channel"]
        samples = int(channels[0].get("SamplesPerPixel") or samples_default) if channels else 1
        planes = (int(pixels.get("SizeZ", 1)) * int(pixels.get("SizeT", 1))
                  * max(1, int(pixels.get("SizeC", 1)) // max(1, samples)))
        runs: list[list] = []
        for data in (e for e in pixels if _local(e.tag) == "TiffData"):
            uuid = next((e for e in data if _local(e.tag) == "UUID"), None)
            key = (None, None) if uuid is None else (
                (uuid.text or "").strip(), uuid.get("FileName") or None)
            count = _plane_count(data)
            end = int(data.get("IFD") or 0) + count
            if runs and runs[-1][0] == key:
                runs[-1][1], runs[-1][2] = max(runs[-1][1], end), runs[-1][2] + count
            else:
                runs.append([key, end, count])
        images.append((planes, tuple((key, end, count) for key, end, count in runs)))
    return tuple(images)


def _file_of(key: tuple[str | None, str | None], own: str | None, name: str) -> str | None:
    """The file a TiffData's (UUID, FileName) names, as tifffile reads it: one without UUID,
    or with the UUID ``own`` (the file's), is the file ``name``; None: by UUID only."""
    uuid, file_name = key
    return name if uuid is None or uuid == own else file_name


def _image_index(images, own: str | None, name: str) -> int:
    """The Image the file ``name`` is read as (``own_series`` picks its series alike): the
    first whose first planes it holds, else the first it holds planes of (a part of it: read
    whole), else the first."""
    firsts = [_file_of(runs[0][0], own, name) if runs else None for _, runs in images]
    if name in firsts:
        return firsts.index(name)
    return next((i for i, (_, runs) in enumerate(images)
                 if any(_file_of(key, own, name) == name for key, _, _ in runs)), 0)


def dataset_xml(root, path: Path, samples_default: int = 1) -> DatasetXml:
    """The files ``root`` (parsed OME-XML of the file ``path``) names for the image ``path``
    is read as: a TiffData without UUID, or with this file's UUID, is this file's, as
    tifffile reads it."""
    binary = next((e for e in root if _local(e.tag) == "BinaryOnly"), None)
    if binary is not None:
        return DatasetXml(metadata_file=binary.get("MetadataFile") or "", uuid=root.get("UUID"))
    return _dataset(_images(root, samples_default), path, root.get("UUID"))


def _dataset(images, path: Path, own: str | None) -> DatasetXml:
    found = DatasetXml(uuid=own)
    if not images:
        return found
    found.unnamed = _unnamed_uuids(images, own)
    found.planes, runs = images[_image_index(images, own, path.name)]
    for key, end, count in runs:
        name = _file_of(key, own, path.name)
        if not name:  # by UUID only: in ``unnamed``
            continue
        ifds, planes = found.files.get(name, (0, 0))
        found.files[name] = (max(ifds, end), planes + count)
    return found


def _plane_count(data) -> int:
    return int(data.get("PlaneCount") or data.get("NumPlanes")
               or (1 if data.get("IFD") is not None else 0))


def _unnamed_uuids(images, own: str | None) -> dict[str, int]:
    """UUID -> planes of the TiffData of every image that name a file by UUID only, one that
    neither is this file (``own``) nor was named by FileName before: tifffile reads every
    image's TiffData in this order, and raises KeyError 'FileName' at the first such one."""
    known, unnamed = {own} if own else set(), {}
    for _, runs in images:
        for (uuid, file_name), _, count in runs:
            if uuid is None:
                continue
            if file_name:
                known.add(uuid)
            elif uuid not in known:
                unnamed[uuid] = unnamed.get(uuid, 0) + count
    return unnamed


def parsed(xml: str | None):
    """The root element of OME-XML ``xml``; None where there is none (ET's ParseError raised)."""
    return ET.fromstring(xml) if xml else None


def names_others(xml: str | None, name: str) -> bool:
    """Whether OME-XML ``xml`` of the file ``name`` may name other files: BinaryOnly, or a
    FileName other than ``name`` (a regular expression, no parse: Bio-Formats names the file
    itself in a single-file OME-TIFF, whose XML may be tens of MB)."""
    if not xml:
        return False
    if "BinaryOnly" in xml:
        return True
    names = FILE_NAME.findall(xml)
    if any(unescape(found) != name for found in set(names)):
        return True
    # no more UUID elements ('...</UUID>', '<UUID/>') than FileNames: each has one (a count
    # is a fifth of the search below, which tripled this look at 35 MB of XML)
    if xml.count("UUID>") + xml.count("UUID/>") <= len(names):
        return False
    # a UUID element without FileName that is not this file's own UUID: another file
    own = ROOT_UUID.search(xml)
    return any(found != (own.group(1) if own else None) for found in set(UUID_ONLY.findall(xml)))


FILE_NAME = re.compile(r"""FileName\s*=\s*["']([^"']*)["']""")
#: the text of a UUID element without a FileName attribute (empty for <UUID/>); 'UUID' first
#: and the '<' or 'prefix:' before it looked behind: the search skips to each 'UUID'
UUID_ONLY = re.compile(
    r"""UUID(?<=[<:]UUID)(?=[\s/>])(?![^>]*\bFileName\s*=)[^>]*>\s*([^<\s]*)""")
#: the UUID attribute of the OME root element
ROOT_UUID = re.compile(r"""<(?:[\w.-]+:)?OME\b[^>]*?\sUUID\s*=\s*["']([^"']*)["']""")


def refuse_dataset_gaps(tif, path) -> None:
    """``dataset_gaps`` of the open ``tifffile.TiffFile`` of ``path``, read from its header
    only; its OME-XML parsed only where it may name other files (``info`` reads the header)."""
    xml = tif.ome_metadata if tif.is_ome else None
    if names_others(xml, Path(path).name):
        try:
            root = parsed(xml)
        except ET.ParseError:  # the reader says what is wrong with it
            return
        dataset_gaps(dataset_xml(root, Path(path)), Path(path))


def dataset_gaps(dataset: DatasetXml, path: Path) -> None:
    """Refuse (``OmeDatasetError``) the file ``path`` whose OME-XML says ``dataset``: a
    BinaryOnly file (tifffile reads it as a stack of its planes, axes guessed: the reader
    opens one that holds an image's first planes with its MetadataFile's OME-XML,
    ``open_tiff_file``), or a file whose image has planes in files not in its folder
    (tifffile gave them as zeros)."""
    if dataset.metadata_file is not None:
        raise OmeDatasetError(_binary_only_words(dataset, path))
    if dataset.unnamed:
        raise OmeDatasetError(_unnamed_words(dataset.unnamed, path))
    missing = [name for name in dataset.files
               if name != path.name and not (path.parent / name).is_file()]
    if not missing:
        return
    held = sum(dataset.files[name][1] for name in missing)
    named = ", ".join(missing[:MISSING_NAMED]) + (
        f" and {len(missing) - MISSING_NAMED} more" if len(missing) > MISSING_NAMED else "")
    many = len(missing) > 1
    of = f"{held} of its {dataset.planes} planes" if dataset.planes >= held > 0 else "planes"
    files = (f"the {len(missing)} files holding {of} ({named}) are" if many
             else f"the file holding {of} ({named}) is")
    raise OmeDatasetError(
        f"cannot read {shown_path(path)}: it is one file of a multi-file OME-TIFF dataset, "
        f"and {files} not in its folder; put all the dataset's files together in one folder, "
        "as the acquisition saved them, and read it again")


#: the missing files of a dataset named in its refusal, the rest counted
MISSING_NAMED = 3


def _unnamed_words(unnamed: dict[str, int], path: Path) -> str:
    uuids = [u or "an empty UUID" for u in unnamed]
    named = ", ".join(uuids[:MISSING_NAMED]) + (
        f" and {len(uuids) - MISSING_NAMED} more" if len(uuids) > MISSING_NAMED else "")
    planes = sum(unnamed.values())
    held = f"{planes} of its planes" if planes else "its planes"
    files = "files" if len(uuids) > 1 else "file"
    return (f"cannot read {shown_path(path)}: it is one file of a multi-file OME-TIFF dataset "
            f"whose OME-XML names the {files} holding {held} by UUID only ({named}), with no "
            "FileName, which this reader needs to find a file; open the dataset in Fiji "
            "(Bio-Formats), which finds files by UUID, and save it as one OME-TIFF")


def _binary_only_words(dataset: DatasetXml, path: Path) -> str:
    metadata_file = dataset.metadata_file
    head = (f"cannot read {shown_path(path)}: it holds planes of a multi-file OME-TIFF "
            "dataset whose OME-XML is in another file (its own is BinaryOnly)")
    if not metadata_file:  # which image its planes are of is not known here
        return (f"{head}, and it names no such file (no MetadataFile); open the dataset in "
                "Fiji (Bio-Formats) and save each image as one OME-TIFF")
    where = path.parent / metadata_file
    if not metadata_file.lower().endswith((".tif", ".tiff")):
        return (f"{head}: its metadata is in the OME companion file {metadata_file}, which is "
                "not read here; open the dataset in Fiji (Bio-Formats) and save it as one "
                "OME-TIFF")
    if not where.is_file():
        return (f"{head}: {metadata_file}, which is not in its folder; put all the dataset's "
                "files together in one folder, as the acquisition saved them, and read it "
                "again")
    images = _metadata_images(where)
    found = _dataset(images, path, dataset.uuid) if images else None
    if found is None or path.name not in found.files:
        said = "names none of its planes" if found else "cannot be read as OME-XML"
        return (f"{head}: {shown_path(where)}, whose OME-XML {said}; open the dataset in Fiji "
                "(Bio-Formats) and save each image as one OME-TIFF")
    if found.reader != path.name:
        return (f"{head}: they are part of the image read from "
                f"{shown_path(path.parent / found.reader)}; open that file instead: it reads "
                "that image whole, this file's planes included")
    # its own image, read so where the file is opened by ``open_tiff_file``
    return (f"{head}: {shown_path(where)}, which describes this file's image; read it with "
            "`microdeblur deblur` or this plugin's napari reader, which read that OME-XML")


def dataset_parts(paths: list[Path]) -> dict[Path, Path]:
    """Each file of ``paths`` that another file of them reads as part of the image it is read
    as (``dataset_of``) -> that file: the image's files after its first, a BinaryOnly file
    whose MetadataFile's OME-XML cannot be read -> that file. A file holding an image's first
    planes is read on its own (a position's file). One header read a TIFF; OME-XML is parsed
    only where it names other files."""
    keys = {_key(p): p for p in paths if str(p).lower().endswith((".tif", ".tiff"))}
    parts: dict[Path, Path] = {}
    for key, path in keys.items():
        dataset = dataset_of(path)
        if dataset is None:
            continue
        names = [_key(path.parent / name) for name in dataset.files]
        if dataset.metadata_file is not None and not names:
            owner = _key(path.parent / dataset.metadata_file)
            if owner in keys and owner != key:
                parts[path] = keys[owner]
            continue
        if dataset.unnamed or not names:  # refused, each file in its own words
            continue
        if names[0] != key:  # later planes of an image: read with the file of its first
            if names[0] in keys:
                parts[path] = keys[names[0]]
            continue
        for other in names[1:]:
            if other in keys and other != key:
                parts.setdefault(keys[other], path)
    for part, owner in parts.items():  # the file that reads it is no part itself
        seen = {part}
        while owner in parts and owner not in seen:
            seen.add(owner)
            owner = parts[owner]
        parts[part] = owner
    return {p: o for p, o in parts.items() if o not in parts}


def _key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def parts_words(parts: dict[Path, Path], base: Path | None) -> str:
    """'mm_1.ome.tif is part of the multi-file OME-TIFF image read whole from mm.ome.tif'
    for the files ``parts`` (``dataset_parts``), grouped by dataset, the first few named;
    names relative to the folder ``base`` where they are in it."""
    def name(path: Path) -> str:
        try:
            return str(path.relative_to(base)) if base is not None else str(path)
        except ValueError:
            return str(path)

    by_owner: dict[Path, list[Path]] = {}
    for part, owner in sorted(parts.items()):
        by_owner.setdefault(owner, []).append(part)
    said = []
    for owner, own in list(by_owner.items())[:DATASETS_NAMED]:
        listed = ", ".join(name(p) for p in own[:PARTS_NAMED])
        more = f" and {len(own) - PARTS_NAMED} more" * (len(own) > PARTS_NAMED)
        are = "are parts" if len(own) > 1 else "is part"
        said.append(f"{listed}{more} {are} of the multi-file OME-TIFF image read whole "
                    f"from {name(owner)}")
    rest = len(by_owner) - len(said)
    return "; ".join(said) + f"; and files of {rest} more datasets" * bool(rest)


#: datasets named in ``parts_words``, and parts named per dataset
DATASETS_NAMED, PARTS_NAMED = 3, 3


def ome_description(path: Path) -> str | None:
    """The OME-XML in the first IFD of the TIFF ``path`` (its ImageDescription), read from
    the file's header without tifffile; None for another description, none, or not a TIFF."""
    try:
        with open(path, "rb") as file:
            return _first_description(file)
    except (OSError, struct.error, ValueError, UnicodeDecodeError):
        return None


def _first_description(file) -> str | None:
    head = file.read(16)
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None:
        return None
    version = struct.unpack(order + "H", head[2:4])[0]
    if version == 42:  # classic: 2-byte count, 12-byte entries, 4-byte values
        count_fmt, entry_fmt, size, inline = "H", "HHII", 12, 4
        offset = struct.unpack(order + "I", head[4:8])[0]
    elif version == 43:  # BigTIFF
        count_fmt, entry_fmt, size, inline = "Q", "HHQQ", 20, 8
        offset = struct.unpack(order + "Q", head[8:16])[0]
    else:
        return None
    file.seek(offset)
    width = struct.calcsize(count_fmt)
    entries = struct.unpack(order + count_fmt, file.read(width))[0]
    if not 0 < entries < 4096:
        return None
    table = file.read(entries * size)
    for i in range(entries):
        raw = table[i * size:(i + 1) * size]
        tag, kind, count, value = struct.unpack(order + entry_fmt, raw)
        if tag != 270 or kind != 2:  # ImageDescription, ASCII
            continue
        if count <= inline:
            return None  # too short for OME-XML
        file.seek(value)
        start = file.read(min(count, DESCRIPTION_START))
        if b"<OME" not in start and b":OME" not in start:
            return None
        rest = file.read(count - len(start)) if count > len(start) else b""
        return (start + rest).rstrip(b"\0").decode("utf-8")
    return None


#: bytes of a description read to tell OME-XML (its root element comes after a prolog and
#: Bio-Formats' comment); the rest is read only for OME-XML
DESCRIPTION_START = 4096


def dataset_of(path: Path) -> DatasetXml | None:
    """The multi-file dataset the OME-XML of ``path`` names (its header read only; a
    BinaryOnly file's files as its MetadataFile's OME-XML names them, where that names its
    planes); None for a plain or single-file TIFF, or XML the reader will refuse."""
    xml = ome_description(path)
    if not names_others(xml, path.name):
        return None
    try:
        dataset = dataset_xml(parsed(xml), path)
    except (ET.ParseError, ValueError):  # the reader says what is wrong with it
        return None
    if dataset.metadata_file and (images := _metadata_images(path.parent
                                                             / dataset.metadata_file)):
        found = _dataset(images, path, dataset.uuid)
        if path.name in found.files:
            dataset.files, dataset.planes, dataset.unnamed = (found.files, found.planes,
                                                              found.unnamed)
    return dataset if dataset.multifile else None


def _dataset_names(dataset: DatasetXml) -> list[str]:
    """The files the image of ``dataset`` is read from: its planes' and, of a BinaryOnly
    file, its MetadataFile (its OME-XML)."""
    names = list(dataset.files)
    return names + [dataset.metadata_file] * bool(
        dataset.metadata_file and dataset.metadata_file not in names)


def dataset_files(path: Path) -> list[Path]:
    """The files of the dataset of ``path`` in its folder that its image is read from,
    ``path`` first ([path] for a file of no multi-file dataset): what a copy of it takes along
    (``watch``). A position's file takes its own image's, not the other positions'."""
    if (dataset := dataset_of(path)) is None:
        return [path]
    others = [path.parent / Path(n).name for n in _dataset_names(dataset)
              if n and Path(n).name != path.name]
    return [path, *(p for p in others if p.is_file())]


def dataset_others(path: Path) -> list[Path]:
    """The other files the image of ``path`` is read from, whether in its folder or not (where
    ``dataset_gaps`` looks for them): those its planes lie in, a BinaryOnly file's
    MetadataFile; [] for a file of no multi-file dataset. A watch waits for those not there:
    an acquisition writes its files one after another, a copy brings them one by one."""
    if (dataset := dataset_of(path)) is None:
        return []
    return [path.parent / n for n in _dataset_names(dataset) if n and n != path.name]


def reading_file(path: Path) -> Path | None:
    """The file of the folder of ``path`` that reads it as a part of its image (as a folder
    batch leaves it out: ``dataset_parts``), or None where ``path`` reads itself or that file
    is not there."""
    files = dataset_files(path)
    return dataset_parts(files).get(path) if len(files) > 1 else None


def _metadata_images(where: Path) -> tuple[ImageFiles, ...] | None:
    """``_images`` of the OME-XML of the TIFF ``where`` (a BinaryOnly file's MetadataFile),
    kept for the files of its dataset (a folder of 100 positions reads it once); None where
    it holds none (no OME-XML, BinaryOnly itself, XML that does not parse)."""
    try:
        stat = where.stat()
    except OSError:
        return None
    key = (_key(where), stat.st_size, stat.st_mtime_ns)
    with _METADATA_LOCK:  # a watch's or a batch's threads
        if key in _METADATA_IMAGES:
            return _METADATA_IMAGES[key]
    try:
        root = parsed(ome_description(where))
        binary = root is not None and any(_local(e.tag) == "BinaryOnly" for e in root)
        images = _images(root) if root is not None and not binary else None
    except (ET.ParseError, ValueError):
        images = None
    with _METADATA_LOCK:
        _METADATA_IMAGES[key] = images
        while len(_METADATA_IMAGES) > METADATA_KEPT:
            _METADATA_IMAGES.popitem(last=False)
    return images


#: MetadataFiles whose images are kept (``_metadata_images``): each is small, one entry per
#: image's run of files
METADATA_KEPT = 8
_METADATA_IMAGES: OrderedDict = OrderedDict()
_METADATA_LOCK = threading.Lock()


def open_tiff_file(path):
    """``tifffile.TiffFile(path)``; of a BinaryOnly file holding an image's first planes, with
    its MetadataFile's OME-XML as its own (its root's UUID made this file's): tifffile then
    reads that image from it (``own_series``) as from a position's file with the full
    OME-XML. Raises what tifffile raises."""
    import tifffile

    tif = tifffile.TiffFile(path)
    try:
        xml = _position_xml(tif, Path(path))
    except Exception:  # noqa: BLE001 - the reader refuses the BinaryOnly file in its words
        xml = None
    if xml is None:
        return tif
    tif.close()
    return tifffile.TiffFile(path, omexml=xml)


def _position_xml(tif, path: Path) -> str | None:
    """The OME-XML ``open_tiff_file`` reads the BinaryOnly ``tif`` with; None for another file,
    a part of an image read from another file, or a MetadataFile that cannot be read."""
    own = tif.pages.first.description if tif.is_ome else ""
    if "BinaryOnly" not in own or len(own) > BINARY_ONLY_CHARS:
        return None
    if tif.is_mmstack:  # Micro-Manager's own format: tifffile reads that, not OME-XML
        return None
    dataset = dataset_xml(parsed(own), path)
    where = path.parent / (dataset.metadata_file or "")
    if not dataset.metadata_file or not where.name.lower().endswith((".tif", ".tiff")):
        return None
    images = _metadata_images(where)
    if not images or _dataset(images, path, dataset.uuid).reader != path.name:
        return None
    xml = ome_description(where)
    if not xml:
        return None
    uuid = f' UUID="{dataset.uuid}"' if dataset.uuid else ""  # none: tifffile goes by FileName
    return ROOT_UUID_ATTRIBUTE.sub(lambda m: m.group(1) + uuid, xml, count=1)


#: a BinaryOnly file's OME-XML is short (a root and one element, a comment); a longer one is
#: not parsed to look
BINARY_ONLY_CHARS = 1 << 16
#: the OME root element up to its UUID attribute (group 1), and that attribute
ROOT_UUID_ATTRIBUTE = re.compile(
    r"""(<(?:[\w.-]+:)?OME\b[^>]*?)\sUUID\s*=\s*("[^"]*"|'[^']*')""")


def own_series(tif) -> list:
    """The series of the open ``tifffile.TiffFile`` ``tif`` of the images it is read as: of
    an OME-TIFF, those whose first plane lies in this file (a position's file: tifffile's
    first series is Image 0 whichever file holds it), else the first with a plane in it (a
    part: its image read whole), else all; of other files, all. The first is read."""
    series = tif.series
    if len(series) < 2 or any(getattr(s, "kind", "") != "ome" for s in series):
        return series
    if not (here := tif.filehandle.path):  # not a file on disk: no other file read either
        return series
    here = _key(here)

    def in_file(page) -> bool:
        return page is not None and _key(page.parent.filehandle.path or "") == here

    own = [s for s in series if len(s) and in_file(s[0])]  # a series is a list of its pages
    return own or next(([s] for s in series if any(in_file(p) for p in s)), series)
