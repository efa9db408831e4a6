"""The folders of `microdeblur watch` (``cli_watch``): checked before anything is written, the
files listed at each scan (the watched folder's own, or with --recursive its sub-folders' too,
the output folder left out when it lies inside), kept between scans (``WatchedFiles``: listed
again only once a folder changed), and one line for the sub-folders holding image files when
they are not watched (a microscope writing into Pos0/ had nothing processed, and no word said
why)."""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

from .cli import UserError
from .cli_watch_log import WatchState, stamp
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


#: a folder whose modification time was this close to the clock when it was listed is listed
#: again at the next poll: a file system keeping whole seconds (FAT: 2 s) gives a file added
#: in the same tick as the listing the same folder time
COARSE_MTIME_S = 2.0
#: the folders are listed again at least this often whatever their times say (and no more
#: often than 100 times a listing's time: at most 1 % of a core); one found to have gained or
#: lost a file without its time changing (a file system that does not keep it) is then listed
#: at every poll
RELIST_S = 30.0
#: a file already handled is looked at again (its size and time) at least this often: one
#: rewritten in place, which changes no folder's time, is processed again within this time ...
SWEEP_S = 30.0
#: ... and at every poll while its logged modification time (or its logging by this run) is
#: this recent: a stack still being appended to is seen at once
RECENT_S = 300.0


class FolderTimes:
    """``changed(folder)``: whether a folder changed since the last call for it, by its
    modification time (adding, removing or renaming a file in it changes it). True the first
    time, when it cannot be read, and when its time was within ``COARSE_MTIME_S`` of the clock
    at the last call (a change in the same tick keeps the time). Called before the folder is
    listed: a change while it is listed shows at the next call."""

    def __init__(self) -> None:
        self.seen: dict[str, int | None] = {}
        self.coarse: set[str] = set()  # folders whose time was too recent to rely on

    def changed(self, folder: str) -> bool:
        try:
            mtime: int | None = os.stat(folder).st_mtime_ns
        except OSError:
            mtime = None
        last, was_recent = self.seen.get(folder, -1), folder in self.coarse
        self.seen[folder] = mtime
        if mtime is not None and abs(time.time() - mtime / 1e9) < COARSE_MTIME_S:
            self.coarse.add(folder)
        else:
            self.coarse.discard(folder)
        return mtime is None or last != mtime or was_recent


class WatchedFiles:
    """``pending(state)``: the files a scan processes (``watched_files``' files not logged, or
    changed since logged), without listing and stat-ing every file at every poll: an idle
    watch cost 18-32 us per file and poll (a third of a core for 20,000 files; a whole core at
    ~55,000). The folders are listed again only once one changed (``FolderTimes``) or after
    ``RELIST_S``; the files not logged yet and those to retry are looked at every poll, those
    handled once their folder changed, while recent (``RECENT_S``), and in turns, each within
    ``SWEEP_S``."""

    def __init__(self, root: Path, out_dir: Path, recursive: bool):
        self.root, self.out_dir, self.recursive = root, out_dir, recursive
        self.times = FolderTimes()
        self.files: list[tuple[Path, str]] = []  # (path, name), sorted, as last listed
        self.unread: list[Path] = []
        self.folders: dict[str, str] = {}  # folder listed -> its path under root ('' root)
        self.listed_at = -math.inf  # time.monotonic() of the last listing
        self.every = RELIST_S  # seconds between listings when no folder changed
        self.trusted = True  # whether a folder's time changes when it gains or loses a file
        self.watched: dict[str, Path] = {}  # name -> path: looked at at every poll
        self.recent: dict[str, tuple[Path, float]] = {}  # name -> (path, monotonic until)
        self.turn, self.turned_at = 0, time.monotonic()  # the sweep: next index, when

    def pending(self, state: WatchState, unread: list | None = None) -> list[Path]:
        """The files to process, sorted: those not logged yet, and those logged that changed
        since (size or mtime not the logged ones): failed, unreadable or incomplete ones are
        tried again, processed ones processed again. ``unread`` gets the files of a format no
        reader reads (``watched_files``)."""
        looked = self._looked_at(state)
        if unread is not None:
            unread += self.unread
        found, now = [], time.monotonic()
        for name, path in looked.items():
            logged = state.failed.get(name, state.processed.get(name, False))
            if name not in state.done or (logged is not False and logged != stamp(path)):
                found.append(path)
                self.watched[name] = path
            elif name not in state.failed:  # handled: looked at again in turns
                if self.watched.pop(name, None) is not None and name in state.processed:
                    self.recent[name] = (path, now + RECENT_S)  # just processed: a while
        return sorted(found)

    def _looked_at(self, state: WatchState) -> dict[str, Path]:
        """name -> path of the files to look at this poll (``pending``)."""
        now = time.monotonic()
        looked = self._listed(state) or {}
        looked.update(self.watched)
        for name, (path, until) in list(self.recent.items()):
            if until < now:
                del self.recent[name]
            else:
                looked[name] = path
        if self.files:  # in turns: each within SWEEP_S
            count = math.ceil(len(self.files) * min(1.0, (now - self.turned_at) / SWEEP_S))
            for i in range(self.turn, self.turn + count):
                path, name = self.files[i % len(self.files)]
                looked.setdefault(name, path)
            self.turn, self.turned_at = (self.turn + count) % len(self.files), now
        return looked

    def _listed(self, state: WatchState) -> dict[str, Path] | None:
        """Lists the folders again where due: name -> path of the files whose folder changed
        (all of them at the first listing), or None where not listed."""
        changed = {under for folder, under in self.folders.items()  # each one's time taken
                   if self.times.changed(folder)}
        first, start = self.listed_at == -math.inf, time.monotonic()
        if self.trusted and not changed and start - self.listed_at < self.every:
            return None
        before = {name for _, name in self.files}
        self.folders = self._folders()  # their times taken before the files are listed
        unread: list[Path] = []
        paths = watched_files(self.root, self.out_dir, self.recursive, unread)
        self.files, self.unread = [(p, state.name(p)) for p in paths], unread
        self.listed_at = time.monotonic()
        self.every = max(RELIST_S, 100 * (self.listed_at - start))
        names = {name for _, name in self.files}
        if self.trusted and not changed and not first and names != before:
            self._distrust()
        # a file replaced (renamed over) changed its folder: looked at now
        fresh = {name: p for p, name in self.files
                 if first or not self.trusted or name.rpartition("/")[0] in changed}
        self._keep(state, names)
        return fresh

    def _keep(self, state: WatchState, names: set[str]) -> None:
        """After a listing: the files gone forgotten, those not logged yet or to retry watched,
        and those logged whose modification time is recent looked at every poll a while."""
        self.watched = {n: p for n, p in self.watched.items() if n in names}
        self.recent = {n: r for n, r in self.recent.items() if n in names}
        wall, now = time.time(), time.monotonic()
        for path, name in self.files:
            if name not in state.done or name in state.failed:
                self.watched[name] = path
            elif (logged := state.processed.get(name)) is not None:
                age = wall - logged[1] / 1e9
                if age < RECENT_S:
                    self.recent[name] = (path, now + RECENT_S - max(age, 0.0))

    def _folders(self) -> dict[str, str]:
        """The folders listed (folder -> its path under the watched one, as files' names
        say it): the watched one, with --recursive every sub-folder the listing enters
        (``core.input_files.folder_images``: not hidden ones, Zarr stores or the output folder;
        a linked one once), each with its time taken (``FolderTimes``)."""
        found, todo = {}, [(self.root, "")]
        seen, skip = {os.path.realpath(self.root)}, os.path.realpath(self.out_dir)
        while todo:
            folder, under = todo.pop()
            found[str(folder)] = under
            self.times.changed(str(folder))
            if not self.recursive:
                break
            try:
                with os.scandir(folder) as entries:
                    inner = [e.name for e in entries if e.is_dir() and _entered(e.name)]
            except OSError:  # the listing says what it can of it
                continue
            for name in inner:
                real = os.path.realpath(folder / name)
                if real != skip and real not in seen:
                    seen.add(real)
                    todo.append((folder / name, f"{under}/{name}" if under else name))
        return found

    def _distrust(self) -> None:
        self.trusted = False
        print(f"microdeblur: {shown_path(self.root)}: files came or went without a folder's "
              "modification time changing (a network or cloud file system?); the folders are "
              "now listed at every poll", file=sys.stderr, flush=True)


def _entered(name: str) -> bool:
    """Whether a sub-folder of this name is listed with --recursive (not hidden, not a Zarr
    store or other folder read as an image)."""
    from .core.files import IMAGE_SUFFIXES

    return not name.startswith(".") and Path(name).suffix.lower() not in IMAGE_SUFFIXES


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
    """``say()`` at each scan: one line for the sub-folders of the watched folder (hidden ones,
    Zarr stores and the output folder left out) found holding image files since the last line,
    each said once: named where one, else counted with their files, as `deblur` says them (600
    section folders had 600 lines of 180 characters, unsorted). The watched folder is listed
    again only once it changes, a sub-folder looked into only once it changes
    (``FolderTimes``)."""

    def __init__(self, in_dir: Path, out_dir: Path):
        self.in_dir = in_dir
        self.skip = os.path.realpath(out_dir)
        self.times = FolderTimes()
        self.subfolders: list[str] = []
        self.said: set[str] = set()

    def say(self) -> None:
        if self.times.changed(str(self.in_dir)):
            try:
                with os.scandir(self.in_dir) as entries:
                    self.subfolders = sorted(
                        e.name for e in entries if e.is_dir() and _entered(e.name)
                        and os.path.realpath(e.path) != self.skip)
            except OSError:  # gone meanwhile: the scan says nothing of it either
                return
        held = {}
        for name in self.subfolders:
            folder = os.path.join(self.in_dir, name)
            if name not in self.said and self.times.changed(folder) and (n := _images_in(folder)):
                held[name] = n
        if held:
            self.said.update(held)
            print(self._words(held), file=sys.stderr, flush=True)

    def _words(self, held: dict[str, int]) -> str:
        from .core.input_files import SUBFOLDERS_NAMED, nested_words

        if len(held) == 1:
            return (f"microdeblur: {next(iter(held))}{os.sep} holds image files, which are not "
                    f"watched: only the files directly in {shown_path(self.in_dir)} are; give -r "
                    "(--recursive) to watch its sub-folders too, or watch that folder itself")
        named = ", ".join(f"{name}{os.sep}" for name in list(held)[:SUBFOLDERS_NAMED])
        more = len(held) - SUBFOLDERS_NAMED
        return (f"microdeblur: {len(held)} sub-folders of {shown_path(self.in_dir)} hold image "
                f"files, which are not watched ({named}{f' and {more} more' * (more > 0)}; "
                f"{nested_words(sum(held.values()))}): only the files directly in it are; give "
                "-r (--recursive) to watch its sub-folders too, or watch those folders "
                "themselves")


def _images_in(folder: str) -> int:
    """The image files directly in ``folder`` (hidden ones and Zarr stores left out; 0 where it
    cannot be read: removed or unreadable meanwhile)."""
    from .core.files import IMAGE_SUFFIXES

    try:
        with os.scandir(folder) as inside:
            return sum(e.is_file() and not e.name.startswith(".")
                       and Path(e.name).suffix.lower() in IMAGE_SUFFIXES for e in inside)
    except OSError:
        return 0
