"""The folders of `microdeblur watch` (``cli_watch``): checked before anything is written, the
files listed at each scan (the watched folder's own, or with --recursive its sub-folders' too,
the output folder left out when it lies inside; a symbolic link followed only where it leads
inside the watched folder, a file reached twice listed once: ``Links``), kept between scans
(``WatchedFiles``: listed again only once a folder changed), and one line for the sub-folders
holding image files when they are not watched (a microscope writing into Pos0/ had nothing
processed, and no word said why)."""

from __future__ import annotations

import math
import os
import sys
import time
from collections import deque
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
    # folder would be both, and the log would land among the inputs. By identity too: on a
    # case-insensitive disk resolve() keeps the case typed (`watch Drop drop` had the watch
    # deblur its own outputs, a_deblurred_deblurred.tif ...), as a bind mount's two names
    if in_dir.resolve() == out_dir.resolve() or _same_folder(in_dir, out_dir):
        raise UserError(f"output folder {shown_path(out_dir)} is the watched folder; give another "
                        "folder for the outputs")


def _identity(path: str | os.PathLike) -> tuple[int, int] | None:
    """(device, inode) of ``path``, links followed: what tells that two paths are one folder
    where their text differs (another case of a name on a case-insensitive disk, a bind
    mount); None where it cannot be read, or its file system numbers no inodes (0)."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino) if info.st_ino else None


def _same_folder(one: str | os.PathLike, other: str | os.PathLike) -> bool:
    return (known := _identity(one)) is not None and known == _identity(other)


def _inside(real: str, folder_real: str, folder_id: tuple[int, int] | None = None) -> bool:
    """Whether the resolved path ``real`` is the resolved folder ``folder_real`` or in it: by
    their text, else (``folder_id``: that folder's ``_identity``) by the identity of ``real``
    or of a folder above it (a case-insensitive disk: realpath keeps the case typed)."""
    if real == folder_real or real.startswith(os.path.join(folder_real, "")):
        return True
    while folder_id is not None:
        if _identity(real) == folder_id:
            return True
        real, above = os.path.dirname(real), real
        if real == above:
            return False
    return False


class Links:
    """The symbolic links of a watched folder: one is followed only where it leads inside the
    folder (not into an output folder inside it), unless ``follow`` (--follow-links). A link dropped
    into a shared drop folder had the watch read what it pointed to anywhere on the machine
    (another user's images, a whole volume) and write it, copied or deblurred, to OUT_DIR.
    ``leave_out`` keeps a line for each link left out; ``say()`` prints the ones not said yet
    (a link said is said again only once gone and back)."""

    def __init__(self, root: Path, out_dir: Path, follow: bool = False):
        self.root, self.out_dir = root, out_dir
        self.follow = follow
        self.root_real, self.out_real = os.path.realpath(root), os.path.realpath(out_dir)
        self.root_id, self.out_id = _identity(root), _identity(out_dir)
        # the output folder is the watched one's parent (or above): its files are the watched
        # folder's, the output folder's own files outside it
        self.out_holds_root = _inside(self.root_real, self.out_real, self.out_id)
        self.left: dict[str, str] = {}  # this listing's links left out: name -> its line
        self.said: set[tuple[str, str]] = set()

    def outside(self, name: str, real: str, folder: bool = False) -> bool:
        """Whether the link ``name`` (its path under the watched folder), resolved to
        ``real``, is left out as leading out of the watched folder (its line kept)."""
        where = self.leads(real)
        if where is None:
            return False
        shown = f"{name}{os.sep * folder} is a link"
        files = "its files are" if folder else "it is"
        if where == "out":
            return self.leave_out(name, f"{shown} into the output folder "
                                  f"{shown_path(self.out_dir)}: {files} not watched")
        return self.leave_out(name, f"{shown} to {shown_path(real)}, outside the watched "
                              f"folder: {files} not watched (give --follow-links to follow "
                              "links wherever they point)")

    def leads(self, real: str) -> str | None:
        """Where a link resolved to ``real`` leads when it is not followed: 'out' (into the
        output folder), 'outside' (out of the watched folder); None where it is followed. A
        file of the watched folder is followed where the output folder holds the watched one
        (``watch exp/raw exp``): every link in it had been left out as leading into the output
        folder."""
        if self.follow:
            return None
        in_root = _inside(real, self.root_real, self.root_id)
        if _inside(real, self.out_real, self.out_id) and not (in_root and self.out_holds_root):
            return "out"
        return None if in_root else "outside"

    def is_out(self, path: str, real: str) -> bool:
        """Whether the folder ``path`` (resolved: ``real``) is the output folder: by its path,
        else by its identity (another case of its name on a case-insensitive disk, a bind
        mount: --recursive had listed the outputs as new files)."""
        return real == self.out_real or (self.out_id is not None
                                         and _identity(path) == self.out_id)

    def twice(self, name: str, watched: str, folder: bool = False) -> None:
        """The link ``name`` leads to what is watched as ``watched`` ('': the watched folder
        itself): left out, its line kept."""
        if folder:
            to = f"{watched}{os.sep}, watched under that name" if watched \
                else "the watched folder itself"
            self.leave_out(name, f"{name}{os.sep} is a link to {to}: not listed twice")
        else:
            self.leave_out(name, f"{name} is a link to {watched}, watched under that name: "
                           "not processed twice")

    def leave_out(self, name: str, line: str) -> bool:
        self.left[name] = f"microdeblur: {line}"
        return True

    def say(self) -> None:
        """Print the lines of the links left out at this listing not said yet."""
        for name, line in sorted(self.left.items()):
            if (name, line) not in self.said:
                print(line, file=sys.stderr, flush=True)
        self.said, self.left = set(self.left.items()), {}


class Listing:
    """One listing of the watched folder (``recursive``: and of its sub-folders but the output
    folder, hidden ones and Zarr stores): ``folders`` (folder -> its path under the watched
    one, as files' names say it; ``times``: each one's time taken before its files are
    listed), ``files`` (the image files, sorted) and ``unread`` (the files of a format no
    reader reads, ``core.files.folder_images``). Links are followed as ``links`` says: a
    sub-folder or file reached through a link is listed only where it is not listed under its
    own name (the real folders are walked first: a link to a sub-folder listed before it had
    its files named through the link, and the sub-folder itself never entered), once."""

    def __init__(self, root: Path, out_dir: Path, recursive: bool, links: Links,
                 times: FolderTimes | None = None):
        self.root, self.recursive, self.links, self.times = root, recursive, links, times
        self.folders: dict[str, str] = {}
        self.unread: list[Path] = []
        self.reals: dict[str, str] = {}  # folder listed -> its resolved path
        self.found: list[Path] = []  # the files that are no link (no two are one file)
        self.linked: list[tuple[Path, str]] = []  # (file that is a link, resolved)
        self._walk()
        self.files = self._once_each()

    def _walk(self) -> None:
        todo = deque([(str(self.root), "", self.links.root_real)])
        seen = {self.links.root_real: ""}  # resolved folder -> its path under the root
        linked: list[tuple[str, str]] = []  # sub-folder links: entered after every real one
        while todo or linked:
            if not todo:
                path, under = linked.pop(0)
                real = os.path.realpath(path)
                if self.links.outside(under, real, folder=True) or self.links.is_out(path, real):
                    continue
                if real in seen:  # a link to a folder listed already (or a loop)
                    self.links.twice(under, seen[real], folder=True)
                    continue
                seen[real] = under
                todo.append((path, under, real))
            folder, under, real = todo.popleft()
            self.folders[folder], self.reals[folder] = under, real
            if self.times is not None:
                self.times.changed(folder)
            subfolders, link_names, names = _entries(folder, self.recursive)
            for name in subfolders:
                path, inner = os.path.join(folder, name), f"{under}/{name}" if under else name
                if name in link_names:
                    linked.append((path, inner))
                elif (inner_real := os.path.join(real, name)) not in seen \
                        and not self.links.is_out(path, inner_real):
                    seen[inner_real] = inner
                    todo.append((path, inner, inner_real))
            self._files(folder, link_names, names)

    def _files(self, folder: str, link_names: set[str], names: set[str]) -> None:
        """The image files (and unread ones) directly in ``folder``: a file that is a link
        (in ``link_names``, or not among the ``names`` listed a moment ago) kept where
        followed."""
        from .core.files import folder_images

        unread: list[Path] = []
        for path in folder_images(Path(folder), unread=unread):
            if not path.is_file():  # a Zarr store, a folder, is not watched
                continue
            if path.name in link_names or (path.name not in names and path.is_symlink()):
                target = os.path.realpath(path)
                if not self.links.outside(self._name(path), target):
                    self.linked.append((path, target))
            else:
                self.found.append(path)
        self.unread += [p for p in unread if p.name not in link_names
                        or not self.links.outside(self._name(p), os.path.realpath(p))]

    def _once_each(self) -> list[Path]:
        """The files found, each file once: under its own name where listed so, else under
        the first name that leads to it (resolved only where a file is a link)."""
        if not self.linked:  # sorted already where one folder
            return self.found if len(self.folders) == 1 else sorted(self.found)
        kept = {os.path.join(self.reals[str(p.parent)], p.name): p for p in self.found}
        for path, real in sorted(self.linked):
            if real in kept:
                self.links.twice(self._name(path), self._name(kept[real]))
            else:
                kept[real] = path
        return sorted(kept.values())

    def _name(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def _entries(folder: str, recursive: bool) -> tuple[list[str], set[str], set[str]]:
    """(the sub-folders listed with --recursive, those of them and the files that are links,
    every name) of ``folder``; none where it cannot be listed (its listing says what it can).
    A link's is_dir() is taken the safe way: a link loop raised, and left every sub-folder
    of its folder out."""
    subfolders, links, names = [], set(), set()
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                names.add(entry.name)
                if entry.is_symlink():  # no system call where the listing says the type
                    links.add(entry.name)
                if recursive and _is_folder(entry) and _entered(entry.name):
                    subfolders.append(entry.name)
    except OSError:
        pass
    return sorted(subfolders), links, names


def _is_folder(entry: os.DirEntry) -> bool:
    """Whether ``entry`` is a folder, links followed; False for a link loop (which raises)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def watched_files(in_dir: Path, out_dir: Path, recursive: bool,
                  unread: list | None = None, follow_links: bool = False) -> list[Path]:
    """The image files of ``in_dir`` (``recursive``: and of its sub-folders but ``out_dir``),
    hidden ones left out, sorted (a Zarr store, a folder, is not watched), links followed as
    ``Links`` says; ``unread`` gets the files of a format no reader reads met on the way
    (``core.files.folder_images``)."""
    listing = Listing(in_dir, out_dir, recursive, Links(in_dir, out_dir, follow_links))
    if unread is not None:
        unread += listing.unread
    return listing.files


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

    def __init__(self, root: Path, out_dir: Path, recursive: bool,
                 follow_links: bool = False):
        self.root, self.out_dir, self.recursive = root, out_dir, recursive
        self.links = Links(root, out_dir, follow_links)  # each link left out said once
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
        # the folders' times taken before their files are listed
        listing = Listing(self.root, self.out_dir, self.recursive, self.links, self.times)
        self.links.say()
        self.folders = listing.folders
        self.files = [(p, state.name(p)) for p in listing.files]
        self.unread = listing.unread
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

    def __init__(self, in_dir: Path, out_dir: Path, follow_links: bool = False):
        self.in_dir = in_dir
        self.links = Links(in_dir, out_dir, follow_links)  # -r leaves out links leading out
        self.times = FolderTimes()
        self.subfolders: list[str] = []
        self.said: set[str] = set()

    def say(self) -> None:
        if self.times.changed(str(self.in_dir)):
            # gone meanwhile: none (the scan says nothing of it either)
            subfolders, links, _ = _entries(str(self.in_dir), recursive=True)
            # those -r would list: no link leading out, or to a folder listed under its name
            own = {os.path.join(self.links.root_real, name) for name in subfolders
                   if name not in links} | {self.links.root_real}
            self.subfolders = [
                name for name in subfolders
                if not self.links.is_out(path := os.path.join(self.in_dir, name),
                                         real := os.path.realpath(path))
                and (name not in links or (self.links.leads(real) is None and real not in own))]
        held = {}
        for name in self.subfolders:
            folder = os.path.join(self.in_dir, name)
            if name not in self.said and self.times.changed(folder) \
                    and (n := _images_in(folder, self.links)):
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


def _images_in(folder: str, links: Links) -> int:
    """The image files directly in ``folder`` that -r would watch (hidden ones, Zarr stores and
    links leading out left out; 0 where it cannot be read: removed or unreadable meanwhile)."""
    from .core.files import IMAGE_SUFFIXES

    try:
        with os.scandir(folder) as inside:
            return sum(not e.name.startswith(".")
                       and Path(e.name).suffix.lower() in IMAGE_SUFFIXES and _is_file(e)
                       and (not e.is_symlink() or links.leads(os.path.realpath(e.path)) is None)
                       for e in inside)
    except OSError:
        return 0


def _is_file(entry: os.DirEntry) -> bool:
    """Whether ``entry`` is a regular file, links followed; False for a link loop (which
    raised, and hid every image file of its folder)."""
    try:
        return entry.is_file()
    except OSError:
        return False
