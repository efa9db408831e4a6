"""From a walkthrough (2026-12-21): closing napari (not just the Fine-tune dock) during a run
lost the weights that had beaten the start, although the README says a run stopped by closing
the dock "(or napari)" keeps them. They were kept only by the dock's handler of the outcome;
napari's close also quit the worker, which dropped the job at its next record before it
returned one, and Python's exit then removed the run's folder. The run now keeps them itself
(``_widgets._finetune_close``), once, and Python's exit waits for it."""

from __future__ import annotations

import re
import threading
from types import SimpleNamespace

import pytest
from _finetune_docks import any_gain_counts
from test_widget_finetune import finetune_dock, tiny_session_model  # noqa: F401 - fixture
from test_widgets import TIMEOUT, _clean_session  # noqa: F401 - the autouse fixture

WEIGHTS = b"weights that beat the start"
LEAD = "napari-microdeblur: the Fine-tune dock was closed during its run"


@pytest.fixture(autouse=True)
def _no_keeper_left():
    """A test failing midway must not leave a keeper whose fake worker 'runs': the session's
    exit would wait ``EXIT_WAIT_S`` (60 s) for it."""
    yield
    import atexit

    from napari_microdeblur._widgets import _finetune_close

    _finetune_close._PENDING.clear()
    atexit.unregister(_finetune_close._settle_all)


@pytest.fixture
def kept_dir(tmp_path, monkeypatch):
    folder = tmp_path / "kept"
    monkeypatch.setenv("MICRODEBLUR_FINETUNED_DIR", str(folder))
    return folder


def _kept(folder) -> list:
    return sorted(folder.glob("*.safetensors")) if folder.exists() else []


@pytest.mark.usefixtures("tiny_session_model")
def test_closing_napari_mid_run_keeps_weights_that_beat_the_start(
        make_napari_viewer, qtbot, focus_stack, kept_dir, capfd):
    viewer = make_napari_viewer()
    w = finetune_dock(viewer, 1, viewer.add_image(focus_stack, name="stack"), steps=100_000)
    w.focus_spin.setValue(7)
    any_gain_counts(w)  # every step validated, any gain kept: step 1 beats the start
    w.start_button.click()
    worker = w.worker
    qtbot.waitUntil(lambda: w._last_step >= 2, timeout=TIMEOUT)
    viewer.close()  # napari's close: the dock's shutdown, then napari quits its workers
    assert w.closed and worker.abort_requested
    qtbot.waitUntil(lambda: not worker.is_running, timeout=TIMEOUT)
    kept = _kept(kept_dir)
    assert [re.sub(r"^\d{8}-\d{6}_", "", p.name) for p in kept] == [
        "tiny_gran_fine-tuned_on_stack.safetensors"]  # was: none
    err = capfd.readouterr().err
    assert err.count(LEAD) == 1, err
    assert (f"{LEAD}; the fine-tuned weights it had kept are in {kept[0]} (Load weights... in "
            "the Deblur dock opens them)") in err


# ----------------------------------------------- who keeps them: once, whatever the order


def RunKeeper(name):  # noqa: N802 - imported here: the GUI test above runs on older code
    from napari_microdeblur._widgets._finetune_close import RunKeeper

    return RunKeeper(name)


def _outcome(tmp_path, kept_start=False):
    best = tmp_path / "best.safetensors"
    best.write_bytes(WEIGHTS)
    return SimpleNamespace(model=object(), kept_start=kept_start, file=best, card=None)


def _job(outcome, steps=3, stop=None):
    for step in range(steps):
        if stop is not None and stop.is_set():
            break
        yield step
    return outcome


class Worker:  # what ``RunKeeper`` reads of a napari worker
    is_running = True


@pytest.mark.parametrize("order", ["claim, close", "close, end", "end, close"])
def test_the_weights_are_kept_once_by_whoever_comes_last(tmp_path, kept_dir, capfd, order):
    outcome = _outcome(tmp_path)
    keeper = RunKeeper("base fine-tuned on blurry")
    run = keeper.run(_job, outcome)
    if order.startswith("close"):
        next(run)
        keeper.close(Worker())
    assert list(run) in ([0, 1, 2], [1, 2])
    if order == "claim, close":
        assert keeper.claim()  # the open dock's handler keeps them itself
    if order != "close, end":
        keeper.close(Worker())
    kept = _kept(kept_dir)
    if order == "claim, close":
        assert kept == [] and keeper.line is None and not keeper.claim()
        return
    assert [p.read_bytes() for p in kept] == [WEIGHTS] and outcome.file == kept[0]
    assert capfd.readouterr().err.count(LEAD) == 1
    assert not keeper.claim()  # a handler that still runs keeps nothing more


def test_starting_weights_are_not_kept_after_a_close(tmp_path, kept_dir, capfd):
    keeper = RunKeeper("base fine-tuned on blurry")
    keeper.close(Worker())
    list(keeper.run(_job, _outcome(tmp_path, kept_start=True)))
    assert _kept(kept_dir) == [] and LEAD not in capfd.readouterr().err


def test_a_quit_after_the_close_runs_the_job_to_its_end(tmp_path, kept_dir):
    """napari's close quits the worker: the job was closed at its next record, unreturned."""
    stop = threading.Event()
    keeper = RunKeeper("base fine-tuned on blurry")
    run = keeper.run(_job, _outcome(tmp_path), 10**6, stop)
    next(run)
    keeper.close(Worker())
    stop.set()
    run.close()  # as the worker's quit does at the next record
    assert len(_kept(kept_dir)) == 1 and keeper.ended.is_set()


def test_a_quit_before_the_close_still_drops_the_job(tmp_path, kept_dir):
    keeper = RunKeeper("base fine-tuned on blurry")
    run = keeper.run(_job, _outcome(tmp_path), 10**6)
    next(run)
    run.close()  # the user cancelled it (napari's activity dock): nothing to keep
    keeper.close(Worker())
    assert _kept(kept_dir) == [] and keeper.ended.is_set()


def test_the_exit_waits_for_a_closed_run_and_ends_one_left_at_a_record(
        tmp_path, kept_dir, monkeypatch):
    """Python's exit (``atexit``) waits while the worker runs the job, then runs to its end a
    job that no thread runs any more (the worker quit while paused, between two steps)."""
    from napari_microdeblur._widgets import _finetune_close

    stop, worker = threading.Event(), Worker()
    keeper = RunKeeper("base fine-tuned on blurry")
    run = keeper.run(_job, _outcome(tmp_path), 10**6, stop)
    next(run)
    keeper.close(worker)
    stop.set()
    assert _finetune_close._PENDING == {keeper}
    threading.Timer(0.2, lambda: setattr(worker, "is_running", False)).start()
    _finetune_close._settle_all()  # waited for the worker, then ran the job out here
    assert len(_kept(kept_dir)) == 1 and keeper.ended.is_set()
    run.close()  # a later close of the wrapper keeps nothing more
    assert len(_kept(kept_dir)) == 1 and not _finetune_close._PENDING
