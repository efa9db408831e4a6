"""A batch's outputs that are among its inputs, and a full disk.

A rerun of a batch into its inputs' own folder finds each earlier output as an input named as
another input's output (``files.batch_pairs``): it is left out only where its header holds a
microdeblur record (``header_record``), else refused, so that an input no run made (a raw tile
named a_deblurred.tif beside a.png) is never replaced nor silently left out. The records are
read once each, and before the work at most ``EarlierOutputs.read_at_most`` of them (0.7-0.9 ms
each: a rerun over a million earlier outputs read them for some 12 minutes before any work);
the rest are read where one would be replaced (``EarlierOutputs.check_replaced``), or else said
in one line (``EarlierOutputs.unread_words``). A full disk stops a batch at its first file
(``full_disk_stop``), its error naming the output and what to do (``full_disk_named``); outputs
that cannot fit are refused before any work (``outputs_that_fit``: ``free_space``), and what
of their inputs' placement they drop is said (``placement_notes``)."""

from __future__ import annotations

import contextlib
import errno
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .notes import DeblurWarning
from .shown import shown_path

#: earlier outputs whose records a batch reads before its work, at most (as the CLI's skip
#: check reads at most ``cli_batch.CHECKED_AT_MOST`` skipped outputs' records)
READ_AT_MOST = 1000


def header_record(path: Path) -> dict | None:
    """The record of how the image file ``path`` was made (``core.provenance``), from its
    header only (no pixel is read); None where it holds none or cannot be read (a Zarr
    store: not opened for this)."""
    from . import io, io_write
    from .provenance import RECORD_KEY

    try:
        if io_write.is_png(path):
            return io.png_record(path).get(RECORD_KEY)
        if not io.is_tiff(path) or not Path(path).is_file():
            return None
        import tifffile

        from .tiff_metadata import tiff_extras

        with tifffile.TiffFile(path) as tif:
            return tiff_extras(tif).get(RECORD_KEY)
    except Exception:  # noqa: BLE001 - unreadable: no record, whatever the reason
        return None


def not_made_error(source: Path, owner: Path, *, kept: bool = False) -> ValueError:
    """The refusal of input ``source``, named as input ``owner``'s output, that holds no
    record; ``kept``: said where it was about to be replaced (the batch had begun)."""
    fate = "it was kept, not replaced" if kept else "it would be replaced or left out"
    return ValueError(
        f"input {shown_path(source)} is also the output name of input {shown_path(owner)}, "
        f"and no microdeblur run made it (it holds no record): {fate}; rename or move one of "
        "them, or write the outputs to another folder")


@dataclass
class EarlierOutputs:
    """The inputs of a batch left out as earlier outputs of other inputs, by the output path
    of the pair they are the output of. ``read_at_most``: records read before the work (None:
    all, the only check where no caller checks again)."""

    read_at_most: int | None = None
    #: pair output -> (the input that is that file, the pair's input): record not read yet
    unread: dict = field(default_factory=dict)
    #: pair output -> its record, read before the work: the skip check takes it from here
    records: dict = field(default_factory=dict)

    def add(self, target: Path, source: Path, owner: Path) -> None:
        """``source``, the file ``target`` of ``owner``'s pair, left out: its record read now
        (refused without one) while under ``read_at_most``, else kept to read later."""
        if self.read_at_most is not None and len(self.records) >= self.read_at_most:
            self.unread[Path(target)] = (source, owner)
            return
        record = header_record(source)
        if record is None:
            raise not_made_error(source, owner)
        self.records[Path(target)] = record

    def record(self, target) -> dict | None:
        """``target``'s record: the one read before the work (once: forgotten then), else
        read now."""
        target = Path(target)
        found = self.records.pop(target, None)
        return found if found is not None else header_record(target)

    def check_replaced(self, target) -> None:
        """Before ``target`` is written over: refused (``not_made_error``) where it is an
        input left out unread and holds no record; its record read once."""
        found = self.unread.pop(Path(target), None)
        # gone meanwhile: nothing to replace
        if found is not None and Path(target).exists() and header_record(found[0]) is None:
            raise not_made_error(*found, kept=True)

    def unread_words(self) -> str | None:
        """One line where records were left unread (a rerun without --overwrite skips those
        inputs: nothing is replaced, but a raw file among them would be left out unsaid); None
        where all were read."""
        unread = len(self.unread)
        if not unread:
            return None
        read = self.read_at_most or 0
        return (f"{read + unread} inputs have other inputs' output names and are left out as "
                f"earlier outputs of this batch; the first {read} hold microdeblur's record, "
                f"the other {unread} were not read (a rerun is not held up reading them all): "
                "one of those that no run made would be left out too; write the outputs to "
                "another folder to deblur every input")


#: the errors of a full disk (EDQUOT: the user's quota used up; Windows has none)
FULL_DISK = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
#: what a full disk's error advises (``atomic_write``'s words)
FREE_SPACE = "free some space or choose another disk"


class DiskFullError(OSError):
    """A batch stopped at a file whose output found the disk full (``full_disk_stop``)."""


def full_disk_cause(error: BaseException | None) -> OSError | None:
    """``error``, or the error it was raised from or while handling, that is a full disk's
    ``OSError`` (a writer may wrap the system's); None where none is."""
    for _ in range(8):  # a chain of causes, not a loop of them
        if error is None:
            return None
        if isinstance(error, OSError) and error.errno in FULL_DISK:
            return error
        error = error.__cause__ or error.__context__
    return None


@contextlib.contextmanager
def full_disk_named(path):
    """A full disk met while the output ``path`` is filled (the writer's own writes, deep in
    the run: ``os.pwrite``, Zarr's chunk files) said as ``atomic_write.write_error`` says it:
    naming ``path`` and what to do, errno kept. It had been the bare '[Errno 28] No space
    left on device'."""
    from .atomic_write import write_error

    try:
        yield
    except Exception as error:
        full = full_disk_cause(error)
        if full is None or getattr(full, "worded", False) or FREE_SPACE in str(full):
            raise
        raise write_error(OSError(full.errno, full.strerror or str(full)),
                          Path(path)) from error


def full_disk_stop(source, code: int | None, why: str) -> DiskFullError | None:
    """The error that stops a batch at ``source``, whose failure (errno ``code``, said as
    ``why``) found the disk full; None for any other failure. Each file after it had been
    computed, then failed the same way."""
    if code not in FULL_DISK:
        return None
    full = "the disk is full" if code == errno.ENOSPC else "the disk quota is used up"
    if FREE_SPACE not in why:  # a writer that said the system's words alone
        why = f"{why}; {FREE_SPACE}"
    stop = DiskFullError(f"{source}: {why}; the batch stopped at this file, as {full} (the "
                         "files after it would fail the same way)")
    stop.errno = code  # str() stays the one line: it has no strerror
    return stop


def outputs_that_fit(pairs, output_dtype: str = "float32", overwrite: bool = False, *,
                     space_check: bool = True) -> list:
    """``pairs`` ((input, output) of a deblur), refused before any work where their outputs
    cannot fit on their disk (``free_space.check_outputs_fit``: a full disk had been found at
    a write deep in the run; ``space_check`` False: not checked, --no-space-check where a
    disk misreports its free space), with a line for what of their inputs' placement the
    outputs drop (``placement_notes``). Each Zarr input's metadata is read once for both."""
    from .free_space import check_outputs_fit

    pairs, zarrs = list(pairs), {}
    if space_check:
        check_outputs_fit(pairs, output_dtype, overwrite, zarrs=zarrs)
    for note in placement_notes(pairs, zarrs):
        warnings.warn(note, DeblurWarning, stacklevel=2)
    return pairs


def placement(source, zarrs: dict | None = None) -> tuple[str | None, list[str]]:
    """Where the Zarr input ``source`` sits: (its position in words, None at 0; the types of
    its coordinate transformations that are not read: an affine's offset); (None, []) for
    another input, or one that cannot be read (its read says why). ``zarrs``: the Zarr
    inputs read so far (``free_space.zarr_input``)."""
    from . import io
    from .free_space import zarr_input

    found = zarr_input(source, zarrs) if io.is_zarr(source) else None
    return (None, []) if found is None else (found.position, list(found.unread))


def zarr_pairs(pairs) -> list:
    """The pairs whose input is a Zarr store, the first ``HEADERS_AT_MOST`` of them; an input
    named as an image file (a batch's TIFFs) is not looked at: ``io.is_zarr`` had taken a
    stat of each of 100000 before a batch's work."""
    from . import io
    from .free_space import HEADERS_AT_MOST
    from .input_files import IMAGE_SUFFIXES

    files = tuple(suffix for suffix in IMAGE_SUFFIXES if suffix not in io.ZARR_SUFFIXES)
    found = []
    for source, target in pairs:
        if not os.fspath(source).lower().endswith(files) and io.is_zarr(source):
            found.append((source, target))
            if len(found) == HEADERS_AT_MOST:
                break
    return found


def placement_notes(pairs, zarrs: dict | None = None) -> list[str]:
    """The lines saying what of their Zarr inputs' placement the outputs of ``pairs`` drop:
    a TIFF keeps no position (a .zarr output keeps it: an OME-Zarr at Y 10, X 20 um deblurred
    to .tif had opened at 0, away from its input, without a word), and no output keeps a
    transformation that is not read (an affine). One output's named; a batch's counted, the
    first named, in one line each (the first ``HEADERS_AT_MOST`` Zarr inputs read; ``zarrs``:
    those read so far)."""
    from . import io

    pairs = zarr_pairs(pairs)
    moved, skewed = [], []
    for source, target in pairs:
        words, unread = placement(source, zarrs)
        if words and not io.is_zarr(target):
            moved.append((source, target, words))
        if unread:
            skewed.append((source, target, ", ".join(repr(kind) for kind in unread)))
    notes = []
    if len(pairs) == 1 and moved:
        source, target, words = moved[0]
        notes.append(f"{shown_path(target)} keeps no position: the input's ({words}, its "
                     "OME-Zarr translation) is dropped, as a TIFF holds none, so the output "
                     "opens at 0, away from the input; write a .zarr output (-o NAME.zarr) "
                     "to keep it")
    elif moved:
        source, _, words = moved[0]
        many = len(moved) > 1
        notes.append(f"{len(moved)} Zarr input{'s' * many} sit{'s' * (not many)} away from 0 "
                     f"({'e.g. ' * many}{shown_path(source)} at {words}, its OME-Zarr "
                     "translation), and "
                     f"{'their' if many else 'its'} .tif output{'s' * many} keep{'s' * (not many)}"
                     f" no position: {'they open' if many else 'it opens'} at 0; deblur "
                     f"{'each' if many else 'it'} to a .zarr output "
                     "(-o NAME.zarr) to keep it")
    if skewed:
        source, target, kinds = skewed[0]
        many = len(skewed) > 1
        why = ("not read (NGFF 0.4 places an image by scale and translation only): "
               + ("their outputs are" if many else "the output is") + " placed without it")
        notes.append(f"{shown_path(target)}: the input's coordinate transformation {kinds} is "
                     f"{why}" if len(pairs) == 1 else
                     f"{len(skewed)} Zarr input{'s' * many} ({'e.g. ' * many}"
                     f"{shown_path(source)}) hold{'s' * (not many)} the coordinate "
                     f"transformation {kinds}, which is {why}")
    return notes
