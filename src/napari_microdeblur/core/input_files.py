"""The input files of a command: a file, a folder's image files (with its subfolders), a
glob's matches; and the files of a format no reader reads, named with their conversion.
Without torch (``core.files`` imports it through ``core.inference``): `focus` and `info` on
a folder with no image, or a glob matching nothing, said so after a 2-5 s import."""

from __future__ import annotations

import glob
import os
import warnings
from pathlib import Path

from . import io
from .notes import DeblurWarning
from .shown import shown_path

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".npy", ".czi", ".nd2",
                  ".lif", ".zarr", ".svs", ".ndpi")  # slides: TIFFs (``slide_tiff``)


def find_inputs(pattern: str | os.PathLike, recursive: bool = False,
                skip: str | os.PathLike | None = None) -> list[Path]:
    """A file, every image file in a directory (``recursive``: ``folder_images``), or the
    files a glob matches, sorted. A directory's files of a format no reader reads (MRC, HDF5,
    N5: ``unread_said``) are named, with their conversion, in the error when it holds no image
    file, else in one warning (a folder of .tif and .mrc deblurred its TIFFs without a word of
    the rest)."""
    path, unread = Path(pattern), []
    if path.is_dir() and not io.is_zarr(path):
        from .io_bioio import not_read

        if path.suffix.lower() == ".n5":  # a container, not a folder of images (its own name
            # only: a folder of TIFFs inside one is read)
            raise ValueError(f"cannot read {shown_path(path)}: {not_read(path)}")
        found = folder_images(path, recursive, skip, unread=unread)
    elif path.exists():
        found = [path]
    else:
        if not glob.has_magic(str(pattern)):
            raise FileNotFoundError(f"input file {shown_path(pattern)} does not exist")
        found = [Path(p) for p in sorted(glob.glob(str(pattern), recursive=True))]  # ** any depth
        if not found:
            raise FileNotFoundError(f"input pattern {shown_path(pattern)} matches no file")
    if not found:
        raise FileNotFoundError(_no_image_said(pattern, recursive, unread))
    if unread:
        warnings.warn(f"input directory {shown_path(pattern)} holds files that are left out: "
                      f"{unread_said(unread)}", DeblurWarning, stacklevel=2)
    return found


def _no_image_said(given, recursive: bool, unread: list[Path]) -> str:
    """Why the folder ``given`` gives no input: a CSBDeep/CARE model folder (its .h5 files
    had been sent to a conversion into TIFF), the subfolders that hold images (a CSBDeep base
    folder's low/ and GT/ as --blurry and --sharp), else its files no reader reads."""
    from .foreign_files import KERAS_WEIGHTS, keras_folder, subfolders_said

    unread_part = f"{'; ' * bool(unread)}{unread_said(unread)}"
    if names := keras_folder(given):
        return (f"input directory {shown_path(given)} is a CSBDeep/CARE or n2v model folder "
                f"({', '.join(names[:3])}), not images: {KERAS_WEIGHTS}")
    path = Path(given)
    if path.is_dir() and not recursive:  # one level down, the first few: not a whole tree
        subfolders = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".")
                            and not io.is_zarr(d))
        counts = {d.name: n for d in subfolders[:SUBFOLDERS_LOOKED_AT]
                  if (n := len(folder_images(d)))}
        if counts:
            named = dict(list(counts.items())[:SUBFOLDERS_NAMED])
            more = len(counts) - len(named) + max(0, len(subfolders) - SUBFOLDERS_LOOKED_AT)
            return subfolders_said(str(given), named, more) + unread_part
    return f"input directory {shown_path(given)} holds no image file{unread_part}"


#: subfolders of an imageless folder listed for images, and named in its error
SUBFOLDERS_LOOKED_AT, SUBFOLDERS_NAMED = 20, 3


def unread_said(unread: list[Path], lead: str = "its ") -> str:
    """Each kind of ``unread`` (files of a format no reader reads: ``io_bioio.NOT_READ``) with
    its count and conversion, the most numerous first: 'its 2 .mrc files: MRC files are not
    read: convert ...; its 1 .h5 file: HDF5 files ...' ('' for none). A folder of .mrc and .h5
    named its .mrc files only."""
    from .io_bioio import not_read

    kinds: dict[str, list[Path]] = {}
    for path in unread:
        kinds.setdefault(path.suffix.lower(), []).append(path)
    said = []
    for suffix, paths in sorted(kinds.items(), key=lambda kind: (-len(kind[1]), kind[0])):
        noun = "folder" if suffix == ".n5" else "file"
        # the name alone: a folder inside an .n5 container made every file an N5 one
        why = not_read(Path(min(paths).name), where="")
        said.append(f"{lead}{len(paths)} {suffix} {noun}{'s' * (len(paths) > 1)}: {why}")
    return "; ".join(said)


def folder_images(folder: Path, recursive: bool = False,
                  skip: str | os.PathLike | None = None, depth: int | None = None,
                  unread: list | None = None) -> list[Path]:
    """The image files in ``folder`` (``recursive``: and in its subfolders, ``depth`` levels
    down at most, but not in ``skip``, a batch's output folder inside it), sorted; hidden ones
    left out, a Zarr store one image. ``unread``: gets the files (and N5 folders) of a format
    no reader reads (``io_bioio.NOT_READ``) met in the same walk, for a caller to name them."""
    from .io_bioio import NOT_READ

    found, skip = [], skip and os.path.realpath(skip)
    seen = {os.path.realpath(folder)}  # linked subfolders are followed, each once (no loops)
    for root, dirs, files in os.walk(folder, followlinks=True):
        names = [n for n in dirs + files
                 if Path(n).suffix.lower() in IMAGE_SUFFIXES and not n.startswith(".")]
        found += [Path(root) / n for n in names]
        if unread is not None:
            unread += sorted(Path(root) / n for n in dirs + files
                             if Path(n).suffix.lower() in NOT_READ and not n.startswith("."))
        deeper = depth is None or len(Path(root).relative_to(folder).parts) < depth
        entered = []
        for d in dirs:
            real = os.path.realpath(os.path.join(root, d))
            if (recursive and deeper and d not in names and not d.startswith(".")
                    and real != skip and real not in seen):
                seen.add(real)
                entered.append(d)
        dirs[:] = entered
    return sorted(found)
