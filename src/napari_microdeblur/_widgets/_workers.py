"""Background work of the docks: napari workers owned by a dock (quit when the dock or the
viewer closes) and a helper that creates, connects and starts one."""

from __future__ import annotations

import inspect
import threading
import weakref
from functools import partial

from qtpy.QtCore import QEvent, QObject, QTimer

from ._worker_exit import outlive_exit


class HeldJob:
    """The body of one worker, held so that the worker lets go of it once stopped.

    napari 0.9.2 keeps every worker it created for the window's life (its task list holds
    ``worker.quit``), and a worker keeps its generator: a job quit part-way stayed paused at
    its ``yield`` with its arrays (a cancelled deblur's 40 MB stack, each time) until the
    viewer closed. Here the worker runs ``generator`` (or ``call``), which takes the job and
    its arguments out of this object as it starts; a quit seen at a record closes the job in
    its own thread (its ``finally`` clauses run where it ran), and ``release`` closes what a
    quit left paused once the worker has finished, from the GUI thread.
    """

    def __init__(self, func, args: tuple) -> None:
        self._func, self._args = func, args
        self._gen = None
        self._worker = None  # weak reference to the worker (``attach``)
        self._lock = threading.Lock()
        self.name = getattr(func, "__qualname__", type(func).__name__)

    def __repr__(self) -> str:  # napari's task list names the job by it
        return f"<job {self.name}>"

    def attach(self, worker) -> None:
        """The worker running this job: a quit asked of it stops the job at its next record."""
        self._worker = weakref.ref(worker)

    def _take(self):
        with self._lock:
            func, args, self._func, self._args = self._func, self._args, None, None
        return func, args

    def call(self):
        """The body of a worker for a plain function."""
        func, args = self._take()
        return None if func is None else func(*args)

    def generator(self):
        """The body of a worker for a generator function: its records, then its value."""
        func, args = self._take()
        if func is None:  # released before it started
            return None
        gen = func(*args)
        del func, args
        with self._lock:
            self._gen = gen
        value = None
        while True:
            try:
                record = gen.send(value)
            except StopIteration as stop:
                return stop.value
            worker = self._worker() if self._worker is not None else None
            if worker is not None and worker.abort_requested:
                gen.close()  # here, in the job's thread (np.errstate is per thread)
                worker.aborted.emit()  # as the worker says a quit it sees itself
                return None
            value = yield record

    def release(self) -> None:
        """Drop the job, closing it if a quit left it paused; from the GUI thread once the
        worker has finished (it no longer runs the job then)."""
        with self._lock:
            gen, self._gen, self._func, self._args = self._gen, None, None, None
        if gen is None:
            return
        try:
            gen.close()
        except Exception:  # noqa: BLE001 - a cleanup bound to the job's thread: the job
            pass  # is let go all the same (a generator that raised is closed)


def create_held_worker(func, *args):
    """An unstarted napari worker running ``func(*args)`` through a ``HeldJob``, released
    once the worker has finished (after the handlers of its ``finished``)."""
    from napari.qt.threading import create_worker

    job = HeldJob(func, args)
    body = job.generator if inspect.isgeneratorfunction(func) else job.call
    worker = create_worker(body, _start_thread=False, _ignore_errors=True)
    job.attach(worker)
    worker.finished.connect(partial(QTimer.singleShot, 0, job.release))
    return worker


def start_worker(owner, func, *args, yielded=None, returned=None, errored=None,
                 finished=None, start: bool = True):
    """A napari worker running ``func(*args)``, its signals connected to the given handlers,
    owned by ``owner`` (a ``WorkerOwnerMixin`` dock) and started unless ``start`` is False."""
    from ._feedback import warning_relay

    worker = create_held_worker(func, *args)
    worker.warned.connect(warning_relay([]))  # napari 0.9.2 relays no worker's warnings
    for signal, handler in (("yielded", yielded), ("returned", returned),
                            ("errored", errored), ("finished", finished)):
        if handler is not None:
            getattr(worker, signal).connect(handler)
    owner.own_worker(worker)
    if start:
        worker.start()
    return worker


def disconnect(signal, handler) -> None:
    """Disconnect ``handler`` if it is connected; a no-op when either side is gone."""
    try:
        signal.disconnect(handler)
    except (TypeError, ValueError, RuntimeError):
        pass


# every signal a napari worker may have (FunctionWorker and GeneratorWorker)
WORKER_SIGNALS = ("started", "yielded", "returned", "errored", "warned", "finished",
                  "aborted", "paused", "resumed")


def release_handlers(worker) -> None:
    """Disconnect every handler of a finished worker's signals: napari keeps each worker
    for the window's life (its task list holds ``worker.quit``), and the handlers (a dock's
    methods, closures over it) then kept every closed dock alive until the viewer closed."""
    for name in WORKER_SIGNALS:
        signal = getattr(worker, name, None)
        if signal is None:
            continue
        try:
            signal.disconnect()
        except (TypeError, RuntimeError):  # nothing connected, or its Qt side is gone
            pass


def _worker_finished(owner, worker) -> None:
    dock = owner()
    if dock is not None:
        dock.forget_worker(worker)
    # later, once the handlers this finish queued have run (a handler connected after this
    # one has not run yet)
    QTimer.singleShot(0, partial(release_handlers, worker))


class WorkerOwnerMixin:
    """Bookkeeping for docks that run napari workers: every worker is quit when the dock is
    closed or removed from the window, or when the viewer closes; handlers see ``closed``.

    Call ``init_workers()`` in ``__init__`` and ``own_worker(worker)`` for each worker started.
    """

    def init_workers(self) -> None:
        self._workers: list = []
        self.closed = False

    def own_worker(self, worker) -> None:
        self._watch_window()
        self._workers.append(worker)
        worker.finished.connect(partial(_worker_finished, weakref.ref(self), worker))

    def forget_worker(self, worker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)

    @property
    def busy(self) -> bool:
        return any(w.is_running for w in self._workers)

    def quit_workers(self) -> None:
        for worker in list(self._workers):
            try:
                worker.quit()
            except RuntimeError:  # its Qt side is already gone
                pass
        # a worker sees the quit only at its next yield: the interpreter's exit after the
        # viewer's close must not delete its signals under it (Qt aborted the process)
        outlive_exit(list(self._workers))

    def shutdown(self) -> None:
        """Quit workers, disconnect from the viewer; safe to call more than once."""
        if self.closed:
            return
        self.closed = True
        self.quit_workers()
        self.release_viewer()
        self._unwatch_window()

    def release_viewer(self) -> None:  # docks override
        pass

    # Qt hooks. napari docks a widget by re-parenting it into a QDockWidget of the main
    # window and removes it by re-parenting it to None; the main window's Close event comes
    # before its docks are deleted. No private napari attribute is needed for either.
    _was_docked = False
    _window_watcher = None

    def event(self, ev):  # noqa: D401 - Qt override
        if ev.type() == QEvent.ParentChange:
            if self.parent() is None:
                if self._was_docked:
                    self.shutdown()
            else:
                self._was_docked = True
                self._watch_window()
                QTimer.singleShot(0, self._watch_window)  # once the dock is in the window
        elif ev.type() == QEvent.Show:
            self._watch_window()
        return super().event(ev)

    def _watch_window(self) -> None:
        from qtpy.QtWidgets import QMainWindow

        if self.closed or self._window_watcher is not None:
            return
        try:
            window = self.window()
        except RuntimeError:  # deleted
            return
        if not isinstance(window, QMainWindow):
            return
        self._window_watcher = _CloseWatcher(self, window)
        window.installEventFilter(self._window_watcher)

    def _unwatch_window(self) -> None:
        """Take the watcher off the main window: it lives as long as the window, and a
        watcher left there kept every closed dock alive until the viewer closed."""
        watcher, self._window_watcher = self._window_watcher, None
        if watcher is None:
            return
        try:
            parent = watcher.parent()
            if parent is not None:
                parent.removeEventFilter(watcher)
            watcher.deleteLater()
        except RuntimeError:  # already deleted with the window
            pass

    def closeEvent(self, ev):  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(ev)



class RunDockMixin:
    """For docks that start a ``DeblurRun`` as ``self.run_handle`` (Deblur, Focus QC) with
    ``self.controls`` (``_panels.RunControls``): a closed dock's run adds no layer, and tile
    progress goes to ``self.progress_bar``. List it before ``WorkerOwnerMixin`` among the
    bases."""

    run_handle = None
    last_run = None

    def track_run(self, run) -> None:
        """Own a run, then start it; Cancel stops it, its end resets the controls. Owned
        first: a quick run's worker can finish before a dock started listening to it, and
        the dock then waited for it forever (seen as a flaky test on 2 busy cores)."""
        self.own_worker(run.worker)
        self.run_handle = self.last_run = run
        self.controls.set_running(True)
        run.start()

    def refuse_while_running(self) -> bool:
        """True (and the user told why) while the last run has not finished: its worker may
        not have started yet (``is_running`` is then False), or a cancelled run may still be
        finishing its tile. A second run would orphan the first, which Cancel could then no
        longer stop."""
        from ._feedback import notify_info

        run = self.run_handle
        if run is None or run.done:
            return False
        message = ("the cancelled run is still finishing its current tile; press Run again "
                   "once it has stopped" if run.cancelled else
                   "a run is in progress; cancel it first")
        notify_info(message)
        if not self.closed:  # under the line of what is running (it had replaced it)
            shown = self.status_label.text()
            if message not in shown:
                self.status_label.setText(f"{shown}\n{message}" if shown else message)
        return True

    def cancel_run(self) -> None:
        if self.run_handle is not None:
            self.run_handle.cancel()
            if not self.closed:
                self.status_label.setText("cancelling after the current tile...")

    def run_finished(self, run) -> bool:
        """Forget a finished run and reset the controls; says why when no layer was added.
        False when the dock is closed (nothing to show)."""
        from ._feedback import describe_error

        if run is self.run_handle:
            self.run_handle = None
        if self.closed:
            return False
        self.controls.set_done(run.layer is not None)
        if run.layer is None:
            self.status_label.setText(f"failed: {describe_error(run.error)}"
                                      if run.error is not None else "cancelled; no layer added")
        return True

    def quit_workers(self) -> None:  # also cancel the run so that it adds no layer
        if self.run_handle is not None:
            self.run_handle.cancelled = True
        super().quit_workers()

    def show_run_progress(self, record) -> None:
        if self.closed:
            return
        self.progress_bar.setRange(0, record.total)
        self.progress_bar.setValue(record.done)


class _CloseWatcher(QObject):
    """Event filter that shuts ``owner`` down when the watched window receives its Close
    event. It holds the owner weakly: a child of the main window, it must not keep a closed
    dock alive."""

    def __init__(self, owner, parent: QObject) -> None:
        super().__init__(parent)
        self._owner = weakref.ref(owner)

    def eventFilter(self, obj, ev):  # noqa: N802 - Qt override
        owner = self._owner() if ev.type() == QEvent.Close else None
        if owner is not None:
            try:
                owner.shutdown()
            except RuntimeError:  # the dock's Qt side is already gone
                pass
        return False


