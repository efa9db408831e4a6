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
(``dataset_gaps``). A watch waits for a dataset's files not there yet (``missing_files``)."""

from __future__ import annotations

import os
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

from .shown import shown_path


class OmeDatasetError(ValueError):
    """A file of a multi-file OME-TIFF dataset that cannot be read as the whole image, said
    in one line: a file of the dataset missing, or a BinaryOnly file given for the dataset."""


@dataclass
class DatasetXml:
    """What an OME-XML says of the files of its first image (the one a reader reads)."""

    #: a BinaryOnly file's MetadataFile ('' where it names none); None: not BinaryOnly
    metadata_file: str | None = None
    #: file name -> (IFDs the first image needs of it, its planes there), in the XML's order:
    #: the first holds plane 0. This file is under its own name.
    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    planes: int = 0  # the first image's planes, all files together
    #: UUID -> planes of the TiffData, of any image, that name another file by UUID only
    unnamed: dict[str, int] = field(default_factory=dict)

    @property
    def multifile(self) -> bool:
        return self.metadata_file is not None or len(self.files) > 1 or bool(self.unnamed)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def dataset_xml(root, path: Path, samples_default: int = 1) -> DatasetXml:
    """The files ``root`` (parsed OME-XML of the file ``path``) names for its first image:
    a TiffData without UUID, or with this file's UUID, is this file's, as tifffile reads it."""
    found = DatasetXml()
    binary = next((e for e in root if _local(e.tag) == "BinaryOnly"), None)
    if binary is not None:
        found.metadata_file = binary.get("MetadataFile") or ""
        return found
    pixels = next((e for e in root.iter() if _local(e.tag) == "Pixels"), None)
    if pixels is None:
        return found
    channels = [e for e in pixels if _local(e.tag) == "Channel"]
    samples = int(channels[0].get("SamplesPerPixel") or samples_default) if channels else 1
    found.planes = (int(pixels.get("SizeZ", 1)) * int(pixels.get("SizeT", 1))
                    * max(1, int(pixels.get("SizeC", 1)) // max(1, samples)))
    own = root.get("UUID")
    found.unnamed = _unnamed_uuids(root, own)
    for data in (e for e in pixels if _local(e.tag) == "TiffData"):
        uuid = next((e for e in data if _local(e.tag) == "UUID"), None)
        name = path.name
        if uuid is not None and (uuid.text or "").strip() != own:
            name = uuid.get("FileName")
            if not name:  # by UUID only: in ``unnamed``
                continue
        count = _plane_count(data)
        ifds, planes = found.files.get(name, (0, 0))
        found.files[name] = (max(ifds, int(data.get("IFD") or 0) + count), planes + count)
    return found


def _plane_count(data) -> int:
    return int(data.get("PlaneCount") or data.get("NumPlanes")
               or (1 if data.get("IFD") is not None else 0))


def _unnamed_uuids(root, own: str | None) -> dict[str, int]:
    """UUID -> planes of the TiffData of every image that name a file by UUID only, one that
    neither is this file (``own``) nor was named by FileName before: tifffile reads every
    image's TiffData in this order, and raises KeyError 'FileName' at the first such one."""
    known, unnamed = {own} if own else set(), {}
    for data in (e for e in root.iter() if _local(e.tag) == "TiffData"):
        uuid = next((e for e in data if _local(e.tag) == "UUID"), None)
        if uuid is None:
            continue
        text = (uuid.text or "").strip()
        if uuid.get("FileName"):
            known.add(text)
        elif text not in known:
            unnamed[text] = unnamed.get(text, 0) + _plane_count(data)
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
    BinaryOnly file (its planes are one part of the image its MetadataFile describes), or a
    file whose image has planes in files not in its folder (tifffile gave them as zeros)."""
    if dataset.metadata_file is not None:
        raise OmeDatasetError(_binary_only_words(dataset.metadata_file, path))
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


def _binary_only_words(metadata_file: str, path: Path) -> str:
    head = (f"cannot read {shown_path(path)}: it holds planes of a multi-file OME-TIFF "
            "dataset, not an image of its own (its OME-XML is BinaryOnly)")
    if not metadata_file:
        return (f"{head}; open the dataset's file that holds the full OME-XML (usually the "
                "first one), which reads the whole dataset, this file's planes included")
    where = path.parent / metadata_file
    if not metadata_file.lower().endswith((".tif", ".tiff")):
        return (f"{head}: its metadata is in the OME companion file {metadata_file}, which is "
                "not read here; open the dataset in Fiji (Bio-Formats) and save it as one "
                "OME-TIFF")
    if not where.is_file():
        return (f"{head}: the dataset is read from {metadata_file}, which is not in its "
                "folder; put all the dataset's files together in one folder and open "
                f"{metadata_file}")
    return (f"{head}: the dataset is read from {shown_path(where)}; open that file instead: "
            "it reads the whole dataset, this file's planes included")


def dataset_parts(paths: list[Path]) -> dict[Path, Path]:
    """Each file of ``paths`` that another file of them reads as part of its multi-file
    OME-TIFF dataset -> that file: those its first image's TiffData name, a BinaryOnly file's
    MetadataFile, a file whose full OME-XML puts plane 0 in another. One header read a TIFF;
    OME-XML is parsed only where it names other files."""
    keys = {_key(p): p for p in paths if str(p).lower().endswith((".tif", ".tiff"))}
    parts: dict[Path, Path] = {}
    for key, path in keys.items():
        xml = ome_description(path)
        try:
            dataset = dataset_xml(parsed(xml), path) if names_others(xml, path.name) else None
        except (ET.ParseError, ValueError):  # the reader says what is wrong with it
            continue
        if dataset is None or not dataset.multifile:
            continue
        if dataset.metadata_file is not None:
            owner = _key(path.parent / dataset.metadata_file)
            if owner in keys and owner != key:
                parts[path] = keys[owner]
            continue
        names = [_key(path.parent / name) for name in dataset.files]
        if dataset.unnamed or not names:  # refused, each file in its own words
            continue
        if names[0] != key:  # its planes' description repeated in every file (Bio-Formats)
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
    """'mm_1.ome.tif is part of the multi-file OME-TIFF dataset read whole from mm.ome.tif'
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
        said.append(f"{listed}{more} {are} of the multi-file OME-TIFF dataset read whole "
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
    """The multi-file dataset the OME-XML of ``path`` names (its header read only); None for
    a plain or single-file TIFF, or XML the reader will refuse."""
    xml = ome_description(path)
    if not names_others(xml, path.name):
        return None
    try:
        dataset = dataset_xml(parsed(xml), path)
    except (ET.ParseError, ValueError):  # the reader says what is wrong with it
        return None
    return dataset if dataset.multifile else None


def dataset_files(path: Path) -> list[Path]:
    """The files of the dataset of ``path`` in its folder, ``path`` first ([path] for a file of
    no multi-file dataset): what a copy of its dataset takes along (``watch``)."""
    if (dataset := dataset_of(path)) is None:
        return [path]
    names = [dataset.metadata_file] if dataset.metadata_file else list(dataset.files)
    others = [path.parent / Path(n).name for n in names if n and Path(n).name != path.name]
    return [path, *(p for p in others if p.is_file())]


def dataset_others(path: Path) -> list[Path]:
    """The other files the dataset of ``path`` reads, whether in its folder or not (where
    ``dataset_gaps`` looks for them): those its first image's planes lie in, a BinaryOnly
    file's MetadataFile; [] for a file of no multi-file dataset. A watch waits for those not
    there: an acquisition writes its files one after another, a copy brings them one by one."""
    if (dataset := dataset_of(path)) is None:
        return []
    names = [dataset.metadata_file] if dataset.metadata_file else list(dataset.files)
    return [path.parent / n for n in names if n and n != path.name]


def reading_file(path: Path) -> Path | None:
    """The file of the folder of ``path`` that reads it as a part of its dataset (as a folder
    batch leaves it out: ``dataset_parts``), or None where ``path`` reads itself or that file
    is not there."""
    files = dataset_files(path)
    return dataset_parts(files).get(path) if len(files) > 1 else None
