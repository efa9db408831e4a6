"""A cluster run removes what killed runs left with a listing of its output folder per run, not
per file: each task listed the folder (twice), so a run into one folder was quadratic in its
size. Killed runs' and killed tasks' temporaries are still removed, on their own host only."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

from napari_microdeblur.core import files as core_files
from napari_microdeblur.core import partials

distributed = pytest.importorskip("distributed")

from napari_microdeblur.core.cluster import deblur_files_on_cluster  # noqa: E402

OPTIONS = dict(method="richardson_lucy", psf="gaussian:1.4", iterations=2, device="cpu",
               tile=64)


def _inputs(tmp_path, n):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        tifffile.imwrite(src / f"t{i}.tif", (rng.random((32, 32)) * 200).astype(np.uint8))
    return [(src / f"t{i}.tif", out / f"t{i}.tif") for i in range(n)], out


def _count_listings(monkeypatch, folder):
    """Every os.listdir / os.scandir of ``folder`` (Path.iterdir and glob use one of them)."""
    listings = []
    real = os.path.realpath(folder)
    for name in ("listdir", "scandir"):
        original = getattr(os, name)

        def counted(path=".", _original=original):
            if os.path.realpath(os.fspath(path)) == real:
                listings.append(path)
            return _original(path)

        monkeypatch.setattr(os, name, counted)
    return listings


@pytest.mark.parametrize("n", [3, 8])
def test_a_run_lists_its_output_folder_a_fixed_number_of_times_whatever_its_size(
        client, tmp_path, monkeypatch, n):
    """Each task listed the output folder before writing (2 listings a file: 6 and 16 here);
    a run now lists it once before sending the files and once after, however many there are."""
    pairs, out = _inputs(tmp_path, n)
    listings = _count_listings(monkeypatch, out)
    records = deblur_files_on_cluster(pairs, scheduler=client, **OPTIONS)
    assert [r.get("error") for r in records] == [None] * n
    assert len(listings) == 2
    assert sorted(p.name for p in out.iterdir()) == [f"t{i}.tif" for i in range(n)]


def test_what_a_killed_earlier_run_left_is_removed_on_its_own_host_only(client, tmp_path,
                                                                       pids):
    pairs, out = _inputs(tmp_path, 3)
    dead, live = pids
    host = partials.host_tag()
    made = {"stale": out / f".t0.tif.{host}.{dead}.partial",
            "stale_old_name": out / f".t1.tif.{dead}.partial",
            "stale_zarr_like": out / f".t2.tif.{host}.{dead}.partial" / "0" / "0",
            "live": out / f".t0.tif.{host}.{live}.partial",
            "other_host": out / f".t1.tif.{host}x.{dead}.partial",
            "not_an_output_of_the_run": out / f".t9.tif.{host}.{dead}.partial"}
    for path in made.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a tiff")
    records = deblur_files_on_cluster(pairs, scheduler=client, **OPTIONS)
    assert [r["shape"] for r in records] == [[32, 32]] * 3
    assert not made["stale"].exists() and not made["stale_old_name"].exists()
    assert not (out / f".t2.tif.{host}.{dead}.partial").exists()
    assert all(made[k].exists() for k in ("live", "other_host", "not_an_output_of_the_run"))


def test_what_a_task_killed_in_this_run_left_is_removed_once_the_run_is_done(
        client, tmp_path, monkeypatch, pids):
    """A killed attempt leaves its temporary (its process's name); its retry, elsewhere, writes
    the output under its own. No task looks for the first any more: the run's last sweep does."""
    pairs, out = _inputs(tmp_path, 3)
    dead, _ = pids
    killed = out / f".t1.tif.{partials.host_tag()}.{dead}.partial"
    real = core_files.deblur_file
    attempts = []

    def first_attempt_dies(source, output, **options):
        attempts.append(source)
        if output.endswith("t1.tif") and not killed.exists() and attempts.count(source) == 1:
            killed.write_bytes(b"half a tiff")  # as a worker killed mid-write leaves it
            raise RuntimeError("worker lost")  # not the file's fault: retried
        return real(source, output, **options)

    monkeypatch.setattr(core_files, "deblur_file", first_attempt_dies)
    records = deblur_files_on_cluster(pairs, scheduler=client, retries=2, **OPTIONS)
    assert [r["shape"] for r in records] == [[32, 32]] * 3
    assert attempts.count(str(pairs[1][0])) == 2
    assert not killed.exists()
    assert sorted(p.name for p in out.iterdir()) == ["t0.tif", "t1.tif", "t2.tif"]


def test_partials_of_lists_once_and_each_host_judges_only_its_own(tmp_path, monkeypatch,
                                                                  pids):
    dead, live = pids
    host = partials.host_tag()
    stale = tmp_path / f".a.tif.{host}.{dead}.partial"
    elsewhere = tmp_path / f".a.tif.node-9.{dead}.partial"
    running = tmp_path / f".b.tif.{host}.{live}.partial"
    for path in (stale, elsewhere, running, tmp_path / "a.tif", tmp_path / ".c.tif.1.partial"):
        path.write_bytes(b"x")
    listings = _count_listings(monkeypatch, tmp_path)
    found = partials.partials_of([tmp_path / "a.tif", tmp_path / "b.tif"])
    assert found == {stale: {"a.tif"}, elsewhere: {"a.tif"}, running: {"b.tif"}}
    assert len(listings) == 1
    assert partials.remove_if_stale(found) == [stale]
    assert len(listings) == 1
    assert not stale.exists() and elsewhere.exists() and running.exists()


def test_within_already_swept_a_write_does_not_list_its_folder(tmp_path, monkeypatch, pids):
    dead, _ = pids
    stale = tmp_path / f".a.tif.{partials.host_tag()}.{dead}.partial"
    stale.write_bytes(b"x")
    listings = _count_listings(monkeypatch, tmp_path)
    with partials.already_swept([tmp_path / "a.tif"]):
        assert partials.fresh_temporary_name(tmp_path / "a.tif") == \
            partials.temporary_name(tmp_path / "a.tif")
    assert listings == [] and stale.exists()
    partials.fresh_temporary_name(tmp_path / "a.tif")  # outside: looked for, as before
    assert len(listings) == 1 and not stale.exists()


def test_a_sweep_that_fails_says_so_and_the_run_still_returns_its_records(client, tmp_path,
                                                                           monkeypatch):
    pairs, out = _inputs(tmp_path, 2)

    def unreadable(outputs):
        raise RuntimeError("the share went away")

    monkeypatch.setattr(partials, "partials_of", unreadable)
    with pytest.warns(UserWarning, match="may remain .*the share went away"):
        records = deblur_files_on_cluster(pairs, scheduler=client, retries=0, **OPTIONS)
    assert [r["shape"] for r in records] == [[32, 32]] * 2
