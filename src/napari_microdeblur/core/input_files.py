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
                skip: str | os.PathLike | None = None, parts: list | None = None) -> list[Path]:
    """A file, every image file in a directory (``recursive``: ``folder_images``), or the
    files a glob matches, sorted. A directory's files of a format no reader reads (MRC, HDF5,
    N5: ``unread_said``) are named, with their conversion, in the error when it holds no image
    file, else in one warning (a folder of .tif and .mrc deblurred its TIFFs without a word of
    the rest); so are its subfolders that cannot be read (a batch had looked complete). Files
    of a multi-file OME-TIFF dataset that another of them reads whole are left out, said in
    one warning (``without_dataset_parts``; ``parts`` gets them): a folder's dataset had been
    deblurred once from each of its files. Entries that are no regular file (a named pipe,
    a socket, a device, a link to nothing: ``not_regular``) are left out and named alike: a
    FIFO named pipe.tif in a folder made deblur and focus wait for a writer forever."""
    path, unread, unlisted, odd = Path(pattern), [], [], []
    if path.is_dir() and not io.is_zarr(path):
        from .io_bioio import not_read

        if path.suffix.lower() == ".n5":  # a container, not a folder of images (its own name
            # only: a folder of TIFFs inside one is read)
            raise ValueError(f"cannot read {shown_path(path)}: {not_read(path)}")
        found = folder_images(path, recursive, skip, unread=unread, unlisted=unlisted, odd=odd)
        unlisted_said(path, unlisted)
    elif path.exists():
        if not_regular(path):
            raise ValueError(f"input {shown_path(path)} is {NOT_REGULAR}; give an image file")
        found = [path]
    else:
        if not glob.has_magic(str(pattern)):
            raise FileNotFoundError(f"input file {shown_path(pattern)} does not exist")
        found = once_each(glob.glob(str(pattern), recursive=True))  # ** any depth
        odd = [p for p in found if not_regular(p)]
        left = set(odd)  # a set: 20,000 dangling links had taken 58 s as a list
        found = [p for p in found if p not in left] if odd else found
        if not found:
            raise FileNotFoundError(f"input pattern {shown_path(pattern)} matches no file"
                                    f"{'; ' * bool(odd)}{odd_said(odd, '')}")
    if not found:
        raise FileNotFoundError(_no_image_said(pattern, recursive, unread, odd))
    found = without_dataset_parts(found, pattern, parts)
    if unread or odd:
        holds = "holds" if path.is_dir() else "matches"
        warnings.warn(f"input {'directory' if path.is_dir() else 'pattern'} "
                      f"{shown_path(pattern)} {holds} files that are left out: "
                      f"{left_out_said(unread, odd, path if path.is_dir() else None)}",
                      DeblurWarning, stacklevel=2)
    return found


#: what ``not_regular`` finds, in the words of a refusal
NOT_REGULAR = "not a regular file (a named pipe, socket or device, or a link to nothing)"


def not_regular(path: Path) -> bool:
    """Whether ``path`` is neither a regular file nor a folder (a Zarr store), links followed:
    a FIFO is not read from (opening one waits for a writer), a link to a file is."""
    return not (os.path.isfile(path) or os.path.isdir(path))


def odd_said(odd: list[Path], lead: str = "its ", base: Path | None = None) -> str:
    """'its 1 entry that is not a regular file (...): pipe.tif' ('' for none), the first few
    named (inside the folder ``base``: from there)."""
    if not odd:
        return ""
    named = ", ".join(str(p.relative_to(base) if base else p) for p in odd[:UNLISTED_NAMED])
    more = f" and {len(odd) - UNLISTED_NAMED} more" * (len(odd) > UNLISTED_NAMED)
    many = len(odd) > 1
    what = NOT_REGULAR.replace("a regular file", "regular files") if many else NOT_REGULAR
    return f"{lead}{len(odd)} entr{'ies' if many else 'y'} that {'are' if many else 'is'} " \
           f"{what}: {named}{more}"


def left_out_said(unread: list[Path], odd: list[Path], folder: Path | None) -> str:
    """``unread_said`` and ``odd_said`` (of the folder ``folder``, or a glob's) in one line."""
    lead = "its " if folder else ""
    return "; ".join(filter(None, (unread_said(unread, lead), odd_said(odd, lead, folder))))


def without_dataset_parts(found: list[Path], given, parts: list | None = None) -> list[Path]:
    """``found`` (the files of the folder or glob ``given``) without those another of them
    reads as part of its multi-file OME-TIFF dataset (``ome_datasets.dataset_parts``), said
    in one warning naming the dataset of each; ``parts`` gets them (a batch counts them)."""
    if len(found) < 2:  # a file alone is read, or refused naming its dataset's file
        return found
    from .ome_datasets import dataset_parts, parts_words

    of = dataset_parts(found)
    if not of:
        return found
    if parts is not None:
        parts += sorted(of)
    base = Path(given) if Path(given).is_dir() else None
    many = len(of) > 1
    warnings.warn(f"{shown_path(given)}: {len(of)} file{'s' * many} left out as "
                  f"{'separate inputs' if many else 'a separate input'}: "
                  f"{parts_words(of, base)}", DeblurWarning, stacklevel=3)
    return [p for p in found if p not in of]


def once_each(matches: list[str]) -> list[Path]:
    """A glob's ``matches``, sorted, each file once: the same name in the same real folder,
    reached again through a linked folder (a loop, messy/loop -> ., listed each ~40 times),
    kept at its shortest path. A linked file of another name is kept, as a folder lists it."""
    first: dict[tuple[str, str], str] = {}
    real: dict[str, str] = {}  # a folder's real path, worked out once (a syscall a part each)
    for match in sorted(matches, key=lambda m: (len(Path(m).parts), m)):
        head, name = os.path.split(match)
        if head not in real:
            real[head] = os.path.realpath(head or os.curdir)
        first.setdefault((real[head], name), match)
    return [Path(m) for m in sorted(first.values())]


def unlisted_said(folder: Path, unlisted: list[OSError]) -> None:
    """The folders of ``folder``'s walk that could not be listed (``unlisted``): ``folder``
    itself an error, its subfolders one warning naming each (their images left out unsaid,
    a batch said '1 done, 0 failed'). A Zarr check had said 'zarr.json: permission denied'."""
    def why(error: OSError) -> str:
        return (error.strerror or str(error)).lower()

    for error in unlisted:
        if error.filename is not None and Path(error.filename) == folder:
            raise type(error)(f"cannot read folder {shown_path(folder)}: {why(error)}; give "
                              "this user read access to it (e.g. chmod u+rx), or another folder")
    if not unlisted:
        return
    named = [f"{shown_path(e.filename or '?')} ({why(e)})" for e in unlisted[:UNLISTED_NAMED]]
    more = f" and {len(unlisted) - len(named)} more" * (len(unlisted) > len(named))
    warnings.warn(f"images in subfolders of {shown_path(folder)} that cannot be read are left "
                  f"out: {', '.join(named)}{more}; give this user read access to them (e.g. "
                  "chmod -R u+rX) to include them", DeblurWarning, stacklevel=3)


#: unreadable subfolders named in ``unlisted_said``'s warning, the rest counted
UNLISTED_NAMED = 5


def subfolder_counts(folder: Path) -> tuple[int, int]:
    """(the image files in ``folder`` itself, those directly in its subfolders): one level
    down only, as deblur, focus and evaluate count them: a whole tree could hold millions."""
    own = len(folder_images(folder))
    return own, len(folder_images(folder, recursive=True, depth=1)) - own


def nested_words(nested: int) -> str:
    """'N image files directly in them, deeper ones not counted'."""
    return f"{nested} image file{'s' * (nested > 1)} directly in them, deeper ones not counted"


def subfolders_left_out(folder: Path, remedy: str) -> str | None:
    """The warning for the images directly in ``folder``'s subfolders that a command reading
    its own files only leaves out, with ``remedy`` (None: none; ``subfolder_counts``)."""
    nested = subfolder_counts(folder)[1]
    if not nested:
        return None
    return (f"images in subfolders of {shown_path(folder)} are left out "
            f"({nested_words(nested)}): {remedy}")


def _no_image_said(given, recursive: bool, unread: list[Path], odd: list[Path] = ()) -> str:
    """Why the folder ``given`` gives no input: a CSBDeep/CARE model folder (its .h5 files
    had been sent to a conversion into TIFF), the subfolders that hold images (a CSBDeep base
    folder's low/ and GT/ as --blurry and --sharp), else its files no reader reads."""
    from .foreign_files import KERAS_WEIGHTS, keras_folder, subfolders_said

    unread_part = f"{'; ' * bool(unread or odd)}{left_out_said(unread, list(odd), Path(given))}"
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
                  unread: list | None = None, unlisted: list | None = None,
                  odd: list | None = None) -> list[Path]:
    """The image files in ``folder`` (``recursive``: and in its subfolders, ``depth`` levels
    down at most, but not in ``skip``, a batch's output folder inside it), sorted; hidden ones
    left out, a Zarr store one image. ``unread``: gets the files (and N5 folders) of a format
    no reader reads (``io_bioio.NOT_READ``) met in the same walk, for a caller to name them;
    ``unlisted``: the errors of the folders that could not be listed (``unlisted_said``);
    ``odd``: the image-named entries left out as no regular file (``not_regular``)."""
    from .io_bioio import NOT_READ

    found, skip = [], skip and os.path.realpath(skip)
    seen = {os.path.realpath(folder)}  # linked subfolders are followed, each once (no loops)
    # without onerror, a subfolder that cannot be read was left out unsaid
    said = unlisted.append if unlisted is not None else None
    for root, dirs, files in os.walk(folder, onerror=said, followlinks=True):
        names = [n for n in dirs + files
                 if Path(n).suffix.lower() in IMAGE_SUFFIXES and not n.startswith(".")]
        # os.walk lists a FIFO, socket or device, and a link to nothing, with the files
        left = {n for n in set(names) - set(dirs) if not_regular(Path(root) / n)}
        found += [Path(root) / n for n in names if n not in left]
        if odd is not None:
            odd += sorted(Path(root) / n for n in left)
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
