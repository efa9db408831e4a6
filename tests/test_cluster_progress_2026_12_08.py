"""Walkthrough 2026-12-08: a cluster batch said nothing until its last file was done, and its
notes did not name their file. Each file is now said as its task ends, in one machine's words."""

from __future__ import annotations

import io
import sys
import threading
import warnings

import numpy as np
import pytest
import tifffile

from napari_microdeblur import cli
from napari_microdeblur.core import files as core_files

distributed = pytest.importorskip("distributed")

from napari_microdeblur.core.cluster import deblur_files_on_cluster  # noqa: E402

OPTIONS = dict(method="richardson_lucy", psf="gaussian:1.4", iterations=2, device="cpu",
               tile=64)
CLI_OPTIONS = ["--method", "richardson_lucy", "--psf", "gaussian:1.4", "--iterations", "2",
               "--device", "cpu", "--tile", "64"]
#: how long the slow file waits for the fast file's line (the old code never printed it)
WAIT_S = 15


@pytest.fixture
def folder(tmp_path):
    """in/ with fast.tif, slow.tif and three.tif (3 planes: the axes note); out/ empty."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    rng = np.random.default_rng(0)
    for name in ("fast", "slow"):
        tifffile.imwrite(src / f"{name}.tif", (rng.random((32, 32)) * 200).astype(np.uint8))
    tifffile.imwrite(src / "three.tif", (rng.random((3, 32, 32)) * 200).astype(np.uint8),
                     photometric="minisblack")
    return src, out


def _slow_until(monkeypatch, ready: threading.Event) -> dict:
    """deblur_file (workers run in this process) holding slow.tif until ``ready`` is set or
    WAIT_S passed; whether it was set in time, under "in_time"."""
    seen: dict = {}
    real = core_files.deblur_file

    def deblur_file(source, output, **kwargs):
        if source.endswith("slow.tif"):
            seen["in_time"] = ready.wait(WAIT_S)
        return real(source, output, **kwargs)

    monkeypatch.setattr(core_files, "deblur_file", deblur_file)
    return seen


class _Watched(io.StringIO):
    """stdout that sets ``ready`` once a line naming ``word`` is written."""

    def __init__(self, word: str, ready: threading.Event):
        super().__init__()
        self.word, self.ready = word, ready

    def write(self, text: str) -> int:
        if self.word in text:
            self.ready.set()
        return super().write(text)


def test_records_arrive_as_each_file_ends(client, folder, monkeypatch):
    src, out = folder
    ready = threading.Event()
    seen = _slow_until(monkeypatch, ready)
    order = []

    def on_record(record):
        order.append(record["input"])
        if record["input"].endswith("fast.tif"):
            ready.set()

    pairs = [(src / "slow.tif", out / "slow.tif"), (src / "fast.tif", out / "fast.tif")]
    records = deblur_files_on_cluster(pairs, scheduler=client, on_record=on_record, **OPTIONS)
    assert seen["in_time"]  # the fast file's record came while the slow one was held
    assert order == [str(src / "fast.tif"), str(src / "slow.tif")]
    # the returned records keep the order of the pairs, and say how each file was run
    assert [r["input"] for r in records] == [str(src / "slow.tif"), str(src / "fast.tif")]
    assert records[0]["method"] and records[0]["axes"] == "YX" and records[0]["tile"]


def test_on_record_raising_stops_at_once_and_cancels_what_has_not_started(
        one_worker, folder, monkeypatch):
    """What on_record raises ends the run without waiting for the tasks still running, and
    the tasks not started never run (a review: the after-run sweep had waited 15 s behind
    them, and every output appeared)."""
    import time

    src, out = folder
    real = core_files.deblur_file

    def slow(source, output, **kwargs):
        time.sleep(2.5)
        return real(source, output, **kwargs)

    monkeypatch.setattr(core_files, "deblur_file", slow)
    names = ["a", "b", "c", "d"]
    for name in names:
        tifffile.imwrite(src / f"{name}.tif", np.full((32, 32), 9, np.uint8))

    def on_record(record):
        raise KeyboardInterrupt

    pairs = [(src / f"{n}.tif", out / f"{n}.tif") for n in names]
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        deblur_files_on_cluster(pairs, scheduler=one_worker, on_record=on_record, **OPTIONS)
    assert time.perf_counter() - t0 < 4.5  # the first file (2.5 s), not the running one's too
    time.sleep(3.0)  # what was sent and not started would be done by now
    assert not (out / "d.tif").exists()


def test_cli_says_each_file_as_it_ends_in_one_machines_words(client, folder, monkeypatch,
                                                             capsys):
    src, out = folder
    (src / "three.tif").unlink()
    ready = threading.Event()
    seen = _slow_until(monkeypatch, ready)
    stdout = _Watched("fast_deblurred.tif", ready)
    monkeypatch.setattr(sys, "stdout", stdout)
    code = cli.main(["deblur", str(src), "-o", str(out), *CLI_OPTIONS,
                     "--scheduler", client.scheduler.address])
    assert code == 0
    assert seen["in_time"], "the fast file's line waited for the slow file"
    lines = stdout.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == [str(out / "fast_deblurred.tif"),
                                                      str(out / "slow_deblurred.tif")]
    # the words of a batch on one machine: method, axes, shape, device, tile, overlap, time
    assert " on YX (32, 32) (cpu, tile (" in lines[0] and ", overlap (" in lines[0]
    assert lines[0].endswith(" s")


@pytest.fixture(scope="module")
def one_worker():
    """A cluster of one single-thread worker in this process: its tasks run one at a time
    (two worker threads of one process share the warnings module's state)."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local:
        yield local.scheduler_address


#: a note whose words do not name its file (as the EM default's estimated PSF says)
NOTE = "PSF estimated from the image: gaussian:1.74"


@pytest.mark.parametrize("quiet", [False, True])
def test_cli_notes_name_their_file_and_quiet_keeps_them(one_worker, folder, monkeypatch,
                                                         capsys, quiet):
    src, out = folder
    (src / "slow.tif").write_bytes(b"II*\x00 this is no TIFF")
    real = core_files.deblur_file

    def deblur_file(source, output, **kwargs):
        if source.endswith("fast.tif"):
            warnings.warn(NOTE, UserWarning, stacklevel=1)
        return real(source, output, **kwargs)

    monkeypatch.setattr(core_files, "deblur_file", deblur_file)
    code = cli.main(["deblur", str(src), "-o", str(out), *CLI_OPTIONS, *(["-q"] * quiet),
                     "--scheduler", one_worker])
    stdout, err = capsys.readouterr()
    assert code == 2
    assert f"microdeblur: warning: fast.tif: {NOTE}" in err.splitlines()
    # a note that names its file already is not given the name twice, as on one machine
    [axes_note] = [line for line in err.splitlines() if "assumed for shape (3," in line]
    assert axes_note.startswith(f"microdeblur: warning: {src / 'three.tif'}: axes ")
    errors = [line for line in err.splitlines() if line.startswith("microdeblur: error:")]
    assert len(errors) == 1 and "slow.tif" in errors[0]
    said = {line.split(":")[0] for line in stdout.splitlines()}
    assert said == (set() if quiet else {str(out / "fast_deblurred.tif"),
                                         str(out / "three_deblurred.tif")})


def test_cli_on_a_cluster_gives_the_modality_hint_once(client, folder, capsys):
    """One machine says once that --modality auto ran a grayscale image as fluorescence; the
    cluster path said nothing."""
    src, out = folder
    code = cli.main(["deblur", str(src), "-o", str(out), "--device", "cpu",
                     "--scheduler", client.scheduler.address])
    said = capsys.readouterr().out
    assert code == 0
    assert said.count("--modality auto: grayscale, so run as fluorescence") == 1, said
