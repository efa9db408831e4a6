"""The folders of `microdeblur watch` (``cli_watch``): checked before anything is written, the
files listed at each scan (the watched folder's own, or with --recursive its sub-folders' too,
the output folder left out when it lies inside), and one line per sub-folder holding image
files when they are not watched (a microscope writing into Pos0/ had nothing processed, and
no word said why)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .cli import UserError
from .core.shown import shown_path


def check_folders(in_dir: Path, out_dir: Path) -> None:
    from .core import io_write

    for d, what in ((in_dir, "input"), (out_dir, "output")):
        if d.is_file():
            raise UserError(f"{what} folder {shown_path(d)} is a file, not a folder")
    if not in_dir.is_dir():
        raise UserError(f"input directory {shown_path(in_dir)} does not exist")
    # deblur's check of its output folder, in its words ('... does not exist; create it
    # first'); an unwritable folder is said here, not as the log's bare PermissionError
    io_write.check_output_path(out_dir / "microdeblur-write-check.tif", overwrite=True)
    # an output folder inside the watched one is safe (left out of --recursive); the same
    # folder would be both, and the log would land among the inputs
    if in_dir.resolve() == out_dir.resolve():
        raise UserError(f"output folder {shown_path(out_dir)} is the watched folder; give another "
                        "folder for the outputs")


def watched_files(in_dir: Path, out_dir: Path, recursive: bool,
                  unread: list | None = None) -> list[Path]:
    """The image files of ``in_dir`` (``recursive``: and of its sub-folders but ``out_dir``),
    hidden ones left out, sorted (a Zarr store, a folder, is not watched); ``unread`` gets
    the files of a format no reader reads met on the way (``core.files.folder_images``)."""
    from .core.files import folder_images

    return [p for p in folder_images(in_dir, recursive, skip=out_dir, unread=unread)
            if p.is_file()]


class UnreadHint:
    """``say(unread)`` at each scan: one line naming the files of a format no reader reads
    (MRC, HDF5, N5) not said yet, each kind with its count and conversion. They are not
    watched: never listed, so no row and no retry (a folder of .mrc files had the watch wait
    without a word). A file said is said again only once removed and back."""

    def __init__(self, in_dir: Path):
        self.in_dir = in_dir
        self.said: set[Path] = set()

    def say(self, unread: list[Path]) -> None:
        from .core.files import unread_said

        new = [p for p in unread if p not in self.said]
        first = not self.said
        self.said = set(unread)  # one removed and written again is news again
        if not new:
            return
        held = "holds" if first else "now holds more"
        print(f"microdeblur: {shown_path(self.in_dir)} {held} files that are not watched: "
              f"{unread_said(new, lead='')}; to have them watched, write them converted to TIFF "
              "into the folder (a Zarr folder is not watched)", file=sys.stderr, flush=True)


class SubfolderHint:
    """``say()`` at each scan: one line for each sub-folder of the watched folder (hidden ones,
    Zarr stores and the output folder left out) found holding image files, said once; a
    sub-folder is listed again only once it changes (its mtime)."""

    def __init__(self, in_dir: Path, out_dir: Path):
        self.in_dir = in_dir
        self.skip = os.path.realpath(out_dir)
        self.looked: dict[str, int] = {}  # sub-folder -> its mtime when listed
        self.said: set[str] = set()

    def say(self) -> None:
        from .core.files import IMAGE_SUFFIXES

        try:
            entries = list(os.scandir(self.in_dir))
        except OSError:  # gone meanwhile: the scan says nothing of it either
            return
        for entry in entries:
            name = entry.name
            if (name in self.said or name.startswith(".") or not entry.is_dir()
                    or Path(name).suffix.lower() in IMAGE_SUFFIXES
                    or os.path.realpath(entry.path) == self.skip):
                continue
            try:
                mtime = entry.stat().st_mtime_ns
                if self.looked.get(name) == mtime:
                    continue
                self.looked[name] = mtime
                with os.scandir(entry.path) as inside:
                    held = any(e.is_file() and not e.name.startswith(".")
                               and Path(e.name).suffix.lower() in IMAGE_SUFFIXES
                               for e in inside)
            except OSError:  # removed or unreadable meanwhile
                continue
            if held:
                self.said.add(name)
                print(f"microdeblur: {name}{os.sep} holds image files, which are not watched: "
                      f"only the files directly in {shown_path(self.in_dir)} are; give -r "
                      "(--recursive) to watch its sub-folders too, or watch that folder itself",
                      file=sys.stderr, flush=True)
