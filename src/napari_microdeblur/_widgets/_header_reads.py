"""What a dock shows from the file a layer was opened from (its axes, its pixel sizes: see
``_layer_file``), without reading the file's header on napari's GUI thread: a header of tens
of MB of OME-XML froze the viewer for seconds the first time its layer was chosen.

``HeaderReads.run(update, layer)`` calls ``update()`` at once where the header is read already
(as it always did). Else the header is read in a worker: where it arrives within ``WAIT_S``
(a small file) ``update()`` runs with it, as before; past that ``update()`` runs without it
(the shape's axes, the layer's scale) and ``refresh()`` runs when it arrives, unless another
``run`` came meanwhile (another layer chosen: the stale answer is dropped) or the dock closed.
``AxesPrefill`` fills an Axes box so, keeping axes the user typed while the header was read.

A TIFF with a long description is read by a helper process (``in_helper_process``): tifffile
parsed an OME-XML in one call that held the GIL (1.2 s for 41 MB). Only its first Image is
parsed now (``core.ome_first_image``), but tifffile's reading of the pages (0.3 s of Python for
3300 planes) in a worker thread still stalled the GUI thread 0.18-0.42 s against 0.11 s from
the helper (``benchmarks/header_read_stall.py --no-helper``)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ._layer_file import (
    file_key_of,
    header_read,
    in_background,
    read_header,
    unread_headers_deferred,
)

WAIT_S = 0.1  # a small file's header arrives within this: shown at once, no flicker
_LONG_DESCRIPTION = 1_000_000  # characters: an XML tifffile parses in one GIL-holding call
_MARK = "microdeblur-header:"  # the answer's line (a sitecustomize may print other lines)
_CHILD = ("import sys\n"
          "sys.path.insert(0, sys.argv[4])\n"  # this package, where this process has it
          "from napari_microdeblur._widgets._layer_file import read_header\n"
          f"print({_MARK!r} + repr(read_header((sys.argv[1], int(sys.argv[2]), "
          "int(sys.argv[3])))))")


def in_helper_process(key: tuple):
    """The header of ``key`` (``_layer_file.read_header``) read by a helper Python process
    where it is a TIFF with a long description (tens of MB of OME-XML); None (read it here)
    for any other file, or where that process cannot run (a frozen app) or fails."""
    import ast
    import os
    import subprocess
    import sys
    from pathlib import Path

    if getattr(sys, "frozen", False) or _description_length(key[0]) < _LONG_DESCRIPTION:
        return None
    package_root = str(Path(__file__).resolve().parents[2])
    # UTF-8 both ways, whatever the locale: a line the helper printed (a sitecustomize's, a
    # warning naming the file) outside the Windows code page failed it, and the header was
    # then read here, on the GUI's time
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, *map(str, key), package_root],
                              capture_output=True, text=True, encoding="utf-8", env=env,
                              timeout=120, check=True,
                              creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        answer = [line for line in done.stdout.splitlines() if line.startswith(_MARK)]
        header = ast.literal_eval(answer[-1][len(_MARK):]) if answer else None
    except (OSError, ValueError, SyntaxError, subprocess.SubprocessError):
        return None
    return header if isinstance(header, tuple) and len(header) == 4 else None


def _description_length(path: str) -> int:
    """Characters of the first ImageDescription of TIFF ``path`` (0: none, or no TIFF)."""
    if not path.lower().endswith((".tif", ".tiff")):
        return 0
    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            tag = tif.pages.first.tags.get(270)
            return len(tag.value) if tag is not None else 0
    except Exception:  # noqa: BLE001 - unreadable here: the reader says so where it reads
        return 0


class HeaderReads:
    """The file-header reads of one part of a dock (``run``); ``release()`` when it closes."""

    def __init__(self) -> None:
        self._generation = 0  # one per run: an answer for an older run is stale
        self._awaited: tuple | None = None  # (generation, keys, refresh) of the last run
        self._workers: list = []  # running (a worker without a reference may be collected)
        self.released = False

    @property
    def busy(self) -> bool:
        """Whether a header this part waits for is still being read."""
        return self._awaited is not None

    def run(self, update: Callable[[], None], layer=None,
            refresh: Callable[[], None] | None = None) -> None:
        """``update()`` with the file headers it reads, none read on this thread: see the
        module. ``layer``: the layer whose header it needs (waited for up to ``WAIT_S``);
        ``refresh``: what to call when a header it lacked arrives (``update`` by default)."""
        self._generation += 1
        generation = self._generation
        key = file_key_of(layer) if layer is not None else None
        started = []
        if (key is not None and in_background(key[0]) and not header_read(key)
                and not _within_a_run()):
            started.append(key)
            self._read(started, generation).wait(WAIT_S)
        with unread_headers_deferred() as missed:
            _RUNNING.depth += 1
            try:
                update()
            finally:
                _RUNNING.depth -= 1
        self._awaited = (generation, tuple(missed), refresh or update) if missed else None
        unread = [k for k in missed if k not in started]
        if unread:
            self._read(unread, generation)

    def release(self) -> None:
        """Drop any answer still to come (the dock closes)."""
        self.released = True
        self._awaited = None

    def _read(self, keys: list, generation: int) -> threading.Event:
        """Read the headers of ``keys`` in a worker; the event is set once they are read."""
        from napari.qt.threading import create_worker

        done = threading.Event()

        def read() -> None:
            try:
                for key in keys:
                    read_header(key, in_helper_process)
            finally:
                done.set()

        worker = create_worker(read, _start_thread=False, _ignore_errors=True)
        worker.finished.connect(lambda: self._arrived(worker, generation))
        self._workers.append(worker)
        worker.start()
        return done

    def _arrived(self, worker, generation: int) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        awaited = self._awaited
        if self.released or awaited is None or awaited[0] != generation:
            return  # stale (another run since), answered within WAIT_S, or closed
        _, keys, refresh = awaited
        if all(header_read(k) for k in keys):
            self._awaited = None
            try:
                refresh()
            except RuntimeError:  # its widgets were deleted with the dock
                self.release()


class _Depth(threading.local):
    depth = 0


_RUNNING = _Depth()  # runs under way on this thread (a layer change starts one in another)


def _within_a_run() -> bool:
    """Whether a ``run`` is under way on this thread: it waited for the header already, and a
    second wait would only add to the first."""
    return _RUNNING.depth > 0


class AxesPrefill:
    """Sets the Axes box ``axes_edit`` to the axes of the layer ``layer_of()`` gives
    (``_layers.guess_layer_axes``: its record, its file's, its napari axis labels or its
    shape's) on ``guess()``, then calls ``then()``; when its file's header arrives later
    (``HeaderReads``) or its axis labels are set later (by the user or a script), again,
    unless the user typed other axes meanwhile (kept: ``then()`` only). Only the layer of the
    last ``guess()`` is followed, until ``release()``."""

    def __init__(self, axes_edit, layer_of: Callable, then: Callable[[], None] | None = None):
        self.axes_edit, self._layer_of, self._then = axes_edit, layer_of, then
        self.reads = HeaderReads()
        self._guessed = ""
        self._followed = None  # weak reference to the layer whose axis labels are followed

    def guess(self, *_) -> None:
        layer = self._layer_of()
        self._follow(layer)
        self.reads.run(self._set, layer, refresh=self._arrived)

    def _set(self) -> None:
        from ._layers import guess_layer_axes

        layer = self._layer_of()
        self._guessed = guess_layer_axes(layer) if layer is not None else ""
        self.axes_edit.setText(self._guessed)
        if self._then is not None:
            self._then()

    def _arrived(self) -> None:
        if self.axes_edit.text() == self._guessed:
            self.guess()
        elif self._then is not None:
            self.reads.run(self._then)

    def _follow(self, layer) -> None:
        """Follow ``layer``'s axis labels (napari 0.5+), and no other layer's."""
        import weakref

        if layer is not None and self._followed_layer() is layer:
            return
        self._unfollow()
        emitter = getattr(getattr(layer, "events", None), "axis_labels", None)
        if emitter is not None and not self.reads.released:
            emitter.connect(self._labels_set)
            self._followed = weakref.ref(layer)

    def _followed_layer(self):
        return self._followed() if self._followed is not None else None

    def _unfollow(self) -> None:
        from ._workers import disconnect

        layer = self._followed_layer()
        if layer is not None:
            disconnect(layer.events.axis_labels, self._labels_set)
        self._followed = None

    def _labels_set(self, *_) -> None:
        layer = self._followed_layer()
        if self.reads.released or layer is None or self._layer_of() is not layer:
            return  # another layer chosen without a guess() yet: its own guess decides
        try:
            self._arrived()  # as a header arriving late: typed axes are kept
        except RuntimeError:  # its widgets were deleted with the dock
            self.release()

    def release(self) -> None:
        self.reads.release()
        self._unfollow()
